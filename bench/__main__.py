"""python -m bench [--quick] [--only NAME ...]: the harness's own benchmarks, on the CPU.

Prints a table per figure and, as its last line, one JSON object keyed by figure name. A full run (not
--quick) also rewrites bench/RESULTS.md with the table and the machine it ran on. --quick uses tiny sizes and
one repetition: it only checks that the suite starts.
"""
import argparse
import datetime
import json
import os
import time

from . import common, efficiency, floor, serving
from .cm_overhead import cm_overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="figure names to run (default: all)")
    args = parser.parse_args()
    q = args.quick
    reps = 1 if q else 3
    figures = {
        "harness_efficiency": lambda: efficiency.harness_efficiency(
            seconds=0.1 if q else 0.6, repeats=reps, batches=(1, 8) if q else (1, 8, 32)),
        "latency_overhead": lambda: efficiency.latency_overhead(queries=40 if q else 300, repeats=reps),
        "noop_floor": lambda: floor.noop_floor(repeats=reps, offline_samples=5000 if q else 200_000,
                                               server_queries_s=0.5 if q else 2.0, ss_queries=200 if q else 2000,
                                               search_steps=2 if q else 5),
        "progress_cost": lambda: floor.progress_cost(repeats=reps, offline_samples=5000 if q else 200_000,
                                                     server_queries_s=0.5 if q else 2.0, ss_queries=200 if q else 2000,
                                                     search_steps=2 if q else 5,
                                                     hot_path_samples=5000 if q else 200_000),
        "server_batching": lambda: serving.server_batching(repeats=reps),
        "reference_style": lambda: floor.reference_style(seconds=0.2 if q else 2.0, repeats=reps),
        "cm_overhead": lambda: cm_overhead(repeats=1 if q else 3),
        "llm_serving": lambda: serving.llm_serving(repeats=reps),
    }
    if q:   # a smoke run skips the slow QPS searches
        figures.pop("server_batching")
        figures.pop("llm_serving")
    results = {}
    started = time.perf_counter()
    seconds = {}
    for name, run in figures.items():
        if args.only is not None and name not in args.only:
            continue
        t = time.perf_counter()
        results[name] = run()
        seconds[name] = round(time.perf_counter() - t, 1)
        print(name, f"({seconds[name]} s)", json.dumps(results[name], indent=1), flush=True)
    results["machine"] = common.machine()
    results["machine"]["suite_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["figure_seconds"] = seconds
    if not q and args.only is None:
        write_results_md(results)
    print(json.dumps(results))


def write_results_md(results) -> None:
    lines = ["# Benchmark results", "",
             f"Latest full run of `python -m bench`, {datetime.date.today().isoformat()}, on "
             f"{results['machine']['cpu']} ({results['machine']['cores']} cores), Python "
             f"{results['machine']['python']}, torch {results['machine']['torch']}. Medians of 3 repetitions. "
             f"The suite took {results['machine']['suite_seconds']:.0f} s "
             f"({', '.join(f'{k} {v:.0f} s' for k, v in results['machine']['figure_seconds'].items())}).", "",
             "| figure | measurement | values |", "| --- | --- | --- |"]
    for name, rows in results.items():
        if name == "machine":
            continue
        if all(isinstance(v, dict) for v in rows.values()):
            for key, row in rows.items():
                lines.append(f"| {name} | {key} | " + ", ".join(f"{k}={v}" for k, v in row.items()) + " |")
        else:
            lines.append(f"| {name} | | " + ", ".join(f"{k}={v}" for k, v in rows.items()) + " |")
    with open(os.path.join(os.path.dirname(__file__), "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
