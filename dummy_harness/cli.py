"""`dummy-harness`: the harness without CM, with the CM script's flags.

    dummy-harness --model=resnet50 --scenario=Offline --mode=accuracy --output_dir=results

Exit codes: 0 run completed, no LoadGen error (see results.json for VALID/INVALID and PASS/FAIL);
1 LoadGen logged errors; 2 bad input; 3 this machine cannot run it (device, disk, dataset);
4 the model failed mid-run; 5 watchdog; 6 the official checker rejected the submission; 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import catalogue
from .config import MODES, OPTION_NAMES, PRECISIONS, RUN_STYLES, SCENARIOS, ConfigError, parse_options

HELP = {
    "model": f"benchmark: {', '.join(catalogue.CATALOGUE)} (default {catalogue.DEFAULT_MODEL})",
    "scenario": f"LoadGen scenario: {', '.join(SCENARIOS)} (default Offline)",
    "mode": f"{', '.join(MODES)} (default performance; all = accuracy then performance, two processes)",
    "device": "cpu or gpu (cuda) (default cpu)",
    "precision": f"{', '.join(PRECISIONS)} (default float32)",
    "backend": "pytorch (default)",
    "max_batchsize": "largest batch the SUT forms (default: the benchmark's; 1 in SingleStream)",
    "count": "performance: queries of a test-style run (Offline: samples); accuracy: samples evaluated",
    "performance_sample_count": "samples LoadGen keeps loaded (default: min(official, dataset size))",
    "target_qps": "Offline/Server target QPS",
    "offline_target_qps": "Offline target QPS (beats --target_qps)",
    "server_target_qps": "Server target QPS (beats --target_qps)",
    "target_latency": "SingleStream/MultiStream expected latency, ms",
    "singlestream_target_latency": "SingleStream expected latency, ms (beats --target_latency)",
    "multistream_target_latency": "MultiStream expected latency, ms (beats --target_latency)",
    "user_conf": "a LoadGen user.conf used instead of the generated one",
    "mlperf_conf": "a mlperf.conf used instead of the official one embedded in LoadGen",
    "output_dir": "base folder of the results tree (default ./<run_style>_results)",
    "run_style": f"{', '.join(RUN_STYLES)}: short test profile, official/5, official durations (default test)",
    "model_size": "stand-in size, e.g. small (default) or full (the real dimensions)",
    "dataset_size": "synthetic samples in the dataset (default: the benchmark's)",
    "dataset_dir": "dataset cache folder (default ~/.cache/mlperf-dummy-harness/datasets)",
    "hw_name": "hardware name used in the SUT name (default: host name)",
    "threads": ("torch threads on the compute thread (default: all cores; Server all but one; Offline one "
                "worker per core)"),
    "seed": "dataset seed (default 0)",
    "rerun": "run again even if a VALID result of the same configuration is stored",
    "skip_preprocess": "never generate the dataset: fail if it is not cached",
    "implementation_repo": "a repository holding dummy_harness_backend.py: its Backend replaces the built-in one",
    "watchdog_s": "end the run when no response comes for this long (default: from the latency settings)",
    "submission_dir": ("make an MLPerf submission there: accuracy, performance and compliance runs, the "
                       "open-division tree, the official checker (needs --submitter)"),
    "submitter": "organisation name of the submission (its folder name)",
    "submission_round": "MLPerf round: its LoadGen seeds and checker version (default v5.0 with --submission_dir)",
    "division": "submission division: open (closed is refused: the stand-ins are not the reference models)",
    "inference_src": ("a checkout of mlcommons/inference: compliance audit.config files, verification scripts "
                      "and the submission checker"),
    "system_json": "a JSON file whose fields override the system description read off this machine",
    "compliance_test": "run one compliance test (TEST01, TEST04, TEST06) with its official audit.config",
}
FLAGS = ("rerun", "skip_preprocess")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dummy-harness", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in OPTION_NAMES:
        if name in FLAGS:
            parser.add_argument(f"--{name}", action="store_true", default=None, help=HELP[name])
        else:
            parser.add_argument(f"--{name}", default=None, metavar="V", help=HELP[name])
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .run import EXIT_BAD_INPUT, RunError, run, summary

    args = make_parser().parse_args(argv)
    try:
        cfg = parse_options({k: v for k, v in vars(args).items() if v is not None})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if cfg.submission_dir:
        from .submission.make import SubmissionError, make
        try:
            return make(cfg)
        except SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.code
        except Exception as exc:   # noqa: BLE001 - a bug: one line for the user, the traceback kept for us
            return internal_error(cfg, exc)
    if cfg.mode == "all":
        return run_each_mode(cfg)
    try:
        results = run(cfg)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:   # noqa: BLE001 - a bug: one line for the user, the traceback kept for us
        return internal_error(cfg, exc)
    print()
    print(summary(results))
    if not results.ok:
        print(f"error: {results.failure or 'run failed'}", file=sys.stderr)
    return results.exit_code or 0


def internal_error(cfg, exc: BaseException) -> int:
    import os
    import tempfile
    import traceback

    folder = cfg.run_dir if os.path.isdir(cfg.run_dir) else tempfile.gettempdir()
    path = os.path.join(folder, "harness-traceback.txt")
    try:
        with open(path, "w") as f:
            f.write(traceback.format_exc())
    except OSError:
        path = "(could not be written)"
    print(f"error: internal error {type(exc).__name__}: {exc} (traceback in {path})", file=sys.stderr)
    return 4


def run_each_mode(cfg) -> int:
    """--mode=all: accuracy, then performance, each in its own process (one LoadGen test per process)."""
    import subprocess

    from .report import format_table
    from .results import read_results

    code = 0
    for sub in cfg.modes():
        rc = subprocess.call([sys.executable, "-m", "dummy_harness"] + sub.to_argv())
        code = code or rc
        if rc != 0:
            break
    print()
    for sub in cfg.modes():
        results = read_results(sub.run_dir)
        if results:
            print(format_table(results))
    return code


if __name__ == "__main__":
    sys.exit(main())
