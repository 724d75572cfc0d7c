"""Measured accuracy of every benchmark at every precision, at the default sizes: one accuracy-mode run
(Offline, LoadGen, the official-form accuracy check) per benchmark x precision, each in its own process (one
LoadGen test per process), then one Markdown table.

    python -m dummy_harness.precision_table                      # all 8 variations x fp32, fp16, uint8
    python -m dummy_harness.precision_table --models=resnet50,bert-99 --precisions=uint8 --output_dir=D

Exit code 0 when every run completed (whatever its verdict), 1 when a run did not complete.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from . import catalogue

PRECISIONS = ("float32", "float16", "uint8")
LABEL = {"float32": "fp32", "float16": "fp16", "uint8": "uint8"}


def run_one(model: str, precision: str, output_dir: str, dataset_dir: str = "") -> Dict:
    """One accuracy run through the CLI; its results.json (or a failure record)."""
    args = [sys.executable, "-m", "dummy_harness", f"--model={model}", f"--precision={precision}",
            "--mode=accuracy", "--scenario=Offline", "--rerun", f"--output_dir={output_dir}"]
    if dataset_dir:
        args.append(f"--dataset_dir={dataset_dir}")
    start = time.perf_counter()
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    run_dir = next((line.split("run folder:", 1)[1].strip() for line in p.stdout.splitlines()
                    if line.startswith("run folder:")), "")
    results: Dict = {}
    if run_dir and os.path.isfile(os.path.join(run_dir, "results.json")):
        with open(os.path.join(run_dir, "results.json")) as f:
            results = json.load(f)
    results.update(seconds=round(seconds, 1), returncode=p.returncode)
    if "accuracy" not in results:
        results["error"] = (p.stderr.strip().splitlines() or ["no results.json"])[-1]
    return results


def cell(results: Dict) -> str:
    if "accuracy" not in results:
        return f"error: {results.get('error', '?')}"
    acc = results["accuracy"]
    text = f"{acc['value']:.1f}"
    failed = [c["name"] for c in acc.get("checks", []) if not c["passed"]]
    verdict = "PASS" if acc["passed"] else "FAIL"
    if failed:
        verdict += f" ({', '.join(failed)})"
    ran = results.get("backend", {}).get("precision_ran", "")
    note = "" if ran in ("float32", "float16") or ran.startswith("int8") else f" [{ran}]"
    return f"{text} {verdict}{note}"


def table(rows: Dict[str, Dict[str, Dict]], precisions) -> List[str]:
    head = "| benchmark | metric (target) | " + " | ".join(LABEL[p] for p in precisions) + " |"
    lines = [head, "|" + " --- |" * (2 + len(precisions))]
    for model, by_precision in rows.items():
        any_result = next((r for r in by_precision.values() if "accuracy" in r), {})
        acc = any_result.get("accuracy", {})
        metric = f"{acc.get('metric', '?')} ({acc.get('target_fraction', 0) * 100:g}% of fp32)"
        lines.append(f"| {model} | {metric} | " + " | ".join(cell(by_precision[p]) for p in precisions) + " |")
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(catalogue.CATALOGUE))
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--output_dir", default="")
    parser.add_argument("--dataset_dir", default="")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    precisions = [p for p in args.precisions.split(",") if p]
    unknown = [m for m in models if m not in catalogue.CATALOGUE] + [p for p in precisions if p not in PRECISIONS]
    if unknown:
        print(f"error: unknown {', '.join(unknown)}; models: {', '.join(catalogue.CATALOGUE)}; "
              f"precisions: {', '.join(PRECISIONS)}", file=sys.stderr)
        return 2
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="precision-table-")
    start = time.perf_counter()
    rows: Dict[str, Dict[str, Dict]] = {}
    for model in models:
        for precision in precisions:
            r = run_one(model, precision, output_dir, args.dataset_dir)
            rows.setdefault(model, {})[precision] = r
            print(f"{model} {LABEL[precision]}: {cell(r)} ({r['seconds']} s)", file=sys.stderr, flush=True)
    print("\n".join(table(rows, precisions)))
    print(f"\n{len(models) * len(precisions)} accuracy runs in {time.perf_counter() - start:.0f} s; "
          f"results under {output_dir}")
    return 0 if all("accuracy" in r for by in rows.values() for r in by.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
