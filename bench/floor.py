"""noop_floor and reference_style.

noop_floor: the harness with its zero-compute backend (`--backend=null`) against a bare no-op LoadGen SUT
written here, same process: Offline samples/s, highest VALID Server QPS, SingleStream p90.
reference_style: Offline samples/s of the harness against the reference implementation's pattern, written
here: a queue, N worker threads, and one response array per sample, on the same model.
"""
from __future__ import annotations

import array
import queue
import threading
from typing import Dict

import numpy as np

from . import common as c


class BareSUT:
    """A no-op SUT as LoadGen's demos write one: answer every sample inside issue, one complete call."""
    inline = True

    def __init__(self):
        import mlperf_loadgen as lg
        self.lg = lg
        self.data = np.zeros(1, np.float32)

    def issue(self, ids, indices):
        lg, ptr = self.lg, self.data.ctypes.data
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, ptr, 4) for i in ids])

    def flush(self):
        pass

    def finish(self):
        pass


def noop_floor(repeats: int, offline_samples: int = 200_000, server_queries_s: float = 0.5,
               ss_queries: int = 2000, search_budget_s: float = 60.0) -> Dict[str, Dict[str, object]]:
    r = c.rig("resnet50", backend="null", batch=8)
    out: Dict[str, Dict[str, float]] = {}

    def offline(make) -> float:
        s = c.settings_for("Offline", min_query_count=offline_samples, max_query_count=offline_samples,
                           offline_expected_qps=1)
        return float(c.loadgen_test(make(), r.store, s, r.count)["result_samples_per_second"])

    harness_rates = [offline(lambda: c.batching_sut(r, 256, inline=True)) for _ in range(repeats)]
    bare_rates = [offline(BareSUT) for _ in range(repeats)]
    out["offline_samples_per_s"] = {"harness": round(c.median(harness_rates)), "bare": round(c.median(bare_rates)),
                                    "ratio": round(c.median(harness_rates) / c.median(bare_rates), 3),
                                    "harness_batch": 256, "target": 0.5}

    def server_probe(make):
        def probe(qps: float) -> bool:
            s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=15_000_000,
                               min_query_count=max(500, int(qps * server_queries_s)))
            return c.loadgen_test(make(), r.store, s, r.count).valid
        return probe

    # Each search grows until a rate fails and narrows to 5%; short probes (server_queries_s of queries) pay
    # for the higher rates. The two arms alternate so that a change in the host's load touches both.
    harness, bare = [], []
    for _ in range(repeats):
        harness.append(c.find_ceiling(server_probe(lambda: c.batching_sut(r, 64, inline=False)), 8000,
                                      budget_s=search_budget_s))
        bare.append(c.find_ceiling(server_probe(BareSUT), 8000, budget_s=search_budget_s))
    out["server_highest_valid_qps"] = c.ceiling_row(harness, bare, "harness", "bare", target=0.5)

    def ss(make) -> float:
        s = c.settings_for("SingleStream", min_query_count=ss_queries, max_query_count=ss_queries)
        return float(c.loadgen_test(make(), r.store, s, r.count)["result_90.00_percentile_latency_ns"]) / 1e3

    harness_us = [ss(lambda: c.batching_sut(r, 1, inline=True)) for _ in range(repeats)]
    bare_us = [ss(BareSUT) for _ in range(repeats)]
    out["singlestream_p90_us"] = {"harness": round(c.median(harness_us), 1), "bare": round(c.median(bare_us), 1)}
    return out


class ReferenceStyleSUT:
    """The reference harness's pattern: issue enqueues slices of at most `batch` samples; N worker threads each
    stack their samples, run the model, and answer with one array.array response per sample."""
    inline = False

    def __init__(self, r: c.Rig, batch: int, threads: int):
        import mlperf_loadgen as lg
        self.lg, self.r, self.batch = lg, r, batch
        self.tasks: "queue.Queue" = queue.Queue()
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for w in self.workers:
            w.start()

    def issue(self, ids, indices):
        for start in range(0, len(ids), self.batch):
            self.tasks.put((ids[start:start + self.batch], indices[start:start + self.batch]))

    def _work(self):
        import torch
        lg, r = self.lg, self.r
        while True:
            task = self.tasks.get()
            if task is None:
                return
            ids, indices = task
            x = torch.from_numpy(np.stack([r.store.ram["inputs"][i] for i in indices]))
            out = r.backend.predict((x,)).numpy()
            responses, keep = [], []
            for qid, value in zip(ids, out):
                buf = array.array("B", np.asarray([value], np.float32).tobytes())
                info = buf.buffer_info()
                keep.append(buf)
                responses.append(lg.QuerySampleResponse(qid, info[0], info[1]))
            lg.QuerySamplesComplete(responses)

    def flush(self):
        pass

    def serve(self):
        pass

    def finish(self):
        for _ in self.workers:
            self.tasks.put(None)
        for w in self.workers:
            w.join()


def reference_style(seconds: float, repeats: int, batch: int = 8) -> Dict[str, float]:
    """Each side in its own thread layout: the harness's Offline default (one compute thread per core, one torch
    thread each: run.thread_layout), the reference's (one worker per core, torch's default thread count)."""
    import os

    import torch

    cores = os.cpu_count() or 1
    r = c.rig("resnet50", batch=batch)
    samples = max(batch * 8, int(c.raw_samples_per_second(r, batch, batch * 8) * seconds) // batch * batch)
    settings = c.settings_for("Offline", min_query_count=samples, max_query_count=samples, offline_expected_qps=1)
    ours, theirs = [], []
    for _ in range(repeats):
        torch.set_num_threads(1)
        ours.append(float(c.loadgen_test(c.batching_sut(r, batch, inline=True, workers=cores), r.store, settings,
                                         r.count)["result_samples_per_second"]))
        torch.set_num_threads(cores)
        theirs.append(float(c.loadgen_test(ReferenceStyleSUT(r, batch, cores), r.store, settings, r.count)
                            ["result_samples_per_second"]))
    return {"harness": round(c.median(ours), 1), "reference_style": round(c.median(theirs), 1),
            "ratio": round(c.median(ours) / c.median(theirs), 3), "batch": batch, "workers": cores,
            "target": 1.1}
