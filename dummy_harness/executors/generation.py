"""LLMs: continuous batching (the scheduler) over a decode-step engine (the model).

`Generator` decides what runs: up to `slots` sequences decode together, a new prompt joins as soon as a slot is
free (its prefill runs between two decode steps), and a finished sequence is answered at once. With token
latencies on, every sample gets exactly one first token before its final answer (streamed), and every final
answer carries its token count. `DecodeEngine` runs it: a prefill or one decode step, each one typed call of the
backend (backends/base.py, DecodeStep). The scheduler never sees tensors, the engine never sees LoadGen ids.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..backends.base import DecodeStep
from ..models.base import Encoded
from ..models.decoder import choose, finished
from .base import Answer, ExecutionPlan, Responder, Stats, SUTFailure, Work

TopTwo = Tuple[int, int]


class DecodeEngine:
    """The model side of generation: a backend whose predict takes a DecodeStep and returns the two best next
    tokens of each row (int64 [rows, 2]); the backend keeps each slot's KV cache."""

    def __init__(self, backend):
        self.backend = backend

    def prefill(self, slot: int, prompt: np.ndarray) -> TopTwo:
        """Read a whole prompt into `slot` (from cache position 0): the two best first tokens."""
        step = DecodeStep(torch.from_numpy(prompt[None].astype(np.int64)), torch.tensor([slot]), torch.tensor([0]))
        first, second = self.backend.predict(step)[0].tolist()
        return first, second

    def decode(self, slots: Sequence[int], tokens: Sequence[int], positions: Sequence[int]) -> List[TopTwo]:
        """One token more for each slot: `tokens` are their last tokens, at cache `positions`."""
        step = DecodeStep(torch.tensor([[t] for t in tokens], dtype=torch.int64),
                          torch.tensor(slots, dtype=torch.int64), torch.tensor(positions, dtype=torch.int64))
        return [(a, b) for a, b in self.backend.predict(step).tolist()]


@dataclass
class Sequence_:
    response_id: int
    index: int
    position: int                         # next cache position to write
    tokens: List[int] = field(default_factory=list)


class Generator:
    """Continuous batching of a worker's prompts; one step = admit what fits, then one decode step."""

    def __init__(self, worker, slots: int, responder: Responder, stats: Stats, stream_first_token: bool,
                 report_tokens: bool):
        self.worker = worker
        self.engine = DecodeEngine(worker.backend)
        self.slots = slots
        self.responder = responder
        self.stats = stats
        self.stream_first_token = stream_first_token
        self.report_tokens = report_tokens
        bench = worker.bench
        self.eos_id = bench.eos_id
        self.min_new = bench.decoder_size.min_new_tokens
        self.max_new = bench.decoder_size.max_new_tokens
        self.dtype = np.dtype(bench.spec.response_dtype)     # the ids as the benchmark's accuracy script reads them
        self._waiting: Deque[Tuple[int, int]] = collections.deque()   # (response id, index)
        self._active: Dict[int, Sequence_] = {}                       # slot -> sequence

    def admit(self, work: Work) -> None:
        self._waiting.extend(zip(work.ids, work.indices))

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._active)

    def step(self) -> None:
        start = time.perf_counter()
        try:
            free = [s for s in range(self.slots) if s not in self._active]
            while self._waiting and free:
                slot = free.pop(0)
                seq = self._prefill(slot, *self._waiting.popleft())
                if seq is not None:
                    self._active[slot] = seq
            decoded = 0
            if self._active:
                self._decode()
                decoded = 1
        except SUTFailure:
            raise
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} while generating: {exc}") from exc
        self.stats.add(decoded, time.perf_counter() - start)

    def _prefill(self, slot: int, rid: int, idx: int):
        prompt = self.worker.prompt(idx)
        token = choose(self.engine.prefill(slot, prompt), 0, self.eos_id, self.min_new)
        if self.stream_first_token:
            self.responder.first_tokens([rid], np.array([token], dtype=self.dtype))
        seq = Sequence_(rid, idx, position=len(prompt))
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
        top = self.engine.decode(slots, [seq.tokens[-1] for seq in seqs], [seq.position for seq in seqs])
        ended = []
        for slot, seq, pair in zip(slots, seqs, top):
            seq.position += 1
            token = choose(pair, len(seq.tokens), self.eos_id, self.min_new)
            if token != self.eos_id:
                seq.tokens.append(token)
            if finished(token, len(seq.tokens), self.eos_id, self.max_new):
                ended.append(seq)
                del self._active[slot]
        if ended:
            self._complete(ended)

    def _complete(self, seqs: List[Sequence_]) -> None:
        encoded = Encoded.pieces([np.asarray(s.tokens, dtype=self.dtype) for s in seqs], self.dtype)
        counts = [len(s.tokens) for s in seqs]
        self.responder.answered(Answer([s.response_id for s in seqs], encoded,
                                       counts if self.report_tokens else None))
        self.stats.add(0, 0.0, sum(counts))


def stepper(plan: ExecutionPlan, responder: Responder, stats: Stats):
    """What one step of this plan's worker is: a batch (fixed-compute models) or a generation step (LLMs)."""
    if plan.worker.bench.generative:
        return Generator(plan.worker, plan.max_batch, responder, stats, plan.stream_first_token,
                         plan.report_tokens)
    from .batching import Batcher
    return Batcher(plan.worker, plan.max_batch, responder, stats)
