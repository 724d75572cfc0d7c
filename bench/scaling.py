"""cost_scaling: how the harness's own cost per sample grows with the dataset and with the load.

The harness runs its zero-compute backend (so every microsecond measured is the harness's or LoadGen's), beside
the bare no-op SUT of floor.py on the same QSL, and the overhead per sample is the difference:
  * Offline, the dataset (QSL, all samples loaded) grown from 256 to 65536 samples, the same number of samples
    issued each time: wall microseconds per sample;
  * Server, at 10% to 90% of the harness's highest VALID QPS (found here, as noop_floor finds it): process CPU
    microseconds per query (LoadGen's threads and the harness's alike).
Each series is summarised by its least-squares slope: per doubling of the dataset, per 10% of load.
The samples are bert-99's input rows (3 x 384 int64, 9 KB: a 64k-sample QSL fits in RAM, unlike resnet50's
600 KB images); they are zeros, as the zero-compute backend never reads them.
"""
from __future__ import annotations

import time
from typing import Dict, List, Sequence

import numpy as np

from dummy_harness import backends, catalogue, models
from dummy_harness.dataset import Dataset
from dummy_harness.loadgen.qsl import SampleStore

from . import common as c
from .floor import BareSUT

MODEL = "bert-99"


def _rig(count: int) -> c.Rig:
    spec = catalogue.get(MODEL)
    bench = models.load(spec, "")
    # The samples without their ground truth (the null backend answers none): seed 0, first attempt each.
    dataset = {"seeds": np.zeros(count, np.int64), "attempts": np.zeros(count, np.int64)}
    store = SampleStore(bench, dataset, count)
    store.load(range(count))
    engine = backends.load("null")
    engine.load(bench.build_model(), "cpu", "float32", [bench.collate(store.ram, [0])])
    return c.Rig(bench, engine, Dataset("", {"count": count}, dataset), store)


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def cost_scaling(repeats: int, sizes: Sequence[int] = (256, 4096, 65536), issued: int = 200_000,
                 loads: Sequence[float] = (0.1, 0.5, 0.9), server_s: float = 1.0,
                 search_budget_s: float = 40.0) -> Dict[str, Dict[str, object]]:
    out: Dict[str, Dict[str, object]] = {}
    offline: List[float] = []
    for count in sizes:
        r = _rig(count)
        s = c.settings_for("Offline", min_query_count=issued, max_query_count=issued, offline_expected_qps=1)

        def us_per_sample(make) -> float:
            return 1e6 / float(c.loadgen_test(make(), r.store, s, r.dataset.count)["result_samples_per_second"])
        harness = c.median([us_per_sample(lambda: c.batching_sut(r, 256, inline=True)) for _ in range(repeats)])
        bare = c.median([us_per_sample(BareSUT) for _ in range(repeats)])
        offline.append(harness - bare)
        out[f"offline_{count}_samples"] = {"harness_us": round(harness, 3), "bare_us": round(bare, 3),
                                          "overhead_us": round(harness - bare, 3)}
    out["offline_slope"] = {"overhead_us_per_doubling": round(_slope(np.log2(sizes), offline), 4),
                            "mean_overhead_us": round(float(np.mean(offline)), 3)}

    r = _rig(sizes[0])

    def server(make, qps: float, seconds: float):
        queries = max(500, int(qps * seconds))
        # No max_query_count: in Server, LoadGen logs reaching it as an error.
        s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=15_000_000,
                           min_query_count=queries)
        cpu = time.process_time()
        records = c.loadgen_test(make(), r.store, s, r.dataset.count)
        issued = int(records.get("result_query_count", queries))
        return records.valid, (time.process_time() - cpu) * 1e6 / issued

    harness_sut = lambda: c.batching_sut(r, 64, inline=False)   # noqa: E731 - as noop_floor's Server arm
    ceiling = c.find_ceiling(lambda qps: server(harness_sut, qps, 0.5)[0], 8000, budget_s=search_budget_s)
    if not ceiling.qps:
        out["server_slope"] = {"ceiling_qps": ceiling.figure(), "note": "no VALID Server rate: load series skipped"}
        return out
    server_overhead = []
    for load in loads:
        qps = load * ceiling.qps
        harness = c.median([server(harness_sut, qps, server_s)[1] for _ in range(repeats)])
        bare = c.median([server(BareSUT, qps, server_s)[1] for _ in range(repeats)])
        server_overhead.append(harness - bare)
        out[f"server_{round(load * 100)}pct"] = {"qps": round(qps), "harness_cpu_us": round(harness, 3),
                                                 "bare_cpu_us": round(bare, 3),
                                                 "overhead_cpu_us": round(harness - bare, 3)}
    # Loads are fractions of the ceiling found (of a lower bound of it, where the search was capped).
    out["server_slope"] = {"ceiling_qps": ceiling.figure(),
                           "overhead_cpu_us_per_10pct_load": round(_slope([x * 10 for x in loads],
                                                                          server_overhead), 4),
                           "mean_overhead_cpu_us": round(float(np.mean(server_overhead)), 3)}
    return out
