"""The thread-pool executor (Offline, fixed-compute models on the CPU): a query's batches shared by one compute
thread per core, each with a one-thread torch pool (tuning.thread_layout).

Small models' ops do not scale across cores, so two batches on one core each beat one batch on two. The main
thread is compute thread 0 (it built the model); the first failure ends the run.
"""
from __future__ import annotations

import queue
import threading
from typing import List

from .base import Executor, Responder, Work, chunks
from .batching import Batcher


class ThreadPoolExecutor(Executor):
    name = "threads"
    queued = False

    def attach(self, responder: Responder) -> None:
        super().attach(responder)
        self.batcher = Batcher(self.plan.worker, self.plan.max_batch, responder, self.stats)

    def issue(self, work: Work) -> None:
        batches = chunks(work, self.plan.max_batch)
        if len(batches) == 1:
            self.batcher.answer(*batches[0])
            return
        pending: "queue.SimpleQueue[Work]" = queue.SimpleQueue()
        for batch in batches:
            pending.put(batch)
        failures: List[BaseException] = []
        stop = self.responder.stop_requested

        def compute() -> None:
            while not failures and not stop.is_set():
                try:
                    batch = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    self.batcher.answer(*batch)
                except BaseException as exc:   # noqa: BLE001 - raised again on the thread that owns the run
                    failures.append(exc)

        helpers = [threading.Thread(target=compute, name=f"compute-{i}", daemon=True)
                   for i in range(1, self.plan.compute_threads)]
        for thread in helpers:
            thread.start()
        compute()
        for thread in helpers:
            thread.join()
        if failures:
            raise failures[0]
        self.responder.check_stop()
