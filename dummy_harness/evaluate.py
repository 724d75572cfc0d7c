"""Score a run folder's mlperf_log_accuracy.json and write accuracy.txt (used by every accuracy run, and
runnable by hand to re-check a folder):

    python -m dummy_harness.evaluate <run folder>      # exit 0 PASS, 1 FAIL, 2 cannot evaluate
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import catalogue, models
from .accuracy import AccuracyReport, read_accuracy_log, write_accuracy_txt
from .models.base import Arrays, Benchmark
from .results import Results


def evaluate_run(bench: Benchmark, run_dir: str, arrays: Arrays, expected_samples: int) -> AccuracyReport:
    entries = read_accuracy_log(os.path.join(run_dir, "mlperf_log_accuracy.json"))
    responses = {idx: bench.decode(data) for idx, data in entries.items()}
    report = bench.evaluate(responses, arrays)
    report.missing = len(set(range(expected_samples)) - set(responses))
    write_accuracy_txt(run_dir, report)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        with open(os.path.join(args.run_dir, "results.json")) as f:
            results = Results.from_json(json.load(f))
        spec = catalogue.get(results.benchmark)
        bench = models.load(spec, results.model_size)
        dataset = results.dataset["path"]
        arrays = {name: np.load(os.path.join(dataset, f"{name}.npy"), mmap_mode="r")
                  for name in json.load(open(os.path.join(dataset, "dataset.json")))["arrays"]}
        expected = results.sut.qsl_total if results.sut else 0
        detail = os.path.join(args.run_dir, "mlperf_log_detail.txt")
        if expected and os.path.isfile(detail):     # what LoadGen's accuracy run covered (gpt-oss-120b: 4395)
            from .loadgen.detail_log import parse_detail_log
            expected = min(expected, int(parse_detail_log(detail).get("effective_accuracy_sample_count") or expected))
        report = evaluate_run(bench, args.run_dir, arrays, expected)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        print(f"error: cannot evaluate {args.run_dir}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(report.to_text())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
