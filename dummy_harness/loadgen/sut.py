"""The SUT of fixed-compute benchmarks: batches of samples in, one response array per batch out.

Threads. Each Python thread that runs torch ops gets its own OpenMP pool, and idle pools spin against the active
one (loadgen-facts.md), so every torch op of a run happens on one thread, the main thread:
  * inline (Offline, SingleStream, MultiStream): LoadGen's StartTest runs on the main thread and `issue`
    answers the query right there, batch by batch; no hand-off, no queue (SingleStream pays ~2 us, not ~50);
  * queued (Server): StartTest runs on a "loadgen" thread whose `issue` only enqueues; `serve()` on the main
    thread joins the queries that have arrived into batches no larger than the latency bound allows;
  * Offline may spread its batches over `workers` threads instead, each running torch with a one-thread pool
    (the other arrangement the OpenMP finding allows): for models whose small ops do not scale across cores,
    two batches on one core each beat one batch on two.

Per batch: one gather from the preloaded inputs, one `predict`, one response array, one `QuerySamplesComplete`;
the array stays referenced until that call returns (LoadGen reads it then). A failed batch is never answered
with made-up data: `on_failure` ends the run with the reason.
"""
from __future__ import annotations

import collections
import os
import queue
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..backends.base import Backend
from ..models.base import Benchmark
from .qsl import SampleStore

Work = Tuple[List[int], List[int], float]   # (LoadGen response ids, sample indices, when they were issued)


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux), -1 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return -1.0


class SUTFailure(RuntimeError):
    """The model or the harness failed on a batch; the run cannot give LoadGen honest answers."""


def _raise(reason: str) -> None:
    raise SUTFailure(reason)


