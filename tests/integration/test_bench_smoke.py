"""The benchmark suite starts and reports its figures (tiny sizes: a smoke run, not a measurement). The figures
that build only rigs of their own run here; harness_efficiency (which also exports ONNX models) and the QPS
searches' logic are covered by tests/unit/test_qps_search.py and the full `python -m bench`."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT


def test_bench_quick_prints_one_json_object_with_the_figures_and_the_host_steal():
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "noop_floor", "reference_style",
                        "cost_scaling"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    figures = json.loads(p.stdout.strip().splitlines()[-1])
    assert {"noop_floor", "reference_style", "cost_scaling", "machine"} <= set(figures)
    # A ratio is the median of its blocks' ratios, so it lies between the arms' extremes; its spread is reported.
    for row in (figures["noop_floor"]["offline_samples_per_s"], figures["reference_style"]):
        assert row["blocks"] == 2 and row["spread_pct"] >= 0
        assert row["ratio"] == pytest.approx(row["harness"] / row.get("bare", row.get("reference_style")), rel=0.5)
    assert {"target", "batch", "workers"} <= set(figures["reference_style"])
    assert {"offline_slope", "server_slope"} <= set(figures["cost_scaling"])
    assert set(figures["machine"]["figure_host_steal_s"]) == {"noop_floor", "reference_style", "cost_scaling"}
    assert all(f"host steal {v} s" in p.stdout for v in figures["machine"]["figure_host_steal_s"].values())
