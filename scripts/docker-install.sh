#!/usr/bin/env bash
# Runs in the image build of `cm docker script` (the device variation's docker: docker_run_final_cmds), from the
# project copy the export put in the image:  bash <copy>/scripts/docker-install.sh cpu|cuda
# torch for the device first, so that the project's own `torch>=2.1` is already met, then this project, editable,
# and its wrapper CM repo (so that `cm run script --tags=loadgen-dummy` finds this copy).
#   cpu:  the CPU build, as the export chose (docker-torch-cpu.txt: a carried wheel, or torch==...+cpu from the
#         CPU index): about 0.75 GB installed instead of the CUDA build's 4.9 GB.
#   cuda: PyPI's default Linux wheel, which carries CUDA.
set -euo pipefail
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PROJECT"
PIP=(python3 -m pip install --no-cache-dir)
case "${1:-}" in
  cpu) "${PIP[@]}" -r docker-torch-cpu.txt ;;
  cuda) "${PIP[@]}" torch==2.13.0 ;;
  *) echo "usage: $0 cpu|cuda" >&2; exit 2 ;;
esac
"${PIP[@]}" -e .
python3 -m dummy_harness.cm_repo --tool=cm
