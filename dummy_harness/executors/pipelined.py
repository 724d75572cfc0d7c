"""The pipelined executor (device backends): `in_flight` batches submitted at once, so that the next batch's
copies overlap this one's compute (Backend.submit returns before the batch is done)."""
from __future__ import annotations

import collections
import time

from .base import Answer, Executor, Work, chunks


class PipelinedExecutor(Executor):
    name = "pipelined"
    queued = False

    def issue(self, work: Work) -> None:
        worker, depth = self.plan.worker, max(1, self.plan.worker.backend.in_flight)
        pending = collections.deque()
        for batch in chunks(work, self.plan.max_batch):
            pending.append((batch, worker.submit(batch.indices), time.perf_counter()))
            if len(pending) >= depth:
                self._answer(*pending.popleft())
            self.responder.check_stop()
        while pending:
            self._answer(*pending.popleft())

    def _answer(self, batch: Work, submitted, started: float) -> None:
        encoded = self.plan.worker.collect(submitted, batch.indices)
        self.responder.answered(Answer(batch.ids, encoded))
        self.stats.add(1, time.perf_counter() - started)
