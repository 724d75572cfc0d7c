"""cm_overhead: wall time of `cmr ...` minus the same run through the console script (medians)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

from . import common as c

BIN = os.path.dirname(sys.executable)


def _wall(args: List[str], env: Dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def cm_overhead(repeats: int) -> Dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CM_REPOS": os.path.join(tmp, "CM")}
        subprocess.run([sys.executable, "-m", "dummy_harness.cm_repo"], env=env, check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
        common = ["--count=64", "--rerun", f"--output_dir={tmp}/out", f"--dataset_dir={c.DATASET_DIR}"]
        cm_args = [os.path.join(BIN, "cmr"), "reproduce mlperf inference dummy _resnet50,_singlestream", "--quiet",
                   *common]
        cli_args = [os.path.join(BIN, "dummy-harness"), "--scenario=SingleStream", "--max_batchsize=1", *common]
        _wall(cli_args, env, tmp)            # the dataset and CM's index exist before timing
        _wall(cm_args, env, tmp)
        cm_times, cli_times = [], []
        for _ in range(repeats):
            cm_times.append(_wall(cm_args, env, tmp))
            cli_times.append(_wall(cli_args, env, tmp))
    return {"cmr_s": round(c.median(cm_times), 3), "console_script_s": round(c.median(cli_times), 3),
            "overhead_s": round(c.median(cm_times) - c.median(cli_times), 3), "target_s": 1.0}
