"""The inline executor: each query is computed inside LoadGen's callback, on the main thread, before it returns.

The model runs on the thread that built it (one torch pool in the process), and a SingleStream query pays no
hand-off to another thread. Fixed-compute models go batch by batch (batching.py), LLMs step by step with
continuous batching (generation.py). This is the file to copy for a new executor.
"""
from __future__ import annotations

from .base import Executor, Responder, Work
from .generation import stepper


class InlineExecutor(Executor):
    name = "inline"
    queued = False

    def attach(self, responder: Responder) -> None:
        super().attach(responder)
        self.stepper = stepper(self.plan, responder, self.stats)

    def issue(self, work: Work) -> None:
        self.stepper.admit(work)
        while self.stepper.busy:
            self.stepper.step()
            self.responder.check_stop()
