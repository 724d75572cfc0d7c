#!/usr/bin/env bash
# docs/cm-gui.png: this script's page in the CM GUI (the page README's GUI command opens), served by
# `streamlit run scripts/cm_gui_app.py` on a local port and shot by headless Chromium.
#   ./scripts/cm-gui-screenshot.sh [OUT.png]        (default docs/cm-gui.png)
# Needs: python with this project, cmind, cmx4mlops and streamlit (scripts/setup-env.sh), chromium (Debian:
# apt-get install chromium; CHROMIUM=path for another), and the intact CM GUI: CM_GUI_PATH, else
# ../shared/third_party/cm4mlops-gui beside this checkout (or beside the main checkout of a git worktree).
# The page is read from a fresh, temporary CM_REPOS where this checkout is registered; nothing else is touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/docs/cm-gui.png}")"
PYTHON="${PYTHON:-python}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
TAGS="reproduce mlperf inference dummy loadgen-dummy"     # README's: cmr "cm gui" --script="..."

if [ -z "${CM_GUI_PATH:-}" ]; then
  CM_GUI_PATH="$ROOT/../shared/third_party/cm4mlops-gui"
  common="$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  if [ ! -f "$CM_GUI_PATH/script/gui/app.py" ] && [ -n "$common" ]; then
    CM_GUI_PATH="$(dirname "$(dirname "$common")")/shared/third_party/cm4mlops-gui"
  fi
fi
[ -f "$CM_GUI_PATH/script/gui/app.py" ] || { echo "no CM GUI at $CM_GUI_PATH/script/gui: set CM_GUI_PATH" >&2; exit 1; }
[ -n "$CHROMIUM" ] || { echo "no chromium on PATH: apt-get install chromium, or set CHROMIUM" >&2; exit 1; }

WORK="$(mktemp -d)"
STREAMLIT_PID=""
cleanup() { [ -z "$STREAMLIT_PID" ] || kill "$STREAMLIT_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export CM_REPOS="$WORK/CM" CM_GUI_PATH CM_GUI_SCRIPT_TAGS="$TAGS" CM_GUI_NO_RUN=yes
(cd "$ROOT" && "$PYTHON" -m dummy_harness.cm_repo --tool=cm >/dev/null)

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$WORK" && exec "$PYTHON" -m streamlit run "$ROOT/scripts/cm_gui_app.py" --server.headless=true \
  --server.address=127.0.0.1 --server.port="$PORT" --browser.gatherUsageStats=false >"$WORK/streamlit.log" 2>&1) &
STREAMLIT_PID=$!
for _ in $(seq 60); do
  "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/_stcore/health', timeout=1)" \
    2>/dev/null && break
  sleep 0.5
done

# Chromium waits up to 30 s of page time for the page to settle. The first visit of the server runs the app
# (imports cmind and searches CM) while the page waits: a first, thrown-away shot lets the second see it done.
mkdir -p "$(dirname "$OUT")"
shot() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,4600 \
    --virtual-time-budget=30000 --screenshot="$1" "http://127.0.0.1:$PORT/" >"$WORK/chromium.log" 2>&1
}
shot "$WORK/warm-up.png"
shot "$OUT"
grep -q "Searching CM scripts" "$WORK/streamlit.log" || { cat "$WORK/streamlit.log" >&2; exit 1; }
echo "wrote $OUT"
