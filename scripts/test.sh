#!/usr/bin/env bash
# Set up everything and run the test suite (unit tests, then cmr / cmind.access / CLI end to end).
# With no arguments: every test but the `alone` ones spread over the cores (pytest-xdist, one test file per
# worker so module fixtures are made once; TEST_WORKERS=N to choose), then the `alone` ones (judged against a
# latency bound) by themselves. Extra arguments go to one plain pytest run instead, e.g.:
#   ./scripts/test.sh -m "not cm"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
if [ $# -gt 0 ]; then
  exec python -m pytest -q "$@"
fi
status=0
python -m pytest -q -n "${TEST_WORKERS:-auto}" --dist loadfile -m "not alone" || status=$?
python -m pytest -q -m alone || status=$?
exit "$status"
