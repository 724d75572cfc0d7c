"""python -m bench [--quick] [--only NAME ...]: the harness's own benchmarks, on the CPU.

Prints a table per figure, each with the CPU time the hypervisor took from this VM while it ran (host steal),
and, as its last line, one JSON object keyed by figure name. A full run (not --quick) also rewrites
bench/RESULTS.md with the table and the machine it ran on, unless host steal exceeded MAX_STEAL of the run's
CPU capacity (then the figures describe the host's neighbours as much as the harness: it says so and leaves the
file alone). --quick uses tiny sizes and one repetition: it only checks that the suite starts.
"""
import argparse
import datetime
import importlib.util
import json
import os
import time

from . import common, distributed, efficiency, floor, scaling, serving
from .cm_overhead import cm_overhead


MAX_STEAL = 0.05      # stolen CPU time / (wall time x cores) above which RESULTS.md is not rewritten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="figure names to run (default: all)")
    parser.add_argument("--save", default="", metavar="FILE", help="also write the JSON object to FILE (for "
                        "python -m bench.compare)")
    args = parser.parse_args()
    q = args.quick
    reps = 1 if q else 3
    blocks = 2 if q else 9          # interleaved blocks of a ratio (common.interleaved)
    figures = {
        "harness_efficiency": lambda: efficiency.harness_efficiency(
            seconds=0.1 if q else 0.3, blocks=blocks, batches=(1, 8) if q else (1, 8, 32)),
        # Short interleaved blocks (300 queries x 3 read anywhere from 0.90 to 1.35 on one quiet machine).
        "latency_overhead": lambda: efficiency.latency_overhead(queries=40 if q else 100, repeats=1 if q else 15),
        "noop_floor": lambda: floor.noop_floor(blocks=blocks, offline_samples=5000 if q else 200_000,
                                               server_queries_s=0.2 if q else 0.5, ss_queries=200 if q else 2000,
                                               search_budget_s=2 if q else 60),
        "progress_cost": lambda: floor.progress_cost(blocks=blocks, search_repeats=1, offline_samples=5000 if q else 200_000,
                                                     server_queries_s=0.2 if q else 0.5, ss_queries=200 if q else 2000,
                                                     search_budget_s=5 if q else 60,
                                                     hot_path_samples=5000 if q else 200_000),
        # One search per arm: a search already probes each rate up to twice (see common.find_ceiling).
        "server_batching": lambda: serving.server_batching(repeats=1),
        "reference_style": lambda: floor.reference_style(seconds=0.2 if q else 0.8, blocks=blocks),
        "cost_scaling": lambda: scaling.cost_scaling(repeats=1 if q else 3, sizes=(256, 1024) if q else
                                                     (256, 4096, 65536), issued=5000 if q else 200_000,
                                                     server_s=0.2 if q else 1.0, search_budget_s=2 if q else 40),
        "cm_overhead": lambda: cm_overhead(repeats=1 if q else 3),
        "llm_serving": lambda: serving.llm_serving(repeats=1, budget_s=60),
        # The Ray executor (needs the ray extra): one worker against in-process; N workers on fake nodes.
        "ray_overhead": lambda: distributed.ray_overhead(blocks=2 if q else 5, ss_queries=200 if q else 2000,
                                                        offline_samples=2000 if q else 20_000,
                                                        search_budget_s=5 if q else 60,
                                                        simulated_chunks=10 if q else 100),
        "ray_scaling": lambda: distributed.ray_scaling(blocks=1 if q else 3, sizes=(1, 2) if q else (1, 2, 4, 8),
                                                      seconds=0.5 if q else 3.0),
    }
    if q:   # a smoke run skips the slow QPS searches
        figures.pop("server_batching")
        figures.pop("llm_serving")
    if importlib.util.find_spec("ray") is None:
        print("ray_overhead, ray_scaling: left out (Ray is not installed: pip install -e '.[ray]')", flush=True)
        figures.pop("ray_overhead")
        figures.pop("ray_scaling")
    results = {}
    started, stolen_at_start = time.perf_counter(), common.steal_s()
    seconds, steal = {}, {}
    cores = os.cpu_count() or 1
    for name, run in figures.items():
        if args.only is not None and name not in args.only:
            continue
        t, stolen = time.perf_counter(), common.steal_s()
        results[name] = run()
        seconds[name] = round(time.perf_counter() - t, 1)
        steal[name] = round(common.steal_s() - stolen, 2)
        print(name, f"({seconds[name]} s, host steal {steal[name]} s = "
              f"{100 * steal[name] / max(seconds[name] * cores, 1e-9):.1f}% of the CPU)",
              json.dumps(results[name], indent=1), flush=True)
    wall = time.perf_counter() - started
    stolen_share = (common.steal_s() - stolen_at_start) / max(wall * cores, 1e-9)
    results["machine"] = common.machine()
    results["machine"].update(suite_seconds=round(wall, 1), figure_seconds=seconds, figure_host_steal_s=steal,
                              host_steal_share=round(stolen_share, 4))
    if not q and args.only is None:
        if stolen_share > MAX_STEAL:
            print(f"bench/RESULTS.md left as it was: the host took {100 * stolen_share:.1f}% of this VM's CPU "
                  f"during the run (more than {100 * MAX_STEAL:g}%); run again when it is quieter", flush=True)
        else:
            write_results_md(results)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results))


def write_results_md(results) -> None:
    lines = ["# Benchmark results", "",
             f"Latest full run of `python -m bench`, {datetime.date.today().isoformat()}, on "
             f"{results['machine']['cpu']} ({results['machine']['cores']} cores), Python "
             f"{results['machine']['python']}, torch {results['machine']['torch']}. Ratios are the median of interleaved "
             "blocks, with the blocks' spread (`spread_pct`, half their interquartile range) and `noisy` where it "
             "exceeds 3%. "
             f"The suite took {results['machine']['suite_seconds']:.0f} s "
             f"({', '.join(f'{k} {v:.0f} s' for k, v in results['machine']['figure_seconds'].items())}); the "
             f"host took {100 * results['machine']['host_steal_share']:.2f}% of the VM's CPU (steal). A figure "
             "marked `capped at X` is a search that ran out of time before a rate failed: no ratio is drawn "
             "from it.", "",
             "| figure | measurement | values | host steal during the figure |", "| --- | --- | --- | --- |"]
    for name, rows in results.items():
        if name == "machine":
            continue
        stolen = f"{results['machine']['figure_host_steal_s'].get(name, 0)} s"
        if all(isinstance(v, dict) for v in rows.values()):
            for key, row in rows.items():
                lines.append(f"| {name} | {key} | " + ", ".join(f"{k}={v}" for k, v in row.items()) +
                             f" | {stolen} |")
        else:
            lines.append(f"| {name} | | " + ", ".join(f"{k}={v}" for k, v in rows.items()) + f" | {stolen} |")
    # Sections written by hand below the table (each under its own "## " heading) are kept.
    path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        kept = old[old.index("\n## "):] if "\n## " in old else ""
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + kept)


if __name__ == "__main__":
    main()
