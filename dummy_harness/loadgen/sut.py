"""The SUT LoadGen talks to: its callbacks hand queries to an executor, and the executor's answers go back to
LoadGen. This side owns what LoadGen needs done right whatever computes the answers:
  * each response buffer stays referenced until QuerySamplesComplete (or FirstTokenComplete) has returned;
  * the sample counters the progress line reads, and the watchdog's outstanding count;
  * the progress line's latencies (issue -> answer, first tokens), measured only while a progress line shows;
  * a failure never unwinds into LoadGen's C++ frames: it ends the run through `on_failure`, with its reason.
The compute (batching, continuous batching, threads, devices, machines) is the executor's (executors/).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from .. import host
from ..executors.base import Answer, Executor, SUTFailure, Work


def _raise(reason: str) -> None:
    raise SUTFailure(reason)


class SUT:
    """`stream_first_token`: LLM samples get one first token before their answer (LoadGen's token latencies);
    `report_tokens`: final responses carry n_tokens."""

    def __init__(self, executor: Executor, stream_first_token: bool = False, report_tokens: bool = False):
        import mlperf_loadgen as lg

        self.executor = executor
        self.inline = not executor.queued
        # A network-division SUT (the Ray executor with --ship_samples): LoadGen's query dispatch library, whose
        # name callback asks the executor's workers where they run (loadgen/session.py).
        self.network = bool(getattr(executor, "network", False))
        self.stream_first_token = stream_first_token
        self.report_tokens = report_tokens
        self.stop_requested = threading.Event()
        self.watchdog = None                       # told of every issued and completed sample
        # Filled while a progress line shows latencies (progress.Progress.attach); None: nothing measured.
        self.latency = self.ttft = self.tpot = None
        self._issued_at: Dict[int, float] = {}    # response id -> issue time, only while latencies are measured
        self._first_at: Dict[int, float] = {}
        self.rss_first_query: Optional[float] = None
        self.first_query_at: Optional[float] = None      # time.monotonic()
        self.samples = 0
        self.first_tokens_sent = 0
        self._lock = threading.Lock()       # counters, when several compute threads complete at once
        # Set by the run; both end the process. Defaults raise, for code that drives a SUT by hand.
        self.on_failure: Callable[[str], None] = _raise
        self.on_interrupt: Callable[[], None] = lambda: None
        # LoadGen's completion calls, replaceable to measure the SUT without LoadGen (see bench/).
        self.complete = lg.QuerySamplesComplete
        self.first_token = lg.FirstTokenComplete
        self._response = lg.QuerySampleResponse
        executor.attach(self)

    # ---- LoadGen's callbacks --------------------------------------------------------------------------------------
    def issue(self, ids: Sequence[int], indices: Sequence[int]) -> None:
        work = Work(list(ids), list(indices))
        self._arrived(work)
        if self.inline:
            try:
                self.executor.issue(work)
            except SUTFailure as exc:
                self.on_failure(str(exc))
            except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
                self.on_failure(f"{type(exc).__name__}: {exc}")
        else:
            self.executor.issue(work)

    def issue_samples(self, samples) -> None:
        """LoadGen's issue callback as a query dispatch library calls it (QuerySample objects)."""
        self.issue([s.id for s in samples], [s.index for s in samples])

    def name(self) -> str:
        """The SUT's name, asked of the executor (network SUTs only)."""
        return self.executor.sut_name()

    def flush(self) -> None:
        # Nothing is ever held back waiting for more queries, so there is nothing to flush.
        pass

    # ---- the run's side ---------------------------------------------------------------------------------------------
    def serve(self) -> None:
        """Queued executors: compute on this (the main) thread until finish()."""
        self.executor.serve()

    def finish(self) -> None:
        """LoadGen is done (called after StartTest returns)."""
        self.executor.finish()

    def check_stop(self) -> None:
        if self.stop_requested.is_set():
            self.on_interrupt()

    # ---- the executor's answers ---------------------------------------------------------------------------------------
    def answered(self, answer: Answer) -> None:
        encoded = answer.encoded
        base = encoded.buffer.ctypes.data
        response = self._response
        n_tokens = answer.n_tokens if answer.n_tokens is not None else encoded.n_tokens
        if n_tokens is not None and self.report_tokens:
            self.complete([response(rid, base + offset, size, n) for rid, (offset, size), n
                           in zip(answer.ids, encoded.spans, n_tokens)])
        else:
            self.complete([response(rid, base + offset, size) for rid, (offset, size)
                           in zip(answer.ids, encoded.spans)])
        del encoded   # only now may the buffer go
        if self.latency is not None or self.tpot is not None:
            self._measure(answer)
        with self._lock:
            self.samples += len(answer.ids)
            if self.watchdog:
                self.watchdog.completed(len(answer.ids))

    def first_tokens(self, ids: Sequence[int], tokens: np.ndarray) -> None:
        tokens = np.ascontiguousarray(tokens)      # in the response dtype, as TEST06 compares it with the answer
        base, size = tokens.ctypes.data, tokens.itemsize
        self.first_token([self._response(rid, base + i * size, size) for i, rid in enumerate(ids)])
        del tokens
        with self._lock:
            self.first_tokens_sent += len(ids)
        if self.ttft is not None:
            now = time.perf_counter()
            for rid in ids:
                self._first_at[rid] = now
                self.ttft.add(now - self._issued_at.get(rid, now))

    # ---- bookkeeping ------------------------------------------------------------------------------------------------
    def _arrived(self, work: Work) -> None:
        if self.watchdog:
            self.watchdog.issued(len(work.ids))
        if self.rss_first_query is None:
            self.first_query_at = time.monotonic()         # LoadGen's test starts (after loading samples)
            self.rss_first_query = host.rss_mb()
        if self.latency is not None or self.ttft is not None:
            now = time.perf_counter()
            for rid in work.ids:
                self._issued_at[rid] = now

    def _measure(self, answer: Answer) -> None:
        """Progress latencies of answered samples: issue -> answer, and time per output token after the first
        (LoadGen's TPOT) where first tokens are streamed."""
        now = time.perf_counter()
        with self._lock:
            for i, rid in enumerate(answer.ids):
                issued = self._issued_at.pop(rid, now)
                if self.latency is not None:
                    self.latency.add(now - issued)
                first = self._first_at.pop(rid, 0.0)
                if self.tpot is not None and first and answer.n_tokens is not None and answer.n_tokens[i] > 1:
                    self.tpot.add((now - first) / (answer.n_tokens[i] - 1))
