"""noop_floor, progress_cost and reference_style.

noop_floor: the harness with its zero-compute backend (`--backend=null`) against a bare no-op LoadGen SUT
written here, same process: Offline samples/s, highest VALID Server QPS, SingleStream p90.
progress_cost: the same harness figures with the progress line on and off, alternated in one process, and the
SUT's own cost per answered sample (no LoadGen) with the line's latency histogram filled and not.
reference_style: Offline samples/s of the harness against the reference implementation's pattern, written
here: a queue, N worker threads, and one response array per sample, on the same model.
"""
from __future__ import annotations

import array
import queue
import threading
from typing import Dict, List

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


def noop_floor(blocks: int, offline_samples: int = 200_000, server_queries_s: float = 0.5,
               ss_queries: int = 2000, search_budget_s: float = 60.0) -> Dict[str, Dict[str, object]]:
    r = c.rig("resnet50", backend="null", batch=8)
    out: Dict[str, Dict[str, float]] = {}

    def offline(make) -> float:
        s = c.settings_for("Offline", min_query_count=offline_samples, max_query_count=offline_samples,
                           offline_expected_qps=1)
        return float(c.loadgen_test(make(), r.store, s, r.dataset.count)["result_samples_per_second"])

    # Interleaved blocks: harness over the bare SUT around it (common.interleaved).
    harness_rates, bare_rates = [], []

    def harness_offline() -> float:
        harness_rates.append(offline(lambda: c.batching_sut(r, 256, inline=True)))
        return harness_rates[-1]

    def bare_offline() -> float:
        bare_rates.append(offline(BareSUT))
        return bare_rates[-1]
    ratios = c.interleaved(harness_offline, bare_offline, blocks)
    out["offline_samples_per_s"] = c.ratio_row(ratios, harness=round(c.median(harness_rates)),
                                               bare=round(c.median(bare_rates)), harness_batch=256, target=0.5)

    def server_probe(make):
        def probe(qps: float) -> bool:
            s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=15_000_000,
                               min_query_count=max(500, int(qps * server_queries_s)))
            return c.loadgen_test(make(), r.store, s, r.dataset.count).valid
        return probe

    # Each search grows until a rate fails and narrows to 5%; short probes (server_queries_s of queries) pay
    # for the higher rates. The two arms alternate so that a change in the host's load touches both.
    harness = [c.find_ceiling(server_probe(lambda: c.batching_sut(r, 64, inline=False)), 8000,
                              budget_s=search_budget_s)]
    bare = [c.find_ceiling(server_probe(BareSUT), 8000, budget_s=search_budget_s)]
    out["server_highest_valid_qps"] = c.ceiling_row(harness, bare, "harness", "bare", target=0.5)

    def ss(make) -> float:
        s = c.settings_for("SingleStream", min_query_count=ss_queries, max_query_count=ss_queries)
        return float(c.loadgen_test(make(), r.store, s, r.dataset.count)["result_90.00_percentile_latency_ns"]) / 1e3

    harness_us, bare_us = [], []

    def harness_ss() -> float:
        harness_us.append(ss(lambda: c.batching_sut(r, 1, inline=True)))
        return harness_us[-1]

    def bare_ss() -> float:
        bare_us.append(ss(BareSUT))
        return bare_us[-1]
    ratios = c.interleaved(harness_ss, bare_ss, blocks)
    out["singlestream_p90_us"] = c.ratio_row(ratios, harness=round(c.median(harness_us), 1),
                                             bare=round(c.median(bare_us), 1))
    return out


