#!/bin/bash
# By default the CM runner chain (posthook dep benchmark-mlperf) runs CM_RUN_CMD. With
# --env.CM_CALL_MLPERF_RUNNER=no this script runs it itself. CM_RUN_CMD is built by customize.py from
# validated, quoted parts only.
if [[ "${CM_CALL_MLPERF_RUNNER}" == "no" && "${CM_MLPERF_SKIP_RUN}" != "yes" ]]; then
  cd "${CM_RUN_DIR}" || exit 1
  echo "${CM_RUN_CMD}"
  eval "${CM_RUN_CMD}"
  exit $?
fi
