"""The SUT: LoadGen hands queries in on its thread, one compute thread batches and answers them.

Why one compute thread: each Python thread that runs torch ops gets its own OpenMP pool, and idle pools spin
against the active one (loadgen-facts.md), so every torch op of a run happens on the thread that calls
`serve()`. LoadGen's callbacks only enqueue.

Per batch: one gather from the preloaded inputs, one `predict`, one response array, one
`QuerySamplesComplete` call; the array stays referenced until that call returns (LoadGen reads it then).
A failed batch is never answered with made-up data: the failure is raised to the caller, which ends the run.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..backends.base import Backend
from ..models.base import Benchmark
from .qsl import SampleStore

Work = Tuple[List[int], List[int]]   # (LoadGen response ids, sample indices)


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux), -1 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return -1.0


class SUTFailure(RuntimeError):
    """The model or the harness failed on a batch; the run cannot give LoadGen honest answers."""


class BatchingSUT:
    def __init__(self, bench: Benchmark, backend: Backend, store: SampleStore, max_batch: int):
        self.bench = bench
        self.backend = backend
        self.store = store
        self.max_batch = max_batch
        self._queue: "queue.SimpleQueue[Optional[Work]]" = queue.SimpleQueue()
        self.batches = 0
        self.samples = 0
        self.busy_s = 0.0
        self.stop_requested = threading.Event()
        self.watchdog = None      # set by the run: told of every issued and completed sample
        self.rss_first_query = None

    # ---- LoadGen thread ------------------------------------------------------------------------------------
    def issue(self, ids: Sequence[int], indices: Sequence[int]) -> None:
        ids, indices = list(ids), list(indices)
        if self.watchdog:
            self.watchdog.issued(len(ids))
        if self.rss_first_query is None:
            self.rss_first_query = rss_mb()
        step = self.max_batch
        if len(ids) <= step:
            self._queue.put((ids, indices))
        else:   # Offline: one query holds every sample
            for start in range(0, len(ids), step):
                self._queue.put((ids[start:start + step], indices[start:start + step]))

    def flush(self) -> None:
        # Nothing is ever held back waiting for more queries, so there is nothing to flush.
        pass

    def finish(self) -> None:
        """LoadGen is done (called after StartTest returns): let serve() return."""
        self._queue.put(None)

    # ---- compute thread ------------------------------------------------------------------------------------
    def serve(self, poll_s: float = 0.5) -> None:
        """Answer queries until finish(); returns early (without answering) when stop_requested is set."""
        carry: Optional[Work] = None
        while True:
            if carry is not None:
                item, carry = carry, None
            else:
                try:
                    item = self._queue.get(timeout=poll_s)
                except queue.Empty:
                    if self.stop_requested.is_set():
                        return
                    continue
            if item is None:
                return
            ids, indices = item
            # Server: join queries that have already arrived, up to the batch size; never wait for more.
            finished = False
            while len(ids) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    finished = True
                    break
                if len(ids) + len(nxt[0]) > self.max_batch:
                    carry = nxt
                    break
                ids = ids + nxt[0]
                indices = indices + nxt[1]
            self._answer(ids, indices)
            if finished or self.stop_requested.is_set():
                return

    def _answer(self, ids: List[int], indices: List[int]) -> None:
        import mlperf_loadgen as lg

        start = time.perf_counter()
        try:
            output = self.backend.predict(self.bench.collate(self.store.ram, indices))
            encoded = self.bench.encode(output, indices)
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(ids)} samples: {exc}") from exc
        if len(encoded.spans) != len(ids) or not encoded.buffer.flags.c_contiguous:
            raise SUTFailure(f"the benchmark encoded {len(encoded.spans)} responses for {len(ids)} samples")
        base = encoded.buffer.ctypes.data
        lg.QuerySamplesComplete([lg.QuerySampleResponse(qid, base + offset, size)
                                 for qid, (offset, size) in zip(ids, encoded.spans)])
        del encoded   # only now may the buffer go
        if self.watchdog:
            self.watchdog.completed(len(ids))
        self.busy_s += time.perf_counter() - start
        self.batches += 1
        self.samples += len(ids)


def batch_times_ms(bench: Benchmark, backend: Backend, rows, max_batch: int, repeats: int = 3) -> dict:
    """Median predict time (ms) per batch size 1, 2, 4, ... up to max_batch."""
    sizes, b = [], 1
    while b < max_batch:
        sizes.append(b)
        b *= 2
    sizes.append(max_batch)
    out = {}
    for n in sizes:
        batch = bench.collate(rows, [i % len(next(iter(rows.values()))) for i in range(n)])
        backend.predict(batch)   # first call of a new shape selects kernels: not timed
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            backend.predict(batch)
            times.append(time.perf_counter() - t)
        out[n] = float(np.median(times)) * 1e3
    return out


def latency_bounded_batch(times_ms: dict, bound_ms: float) -> int:
    """Largest batch whose compute time fits a quarter of the latency bound: a query that arrives just after a
    batch starts waits for it, then runs in the next one, and the rest is slack for a noisy machine."""
    fitting = [n for n, t in times_ms.items() if t <= bound_ms / 4]
    return max(fitting) if fitting else 1


def estimate_capacity(bench: Benchmark, backend: Backend, rows, max_batch: int,
                      repeats: int = 3) -> Tuple[float, float]:
    """(samples/s at the max batch size, batch-1 latency in ms), medians of a few timed predicts."""
    def median_time(n: int) -> float:
        batch = bench.collate(rows, list(range(n)))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            backend.predict(batch)
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    n = min(max_batch, len(next(iter(rows.values()))))
    return n / median_time(n), median_time(1) * 1e3
