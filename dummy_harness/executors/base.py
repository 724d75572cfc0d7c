"""The executor interface: between LoadGen's callbacks (loadgen/sut.py) and the compute (a Worker).

    sut = SUT(executor, ...)          # the SUT hands the executor LoadGen's queries: issue(Work(ids, indices))
    executor.issue(work)              # computes them (here, on threads, on other devices or machines) ...
    responder.answered(Answer(...))   # ... and hands back each batch's encoded responses
    responder.first_tokens(ids, tok)  # (LLMs streaming their first token, before the final answer)

An executor never calls LoadGen: the LoadGen side (the `Responder`) owns the response buffers' lifetime until
QuerySamplesComplete returns, the counters, the progress line and the watchdog. An executor answers every sample
exactly once, or raises `SUTFailure`: it never answers with made-up data.

Two ways to run, declared by `queued`:
  * not queued: `issue` computes the query before it returns, inside LoadGen's callback (StartTest runs on the
    main thread, which built the model: every torch op of the run stays on one thread);
  * queued: `issue` only hands the query over; `serve()` runs on the main thread until `finish()`.
`close()` is called by the session once LoadGen is done, whatever happened.
"""
from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, NamedTuple, Optional, Protocol, Sequence

import numpy as np

from ..models.base import Encoded


class SUTFailure(RuntimeError):
    """The model, a worker or the harness failed on a batch; the run cannot give LoadGen honest answers."""


class Work(NamedTuple):
    """One LoadGen query: its response ids and the QSL indices of its samples (same length)."""
    ids: List[int]
    indices: List[int]


class Answer(NamedTuple):
    """The final responses of some samples: `encoded` holds one span per id, in order. `n_tokens`: the generated
    token count of each sample (LLMs reporting token latencies), else None."""
    ids: Sequence[int]
    encoded: Encoded
    n_tokens: Optional[Sequence[int]] = None


class Responder(Protocol):
    """The LoadGen side as an executor sees it (implemented by loadgen/sut.py, and by `Collector` below)."""
    stop_requested: threading.Event

    def answered(self, answer: Answer) -> None:
        """Complete these samples with LoadGen; the buffer may be reused once this returns."""

    def first_tokens(self, ids: Sequence[int], tokens: np.ndarray) -> None:
        """Each sample's first generated token (one per id, in the benchmark's response dtype), before its final
        answer."""

    def check_stop(self) -> None:
        """Between two steps: ends the run when a stop (SIGINT/SIGTERM) was requested."""


@dataclass
class ExecutionPlan:
    """What an executor is built from: the prepared worker and how the run was tuned (tuning.py)."""
    worker: Any                         # worker.Worker: backend + model + samples, on this process
    max_batch: int                      # largest batch a step forms; LLMs: sequences decoding together (slots)
    compute_threads: int = 1            # compute threads on this process (Offline, fixed-compute models)
    stream_first_token: bool = False    # LLMs: one first token per sample, before its answer
    report_tokens: bool = False         # LLMs: n_tokens on every final response
    options: Dict[str, Any] = field(default_factory=dict)     # executor-specific settings (e.g. remote workers)


@dataclass
class Stats:
    """What the compute did; several compute threads add under one lock."""
    batches: int = 0
    busy_s: float = 0.0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, batches: int, busy_s: float, tokens: int = 0) -> None:
        with self._lock:
            self.batches += batches
            self.busy_s += busy_s
            self.tokens += tokens


class Executor(abc.ABC):
    """Runs LoadGen's queries on the compute. Subclasses set `name` (their registry key) and `queued`."""
    name: ClassVar[str] = ""
    queued: ClassVar[bool] = False

    def __init__(self, plan: ExecutionPlan):
        self.plan = plan
        self.stats = Stats()
        self.responder: Optional[Responder] = None

    def attach(self, responder: Responder) -> None:
        """The LoadGen side this executor answers to (before the first query)."""
        self.responder = responder

    @abc.abstractmethod
    def issue(self, work: Work) -> None:
        """One query, on LoadGen's thread: computed before returning (not queued) or handed over (queued)."""

    def serve(self) -> None:
        """Queued executors: answer handed-over queries on this (the main) thread until finish()."""
        raise NotImplementedError(f"the {self.name} executor answers inside issue(); it has nothing to serve")

    def finish(self) -> None:
        """LoadGen has issued everything and returned (StartTest is over): let serve() return."""

    def close(self) -> None:
        """Release what the executor started (threads, remote workers)."""

    def describe(self) -> Dict[str, Any]:
        """What ran the compute, for results.json (`executor`)."""
        return {"name": self.name, "workers": [{"where": "this process", "compute_threads":
                                                self.plan.compute_threads}]}


def chunks(work: Work, size: int) -> List[Work]:
    """A query cut into batches of at most `size` samples, in order."""
    if len(work.ids) <= size:
        return [work]
    return [Work(work.ids[i:i + size], work.indices[i:i + size]) for i in range(0, len(work.ids), size)]


class Collector:
    """A Responder without LoadGen: keeps each sample's response bytes (and token count), for answering samples
    outside a LoadGen test (capacity estimates, thread choice, tests). `keep=False` drops them (timing only)."""

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.answers: Dict[int, bytes] = {}
        self.n_tokens: Dict[int, int] = {}
        self.first: Dict[int, int] = {}
        self.stop_requested = threading.Event()

    def answered(self, answer: Answer) -> None:
        if not self.keep:
            return
        data = answer.encoded.buffer.tobytes()
        for i, (rid, (offset, size)) in enumerate(zip(answer.ids, answer.encoded.spans)):
            if rid in self.answers:
                raise SUTFailure(f"sample {rid} was answered twice")
            self.answers[rid] = data[offset:offset + size]
            n_tokens = answer.n_tokens if answer.n_tokens is not None else answer.encoded.n_tokens
            if n_tokens is not None:
                self.n_tokens[rid] = int(n_tokens[i])

    def first_tokens(self, ids: Sequence[int], tokens: np.ndarray) -> None:
        if self.keep:
            for rid, token in zip(ids, tokens.tolist()):
                if rid in self.first:
                    raise SUTFailure(f"sample {rid} got two first tokens")
                self.first[rid] = token

    def check_stop(self) -> None:
        pass

