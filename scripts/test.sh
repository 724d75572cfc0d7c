#!/usr/bin/env bash
# Set up everything and run the test suite (unit tests, then cmr / cmind.access / CLI end to end).
# Extra arguments go to pytest, e.g.:  ./scripts/test.sh -m "not cm"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup-env.sh"
cd "$ROOT"
python -m pytest -q "$@"
# Then, on the default run only: `cm docker script` on a real Docker engine (tests/integration/test_docker_engine.py,
# about 4 minutes more: engine, base image, image build, two runs). It skips, saying why in one line, where the
# machine cannot (not root, no apt-get, dockerd does not start). DOCKER_ENGINE_TEST=no leaves it out.
if [ $# -eq 0 ] && [ "${DOCKER_ENGINE_TEST:-yes}" != no ]; then
  python -m pytest -q -rs -m docker_engine tests/integration/test_docker_engine.py
fi