def progress_cost(blocks: int, offline_samples: int = 200_000, server_queries_s: float = 0.5,
                  ss_queries: int = 2000, search_budget_s: float = 60.0, hot_path_samples: int = 200_000,
                  search_repeats: int = 1) -> Dict[str, Dict[str, object]]:
    """noop_floor's harness figures with the progress line off and on (as on a terminal, drawn into /dev/null), in
    interleaved blocks (off, on, off); ratio = on / off (1 = no cost; for latency, above 1 = slower)."""
    r = c.rig("resnet50", backend="null", batch=8)
    out: Dict[str, Dict[str, float]] = {}

    def offline(progress: bool) -> float:
        s = c.settings_for("Offline", min_query_count=offline_samples, max_query_count=offline_samples,
                           offline_expected_qps=1)
        return float(c.loadgen_test(c.batching_sut(r, 256, inline=True), r.store, s, r.dataset.count, progress)
                     ["result_samples_per_second"])

    def server(progress: bool) -> c.Ceiling:
        def probe(qps: float) -> bool:
            s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=15_000_000,
                               min_query_count=max(500, int(qps * server_queries_s)))
            return c.loadgen_test(c.batching_sut(r, 64, inline=False), r.store, s, r.dataset.count, progress).valid
        return c.find_ceiling(probe, 8000, budget_s=search_budget_s)

    def singlestream(progress: bool) -> float:
        s = c.settings_for("SingleStream", min_query_count=ss_queries, max_query_count=ss_queries)
        return float(c.loadgen_test(c.batching_sut(r, 1, inline=True), r.store, s, r.dataset.count, progress)
                     ["result_90.00_percentile_latency_ns"]) / 1e3

    for name, measure in (("offline_samples_per_s", offline), ("singlestream_p90_us", singlestream)):
        ratios = c.interleaved(lambda: measure(True), lambda: measure(False), blocks)
        out[name] = c.ratio_row(ratios)
    ons, offs = [], []
    for _ in range(search_repeats):           # searches: a capped one gives no ratio
        offs.append(server(False))
        ons.append(server(True))
    row = c.ceiling_row(ons, offs, "on", "off", target=1.0)
    out["server_highest_valid_qps"] = {k: row[k] for k in ("off", "on", "ratio", "noisy")}
    out["sut_ns_per_sample"] = sut_ns_per_sample(r, hot_path_samples, max(1, blocks // 3))
    return out


def sut_ns_per_sample(r: c.Rig, samples: int, repeats: int) -> Dict[str, float]:
    """What the progress line adds to the SUT per answered sample, null backend, LoadGen's completion call
    replaced by a no-op. `*_off`/`*_on`: ns per sample through the SUT without and with the latency histogram
    attached, inline one sample per query (SingleStream's path) and queued one sample per query and per batch
    (Server's path): the fastest of 5 x `repeats` alternated blocks (the slower ones are the host's noise).
    `clock_ns` and `histogram_add_ns`: what the line adds per sample (a clock read and a dict entry at issue, a
    clock read, a dict pop and a histogram add at the answer), its two main operations timed alone with timeit. CPU time of this thread throughout (time.thread_time):
    on a shared host, wall time mostly measures the neighbours (both paths run on this one thread here)."""
    import time
    import timeit

    from dummy_harness.loadgen.progress import LatencyHistogram

    def run(inline: bool, progress: bool) -> float:
        sut = c.batching_sut(r, 1, inline=inline)      # one sample per batch: the most batches per sample
        sut.complete = lambda responses: None
        sut.latency = LatencyHistogram() if progress else None
        issue, n = sut.issue, r.dataset.count
        start = time.thread_time()
        for i in range(samples):
            issue((i,), (i % n,))
        if not inline:
            sut.finish()
            sut.serve()
        return (time.thread_time() - start) / samples * 1e9

    out: Dict[str, float] = {}
    for name, inline in (("inline", True), ("queued", False)):
        off, on = [], []
        for _ in range(5 * repeats):
            off.append(run(inline, False))
            on.append(run(inline, True))
        out[f"{name}_off"], out[f"{name}_on"] = round(min(off), 1), round(min(on), 1)
    number = 200_000
    for name, statement, names in (("clock_ns", "clock()", {"clock": time.perf_counter}),
                                   ("histogram_add_ns", "add(0.0012, 1)", {"add": LatencyHistogram().add})):
        out[name] = round(min(timeit.repeat(statement, globals=names, number=number, repeat=5, timer=time.thread_time))
                          / number * 1e9, 1)
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


def reference_style(seconds: float, blocks: int, batch: int = 8) -> Dict[str, object]:
    """Each side in its own thread layout: the harness's Offline default (one compute thread per core, one torch
    thread each: run.thread_layout), the reference's (one worker per core, torch's default thread count)."""
    import torch

    cores = c.usable_cores()
    r = c.rig("resnet50", batch=batch)
    samples = max(batch * 8, int(c.raw_samples_per_second(r, batch, batch * 8) * seconds) // batch * batch)
    settings = c.settings_for("Offline", min_query_count=samples, max_query_count=samples, offline_expected_qps=1)
    ours: List[float] = []

    def harness() -> float:
        torch.set_num_threads(1)
        ours.append(float(c.loadgen_test(c.batching_sut(r, batch, inline=True, workers=cores), r.store, settings,
                                         r.dataset.count)["result_samples_per_second"]))
        return ours[-1]

    theirs: List[float] = []

    def reference() -> float:
        torch.set_num_threads(cores)
        theirs.append(float(c.loadgen_test(ReferenceStyleSUT(r, batch, cores), r.store, settings, r.dataset.count)
                            ["result_samples_per_second"]))
        return theirs[-1]
    ratios = c.interleaved(harness, reference, blocks)
    return c.ratio_row(ratios, harness=round(c.median(ours), 1), reference_style=round(c.median(theirs), 1),
                       batch=batch, workers=cores, target=1.1)