class SUTBase:
    """What both SUTs share: the hand-off (inline or queued), bookkeeping, and how a failure ends the run."""

    def __init__(self, inline: bool):
        import mlperf_loadgen as lg

        self.inline = inline
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self.stop_requested = threading.Event()
        self.watchdog = None                                   # told of every issued and completed sample
        # Filled while a progress line shows latencies (progress.Progress.attach); None: nothing measured.
        self.latency = self.ttft = self.tpot = None
        self.rss_first_query: Optional[float] = None
        self.first_query_at: Optional[float] = None               # time.monotonic()
        self.batches = 0
        self.samples = 0
        self.busy_s = 0.0
        self._lock = threading.Lock()       # counters, when several workers complete at once
        # Set by the run; both end the process. Defaults raise, for code that drives a SUT by hand.
        self.on_failure: Callable[[str], None] = _raise
        self.on_interrupt: Callable[[], None] = lambda: None
        # LoadGen's completion calls, replaceable to measure the SUT without LoadGen (see bench/).
        self.complete = lg.QuerySamplesComplete
        self.first_token = lg.FirstTokenComplete

    def _arrived(self, count: int) -> None:
        if self.watchdog:
            self.watchdog.issued(count)
        if self.rss_first_query is None:
            self.first_query_at = time.monotonic()         # LoadGen's test starts (after loading samples)
            self.rss_first_query = rss_mb()

    def _completed(self, count: int) -> None:
        with self._lock:
            self.samples += count
            if self.watchdog:
                self.watchdog.completed(count)

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run inline work on LoadGen's callback; a failure must not unwind into LoadGen's C++ frames."""
        try:
            work()
        except SUTFailure as exc:
            self.on_failure(str(exc))
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            self.on_failure(f"{type(exc).__name__}: {exc}")

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            self.on_interrupt()

    def flush(self) -> None:
        # Nothing is ever held back waiting for more queries, so there is nothing to flush.
        pass

    def finish(self) -> None:
        """LoadGen is done (called after StartTest returns): let serve() return."""
        self._queue.put(None)


class BatchingSUT(SUTBase):
    def __init__(self, bench: Benchmark, backend: Backend, store: SampleStore, max_batch: int, inline: bool = False,
                 workers: int = 1):
        super().__init__(inline)
        self.bench = bench
        self.backend = backend
        self.store = store
        self.max_batch = max_batch
        self.workers = workers
        self._staged, self._staged_version = None, -1

    # ---- LoadGen's callback ----------------------------------------------------------------------------------
    def issue(self, ids: Sequence[int], indices: Sequence[int]) -> None:
        issued = time.perf_counter() if self.latency is not None else 0.0
        ids, indices = list(ids), list(indices)
        self._arrived(len(ids))
        step = self.max_batch
        if self.inline:
            chunks = [(ids[i:i + step], indices[i:i + step], issued) for i in range(0, len(ids), step)]
            if self.workers > 1 and len(chunks) > 1:
                self._guarded(lambda: self._answer_in_parallel(chunks))
                return

            if self.backend.in_flight > 1 and len(chunks) > 1:
                self._guarded(lambda: self._answer_pipelined(chunks))
                return

            def work() -> None:
                for chunk in chunks:
                    self._answer(*chunk)
                    self._check_stop()
            self._guarded(work)
        elif len(ids) <= step:
            self._queue.put((ids, indices, issued))
        else:
            for start in range(0, len(ids), step):
                self._queue.put((ids[start:start + step], indices[start:start + step], issued))

    # ---- the compute thread (queued mode) -------------------------------------------------------------------
    def serve(self, poll_s: float = 0.5) -> None:
        """Answer queued queries until finish(); returns early (without answering) when stop_requested is set."""
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
            ids, indices, issued = item
            newest = issued
            # Join queries that have already arrived, up to the batch size; never wait for more.
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
                newest = nxt[2]
            self._answer(ids, indices, issued, newest)
            if finished or self.stop_requested.is_set():
                return

    def _answer_in_parallel(self, chunks: List[Work]) -> None:
        """Batches taken in turn by `workers` threads (this one included); the first failure ends the run."""
        pending: "queue.SimpleQueue[Work]" = queue.SimpleQueue()
        for chunk in chunks:
            pending.put(chunk)
        failures: List[BaseException] = []

        def worker() -> None:
            while not failures and not self.stop_requested.is_set():
                try:
                    chunk = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    self._answer(*chunk)
                except BaseException as exc:   # noqa: BLE001 - handed to the thread that owns the run
                    failures.append(exc)

        helpers = [threading.Thread(target=worker, name=f"compute-{i}", daemon=True)
                   for i in range(1, self.workers)]
        for thread in helpers:
            thread.start()
        worker()
        for thread in helpers:
            thread.join()
        if failures:
            raise failures[0]
        self._check_stop()

    def _rows(self):
        """The loaded samples where the backend wants them (re-staged when LoadGen loaded other samples)."""
        if self._staged_version != self.store.version:
            self._staged, self._staged_version = self.backend.stage(self.store.ram), self.store.version
        return self._staged

    def _inputs(self, indices: List[int]):
        # A backend that reads no inputs (the zero-compute one) is spared the gather.
        if not self.backend.reads_inputs:
            return (np.empty((len(indices), 0), np.float32),)
        return self.bench.collate(self._rows(), indices)

    def _answer_pipelined(self, chunks: List[Work]) -> None:
        """Keep `backend.in_flight` batches submitted: the next one's copies overlap this one's compute."""
        pending = collections.deque()
        for chunk_ids, chunk_indices, issued in chunks:
            try:
                start = time.perf_counter()
                pending.append((chunk_ids, chunk_indices, self.backend.submit(self._inputs(chunk_indices)), start,
                                issued, issued))
            except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
                raise SUTFailure(f"{type(exc).__name__} on a batch of {len(chunk_ids)} samples: {exc}") from exc
            if len(pending) >= self.backend.in_flight:
                self._respond(*pending.popleft())
            self._check_stop()
        while pending:
            self._respond(*pending.popleft())

    def _answer(self, ids: List[int], indices: List[int], issued: float, newest: Optional[float] = None) -> None:
        """Answer one batch; `issued` and `newest`: when its first and last queries were issued."""
        start = time.perf_counter()
        try:
            submitted = self.backend.submit(self._inputs(indices))
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(ids)} samples: {exc}") from exc
        self._respond(ids, indices, submitted, start, issued, issued if newest is None else newest)

    def _respond(self, ids: List[int], indices: List[int], submitted, start: float, issued: float,
                 newest: float) -> None:
        try:
            encoded = self.bench.encode(submitted.result(), indices)
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(ids)} samples: {exc}") from exc
        if len(encoded.spans) != len(ids) or not encoded.buffer.flags.c_contiguous:
            raise SUTFailure(f"the benchmark encoded {len(encoded.spans)} responses for {len(ids)} samples")
        import mlperf_loadgen as lg

        base = encoded.buffer.ctypes.data
        self.complete([lg.QuerySampleResponse(qid, base + offset, size)
                       for qid, (offset, size) in zip(ids, encoded.spans)])
        del encoded   # only now may the buffer go
        end = time.perf_counter()
        with self._lock:
            self.busy_s += end - start
            self.batches += 1
            if self.latency is not None:
                # Queries joined into one batch were issued between `issued` and `newest`: half the batch is
                # counted at each end (a progress figure; LoadGen's own is in its logs).
                n = len(ids)
                if n == 1 or newest == issued:
                    self.latency.add(end - issued, n)
                else:
                    self.latency.add(end - issued, n - n // 2)
                    self.latency.add(end - newest, n // 2)
        self._completed(len(ids))


def batch_times_ms(bench: Benchmark, backend: Backend, rows, max_batch: int, repeats: int = 5) -> dict:
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


def thread_candidates(cores: int) -> List[int]:
    """The torch pool sizes worth trying for a latency scenario on `cores` cores: all of them, all but one (a
    core left to LoadGen's own threads), half, one."""
    return sorted({n for n in (1, cores // 2, cores - 1, cores) if n >= 1})


def fastest_thread_count(work: Callable[[], object], candidates: Sequence[int], repeats: int = 7,
                         clock: Callable[[], float] = time.perf_counter) -> Tuple[int, Dict[int, float]]:
    """(torch pool size, median ms of `work` at each size tried), `work` being one query's compute (a predict, a
    prompt's generation): the sizes are timed in turn, alternated, after an untimed call each. A larger pool
    must be 5% faster to be chosen: each thread more is one that LoadGen's own threads preempt mid-op. Measured
    on 2 cores, SingleStream p90 under LoadGen, median of 6: resnet50 1.65 ms with one thread against 1.79 with
    two, bert-99 2.38 against 2.59, retinanet 7.54 against 5.52: which wins depends on the model, so it is
    measured, not assumed."""
    import torch

    times: Dict[int, List[float]] = {n: [] for n in candidates}
    for n in candidates:
        torch.set_num_threads(n)
        work()                                   # the first call of a pool size is not timed
    for _ in range(repeats):
        for n in candidates:
            torch.set_num_threads(n)
            start = clock()
            work()
            times[n].append(clock() - start)
    medians = {n: float(np.median(t)) * 1e3 for n, t in times.items()}
    best = min(candidates)
    for n in sorted(candidates):
        if medians[n] < medians[best] / 1.05:
            best = n
    torch.set_num_threads(best)
    return best, medians


def one_batch(bench: Benchmark, backend: Backend, rows, batch: int) -> Callable[[], object]:
    """A predict of `batch` loaded samples, for fastest_thread_count."""
    n_rows = len(next(iter(rows.values())))
    inputs = bench.collate(rows, [i % n_rows for i in range(batch)])
    return lambda: backend.predict(inputs)


def latency_bounded_batch(times_ms: dict, bound_ms: float) -> int:
    """Largest batch whose compute time fits half the latency bound: a query that arrives just after a batch
    starts waits for it, then runs in the next one. Larger batches under a backlog are how the SUT catches up."""
    fitting = [n for n, t in times_ms.items() if t <= bound_ms / 2]
    return max(fitting) if fitting else 1


def estimate_capacity(bench: Benchmark, backend: Backend, rows, max_batch: int,
                      repeats: int = 3) -> Tuple[float, float]:
    """(samples/s of one compute thread at the max batch size, batch-1 latency in ms), medians of a few timed
    predicts after an untimed one (the first call of a shape selects kernels)."""
    def median_time(n: int) -> float:
        batch = bench.collate(rows, list(range(n)))
        backend.predict(batch)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            backend.predict(batch)
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    n = min(max_batch, len(next(iter(rows.values()))))
    return n / median_time(n), median_time(1) * 1e3


def sustained_throughput(bench: Benchmark, backend: Backend, rows, loaded: int, max_batch: int, workers: int,
                         seconds: float) -> Tuple[float, float]:
    """(mean, peak) samples/s that `workers` compute threads sustain together for `seconds`, each answering full
    batches gathered at random from the first `loaded` rows, as an Offline run does (gather, predict, encode).
    peak is the fastest quarter of the measurement.

    A valid Offline run lasts LoadGen's sample count over the rate it then sustains, and ends INVALID if that is
    under min_duration, so the count is sized from the peak: on a shared machine the rate moves with the host's
    load (a fast-style run estimated at a contended 345/s then ran at 444/s and ended early). Timing one batch on
    one thread and multiplying by the workers overshot 2.5x on 2 cores (workers share caches and memory
    bandwidth, and a few warm rows stay in cache where 1024 do not): a 10-minute run took 25."""
    rng = np.random.default_rng(0)
    size = min(max_batch, loaded)
    batches = [sorted(rng.choice(loaded, size=size, replace=False).tolist()) for _ in range(64)]
    done: List[Tuple[float, int]] = []         # (time, samples) per answered batch; list.append is atomic
    ready = threading.Barrier(workers + 1)      # every worker warm, and the clock
    stop = threading.Event()
    started: List[float] = []

    def worker(slot: int) -> None:
        i = slot
        backend.predict(bench.collate(rows, batches[i % len(batches)]))     # untimed: kernels, caches
        ready.wait()
        while not stop.is_set():
            indices = batches[i % len(batches)]
            bench.encode(backend.predict(bench.collate(rows, indices)), indices)
            done.append((time.perf_counter(), len(indices)))
            i += workers

    def clock() -> None:
        ready.wait()
        started.append(time.perf_counter())
        stop.wait(seconds)
        stop.set()

    # The main thread is worker 0, as in the run (it built the model and owns the first torch pool).
    threads = [threading.Thread(target=worker, args=(slot,), name=f"estimate-{slot}", daemon=True)
               for slot in range(1, workers)] + [threading.Thread(target=clock, name="estimate-clock", daemon=True)]
    for thread in threads:
        thread.start()
    worker(0)
    for thread in threads:
        thread.join()
    end = time.perf_counter()
    mean = sum(n for _, n in done) / (end - started[0])
    return mean, max(mean, peak_rate(sorted(done), started[0], (end - started[0]) / 4))


def peak_rate(events: Sequence[Tuple[float, int]], start: float, window: float) -> float:
    """The highest samples/s over any `window` seconds of sorted (time, samples) completions after `start`."""
    best, first, inside = 0.0, 0, 0
    for t, n in events:
        inside += n
        while events[first][0] <= t - window:
            inside -= events[first][1]
            first += 1
        if t - window >= start:
            best = max(best, inside / window)
    return best
