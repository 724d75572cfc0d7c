"""Fixed-compute models: queries that have arrived, cut into batches; one step answers one batch.

A batch is at most `max_batch` samples: a large query (Offline) is cut into batches, small queries that arrived
together (Server) are joined, and a step never waits for more to arrive. Per batch: one gather of the loaded
inputs, one predict, one encoded response buffer, one `answered` (Worker.compute and the Responder).
"""
from __future__ import annotations

import collections
import time
from typing import Deque, List, Tuple

from .base import Answer, Responder, Stats, Work, chunks


class Batcher:
    def __init__(self, worker, max_batch: int, responder: Responder, stats: Stats):
        self.worker = worker
        self.max_batch = max_batch
        self.responder = responder
        self.stats = stats
        self._pending: Deque[Work] = collections.deque()     # cut to at most max_batch samples each

    def admit(self, work: Work) -> None:
        self._pending.extend(chunks(work, self.max_batch))

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def step(self) -> None:
        self.answer(*self._take())

    def answer(self, ids: List[int], indices: List[int]) -> None:
        """Compute one batch and hand its responses back."""
        start = time.perf_counter()
        encoded = self.worker.compute(indices)
        self.responder.answered(Answer(ids, encoded))
        self.stats.add(1, time.perf_counter() - start)

    def _take(self) -> Tuple[List[int], List[int]]:
        """The next batch: the oldest pending query, joined with the ones behind it while they fit."""
        ids, indices = self._pending.popleft()
        while self._pending and len(ids) + len(self._pending[0].ids) <= self.max_batch:
            more = self._pending.popleft()
            ids, indices = ids + more.ids, indices + more.indices
        return ids, indices
