#!/usr/bin/env bash
# Set up everything, register this repository with CM, run the default benchmark through `cmr`, print a table.
# Extra arguments go to cmr, e.g.:  ./scripts/demo.sh --scenario=Server
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
OUT="${OUT:-$ROOT/results}"
python -m dummy_harness.cm_repo
cmr "reproduce mlperf inference dummy" --quiet --output_dir="$OUT" "$@" </dev/null
echo
python -m dummy_harness.report "$OUT"
