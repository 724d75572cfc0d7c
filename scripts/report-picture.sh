#!/usr/bin/env bash
# docs/report.png, the README's picture of the report: three real short runs (llama2-70b-99 Server, resnet50
# Offline and SingleStream) with --report=yes, their report, and headless Chromium's view of the page.
#   ./scripts/report-picture.sh        # with the project's environment active (scripts/setup-env.sh)
#   PYTHON=python3                     the interpreter that has the project (default: python)
#   CHROMIUM=chromium                  the browser that takes the picture (Debian: apt-get install chromium)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
BROWSER="${CHROMIUM:-chromium}"
if ! command -v "$BROWSER" >/dev/null; then
  echo "error: no $BROWSER here to take the picture (apt-get install chromium, or set CHROMIUM=...)" >&2
  exit 3
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for run in "--model=llama2-70b-99 --scenario=Server" "--model=resnet50 --scenario=Offline" \
           "--model=resnet50 --scenario=SingleStream"; do
  # shellcheck disable=SC2086 # each run is a list of flags
  if ! "$PY" -m dummy_harness $run --output_dir="$WORK/results" --report=yes > "$WORK/run.log" 2>&1; then
    tail -n 20 "$WORK/run.log" >&2
    exit 1
  fi
done
"$PY" -m dummy_harness.report "$WORK/results" --html "$WORK/report.html" > /dev/null
mkdir -p "$ROOT/docs"
"$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1560 \
  --screenshot="$ROOT/docs/report.png" "file://$WORK/report.html" > /dev/null 2>&1
echo "picture: $ROOT/docs/report.png"
