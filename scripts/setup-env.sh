#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: a virtual environment with torch first, then the project, cmind, mlcflow (the
# `mlc` extra: MLCFlow, pinned), ONNX Runtime and the ONNX exporter (the `onnx` extra: the onnxruntime backend),
# streamlit (the `gui` extra: the CM GUI page and its tests), Ray (the `ray` extra: --executor=ray and its tests)
# and the CM script automation (cmx4mlops). Idempotent; a second call installs nothing new.
#   VENV=path        where the environment lives (default: <repo>/.venv)
#   PYTHON=python3   the interpreter that creates it
#   TORCH_SPEC=...   torch requirement (default torch==2.13.0, the CPU wheel these machines keep on disk;
#                    an open range would pull a multi-GB CUDA build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
# Not --no-compile: where PYTHONDONTWRITEBYTECODE=1 (as on these machines) every process would then compile
# what it imports from source (import torch: 3.9 s instead of about 1 s; the suite was 40% done after 11 min).
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" "${TORCH_SPEC:-torch==2.13.0}"
"${PIP[@]}" -e "$ROOT[cm,mlc,test,onnx,gui,ray]"
# cmx4mlops holds CM's `script` automation and the runner scripts; its declared dependencies are not needed.
"${PIP[@]}" --no-deps cmx4mlops
export PATH="$VENV/bin:$PATH"
