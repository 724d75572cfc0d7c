"""The SUT of generative benchmarks: continuous batching with token streaming.

Up to `slots` sequences decode together; a new prompt joins as soon as a slot is free (its prefill runs between
two decode steps), and a finished sequence is answered at once. With token latencies on (llama2-70b), outside
Offline every sample gets exactly one FirstTokenComplete before its final response, and every final response
carries n_tokens. Threads as in BatchingSUT: inline for Offline/SingleStream/MultiStream (the whole query is
generated inside LoadGen's callback, on the main thread), queued for Server.
"""
from __future__ import annotations

import collections
import itertools
import queue
import time
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..backends.base import Backend
from ..models.base import Encoded
from ..models.decoder import choose, finished
from .qsl import SampleStore
from .sut import SUTBase, SUTFailure


@dataclass
class Sequence_:
    response_id: int
    index: int
    position: int                         # next cache position to write
    tokens: List[int] = field(default_factory=list)
    issued: float = 0.0                   # perf_counter at issue, and at the first token (progress latencies)
    first_token: float = 0.0


class GenerationSUT(SUTBase):
    def __init__(self, bench, backend: Backend, store: SampleStore, slots: int, stream_first_token: bool,
                 report_tokens: bool, inline: bool = False):
        super().__init__(inline)
        self.bench = bench
        self.backend = backend
        self.store = store
        self.slots = slots
        self.stream_first_token = stream_first_token
        self.report_tokens = report_tokens
        self.eos_id = bench.eos_id
        self.min_new = bench.decoder_size.min_new_tokens
        self.max_new = bench.decoder_size.max_new_tokens
        self.tokens = 0
        self.first_tokens_sent = 0
        self._waiting: Deque[Tuple[int, int, float]] = collections.deque()   # (response id, index, issued)
        self._active: Dict[int, Sequence_] = {}

    # ---- LoadGen's callback ----------------------------------------------------------------------------------
    def issue(self, ids: Sequence[int], indices: Sequence[int]) -> None:
        issued = time.perf_counter() if self.latency is not None or self.ttft is not None else 0.0
        self._arrived(len(ids))
        if self.inline:
            self._waiting.extend(zip(ids, indices, itertools.repeat(issued)))

            def work() -> None:
                while self._waiting or self._active:
                    self._step()
                    self._check_stop()
            self._guarded(work)
        else:
            for item in zip(ids, indices, itertools.repeat(issued)):
                self._queue.put(item)

    # ---- the compute thread (queued mode) -------------------------------------------------------------------
    def serve(self, poll_s: float = 0.5) -> None:
        done = False
        while True:
            # Take what has arrived; block only when there is nothing to decode.
            while True:
                busy = self._active or self._waiting or done
                try:
                    item = self._queue.get_nowait() if busy else self._queue.get(timeout=poll_s)
                except queue.Empty:
                    if self.stop_requested.is_set():
                        return
                    if busy:
                        break
                    continue
                if item is None:
                    done = True
                else:
                    self._waiting.append(item)
            if done and not self._active and not self._waiting:
                return
            self._step()
            if self.stop_requested.is_set():
                return

    # ---- one step: admit what fits, then advance every active sequence by one token ----------------------------
    def _step(self) -> None:
        start = time.perf_counter()
        try:
            free = [s for s in range(self.slots) if s not in self._active]
            while self._waiting and free:
                slot = free.pop(0)
                seq = self._prefill(slot, *self._waiting.popleft())
                if seq is not None:
                    self._active[slot] = seq
            if self._active:
                self._decode()
        except SUTFailure:
            raise
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} while generating: {exc}") from exc
        self.busy_s += time.perf_counter() - start

    def _prefill(self, slot: int, rid: int, idx: int, issued: float):
        import mlperf_loadgen as lg

        prompt = self.bench.prompt(self.store.ram, idx)
        top2 = self.backend.predict((torch.from_numpy(prompt[None].astype(np.int64)), torch.tensor([slot]),
                                     torch.tensor([0])))[0].tolist()
        token = choose((top2[0], top2[1]), 0, self.eos_id, self.min_new)
        seq = Sequence_(rid, idx, position=len(prompt), issued=issued)
        if self.stream_first_token:
            first = np.array([token], dtype=np.int32)
            self.first_token([lg.QuerySampleResponse(rid, first.ctypes.data, first.nbytes)])
            self.first_tokens_sent += 1
            if self.ttft is not None:
                seq.first_token = time.perf_counter()
                self.ttft.add(seq.first_token - issued)
        if token == self.eos_id:
            self._complete([seq])
            return None
        seq.tokens.append(token)
        if finished(token, len(seq.tokens), self.eos_id, self.max_new):
            self._complete([seq])
            return None
        return seq

    def _decode(self) -> None:
        slots = sorted(self._active)
        seqs = [self._active[s] for s in slots]
        tokens = torch.tensor([[seq.tokens[-1]] for seq in seqs], dtype=torch.int64)
        starts = torch.tensor([seq.position for seq in seqs], dtype=torch.int64)
        top2 = self.backend.predict((tokens, torch.tensor(slots, dtype=torch.int64), starts)).tolist()
        self.batches += 1
        ended = []
        for slot, seq, pair in zip(slots, seqs, top2):
            seq.position += 1
            token = choose((pair[0], pair[1]), len(seq.tokens), self.eos_id, self.min_new)
            if token != self.eos_id:
                seq.tokens.append(token)
            if finished(token, len(seq.tokens), self.eos_id, self.max_new):
                ended.append(seq)
                del self._active[slot]
        if ended:
            self._complete(ended)

    def _complete(self, seqs: List[Sequence_]) -> None:
        import mlperf_loadgen as lg

        encoded = Encoded.pieces([np.asarray(s.tokens, dtype=np.int32) for s in seqs], np.int32)
        base = encoded.buffer.ctypes.data
        if self.report_tokens:
            responses = [lg.QuerySampleResponse(s.response_id, base + off, size, len(s.tokens))
                         for s, (off, size) in zip(seqs, encoded.spans)]
        else:
            responses = [lg.QuerySampleResponse(s.response_id, base + off, size)
                         for s, (off, size) in zip(seqs, encoded.spans)]
        self.complete(responses)
        del encoded
        self.tokens += sum(len(s.tokens) for s in seqs)
        if self.latency is not None or self.tpot is not None:
            self._measure(seqs)
        self._completed(len(seqs))

    def _measure(self, seqs: List[Sequence_]) -> None:
        """Progress latencies of answered sequences: issue -> answer, and time per output token after the first
        (LoadGen's TPOT) where first tokens are streamed."""
        now = time.perf_counter()
        for s in seqs:
            if self.latency is not None:
                self.latency.add(now - s.issued)
            if self.tpot is not None and s.first_token and len(s.tokens) > 1:
                self.tpot.add((now - s.first_token) / (len(s.tokens) - 1))


def sustained_generation_rate(bench, backend: Backend, store: SampleStore, slots: int, samples: int) -> float:
    """Samples/s the continuous-batching engine sustains on `samples` loaded prompts, answered without LoadGen
    (the Offline estimate of fast/valid runs: LoadGen sizes the query from it)."""
    sut = GenerationSUT(bench, backend, store, slots, stream_first_token=False, report_tokens=False, inline=True)
    sut.complete = lambda responses: None
    warm = min(samples, slots)
    sut.issue(list(range(warm)), list(range(warm)))                 # untimed: kernels, caches
    start = time.perf_counter()
    sut.issue(list(range(samples)), list(range(samples)))
    return samples / (time.perf_counter() - start)


def one_query(bench, backend: Backend, store: SampleStore, prompts: int) -> Callable[[], None]:
    """`prompts` loaded prompts generated to the end, answered without LoadGen: one latency-scenario query's
    compute, for sut.fastest_thread_count."""
    sut = GenerationSUT(bench, backend, store, prompts, stream_first_token=False, report_tokens=False, inline=True)
    sut.complete = lambda responses: None
    return lambda: sut.issue(list(range(prompts)), list(range(prompts)))
