"""The benchmark suite starts and reports its figures (tiny sizes: a smoke run, not a measurement)."""
import json
import subprocess
import sys

from conftest import ROOT


def test_bench_quick_prints_one_json_object_with_the_figures():
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "harness_efficiency", "latency_overhead",
                        "noop_floor", "reference_style"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    figures = json.loads(p.stdout.strip().splitlines()[-1])
    assert {"harness_efficiency", "latency_overhead", "noop_floor", "reference_style", "machine"} <= set(figures)
    assert all(row["ratio"] > 0 for row in figures["harness_efficiency"].values())
    assert figures["noop_floor"]["offline_samples_per_s"]["harness"] > 0
