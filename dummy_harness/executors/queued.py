"""The queued executor (Server): LoadGen's thread only enqueues; the main thread computes what has arrived.

Arrivals do not wait for answers in Server, so LoadGen's callback hands each query over and returns at once;
`serve()` joins the queries that have arrived into batches (fixed-compute models) or admits them into free slots
(LLMs, continuous batching), and never waits for more to arrive while there is work to do.
"""
from __future__ import annotations

import queue
from typing import Optional

from .base import Executor, Responder, Work
from .generation import stepper


class QueuedExecutor(Executor):
    name = "queued"
    queued = True

    def __init__(self, plan):
        super().__init__(plan)
        self._queue: "queue.SimpleQueue[Optional[Work]]" = queue.SimpleQueue()

    def attach(self, responder: Responder) -> None:
        super().attach(responder)
        self.stepper = stepper(self.plan, responder, self.stats)

    def issue(self, work: Work) -> None:
        self._queue.put(work)

    def finish(self) -> None:
        self._queue.put(None)

    def serve(self, poll_s: float = 0.5) -> None:
        """Until finish(); returns early (without answering) when a stop was requested."""
        stop = self.responder.stop_requested
        done = False
        while True:
            # Take everything that has arrived; block only when there is nothing to compute.
            while True:
                busy = self.stepper.busy or done
                try:
                    item = self._queue.get_nowait() if busy else self._queue.get(timeout=poll_s)
                except queue.Empty:
                    if stop.is_set():
                        return
                    if busy:
                        break
                    continue
                if item is None:
                    done = True
                else:
                    self.stepper.admit(item)
            if done and not self.stepper.busy:
                return
            self.stepper.step()
            if stop.is_set():
                return
