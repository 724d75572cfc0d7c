"""Measured accuracy of every benchmark at every precision, at the default sizes: one accuracy-mode run
(Offline, LoadGen, the official-form accuracy check) per benchmark x precision, each in its own process (one
LoadGen test per process), then one Markdown table.

    python -m dummy_harness.precision_table                      # all 8 variations x fp32, fp16, uint8
    python -m dummy_harness.precision_table --models=resnet50,bert-99 --precisions=uint8 --output_dir=D
    python -m dummy_harness.precision_table --write docs/precision.md    # and replace the table there

--write replaces what lies between the BEGIN and END marker lines in the file (MARKER_BEGIN, MARKER_END) with
the table and a line saying where and when it was measured; the rest of the file is kept.
Exit code 0 when every run completed (whatever its verdict), 1 when a run did not complete (nothing written).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from . import catalogue

PRECISIONS = ("float32", "float16", "uint8")
LABEL = {"float32": "fp32", "float16": "fp16", "uint8": "uint8"}
MARKER_BEGIN = "<!-- BEGIN precision table: python -m dummy_harness.precision_table --write {file} -->"
MARKER_END = "<!-- END precision table -->"


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


def steal_s() -> float:
    """CPU time the hypervisor has taken from this machine since boot (/proc/stat), 0 where unknown."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def conditions(rows: Dict[str, Dict[str, Dict]], seconds: float, stolen: float) -> str:
    """Where and when the table was measured."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    runs = [r for by in rows.values() for r in by.values()]
    return (f"Measured {datetime.date.today().isoformat()} with `python -m dummy_harness.precision_table`: "
            f"{len(runs)} accuracy runs (Offline, default sizes, the whole default dataset) in {seconds:.0f} s "
            f"(dataset generation and fitting included where not cached), on {cpu}, {os.cpu_count()} cores, torch "
            f"{torch.__version__}; host CPU steal during them {stolen:.1f} s.")


def write_block(path: str, lines: List[str]) -> None:
    """Replace the text between the marker lines of `path` with `lines` (a new file, renamed into place)."""
    with open(path) as f:
        text = f.read()
    begin = re.escape(MARKER_BEGIN.split("{file}")[0])
    found = re.search(rf"^{begin}[^\n]*\n(.*?)^{re.escape(MARKER_END)}$", text, re.M | re.S)
    if not found:
        raise SystemExit(f"error: {path} has no '{MARKER_BEGIN.format(file=path)}' ... '{MARKER_END}' lines")
    staging = f"{path}.tmp"
    with open(staging, "w") as f:
        f.write(text[:found.start(1)] + "\n".join(lines) + "\n" + text[found.end(1):])
    os.replace(staging, path)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(catalogue.CATALOGUE))
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--output_dir", default="")
    parser.add_argument("--dataset_dir", default="")
    parser.add_argument("--write", default="", metavar="FILE",
                        help="replace the table between the marker lines of FILE (e.g. docs/precision.md)")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    precisions = [p for p in args.precisions.split(",") if p]
    unknown = [m for m in models if m not in catalogue.CATALOGUE] + [p for p in precisions if p not in PRECISIONS]
    if unknown:
        print(f"error: unknown {', '.join(unknown)}; models: {', '.join(catalogue.CATALOGUE)}; "
              f"precisions: {', '.join(PRECISIONS)}", file=sys.stderr)
        return 2
    if args.write and (models != list(catalogue.CATALOGUE) or precisions != list(PRECISIONS)):
        print("error: --write writes the whole table: leave out --models and --precisions", file=sys.stderr)
        return 2
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="precision-table-")
    start, stolen = time.perf_counter(), steal_s()
    rows: Dict[str, Dict[str, Dict]] = {}
    for model in models:
        for precision in precisions:
            r = run_one(model, precision, output_dir, args.dataset_dir)
            rows.setdefault(model, {})[precision] = r
            print(f"{model} {LABEL[precision]}: {cell(r)} ({r['seconds']} s)", file=sys.stderr, flush=True)
    seconds, stolen = time.perf_counter() - start, steal_s() - stolen
    print("\n".join(table(rows, precisions)))
    print(f"\n{len(models) * len(precisions)} accuracy runs in {seconds:.0f} s; results under {output_dir}")
    complete = all("accuracy" in r for by in rows.values() for r in by.values())
    if args.write and complete:
        write_block(args.write, table(rows, precisions) + ["", conditions(rows, seconds, stolen)])
        print(f"table written into {args.write}")
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
