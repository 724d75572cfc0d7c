#!/usr/bin/env bash
# Set up everything and run the test suite (unit tests, then cmr / cmind.access / CLI end to end).
# Extra arguments go to pytest, e.g.:  ./scripts/test.sh -m "not cm"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
python -m pytest -q "$@"
