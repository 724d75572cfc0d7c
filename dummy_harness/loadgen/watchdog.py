"""A watchdog for runs whose SUT stops answering: LoadGen would wait forever for a response.

It fires when queries are outstanding and none has completed for `limit_s`; the bound comes from the run's
LoadGen settings (see `stall_limit_s`). It sleeps on an Event between checks: no busy-waiting thread.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from .. import scenarios

MIN_STALL_S = 60.0
STALL_FACTOR = 20.0


def stall_limit_s(settings, scenario) -> float:
    """STALL_FACTOR x the longest a query of `scenario` (scenarios.Scenario) is expected to take (its latency
    bound or expected latency), at least MIN_STALL_S."""
    return max(MIN_STALL_S, STALL_FACTOR * scenarios.get(scenario).latency_bound_ns(settings) / 1e9)


class Watchdog:
    def __init__(self, limit_s: float, on_stall: Callable[[str], None]):
        self.limit_s = limit_s
        self.on_stall = on_stall
        # issued() runs on LoadGen's thread, completed() on the compute threads: one lock for the counter.
        self._lock = threading.Lock()
        self.outstanding = 0
        self.last_progress = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def issued(self, count: int) -> None:
        with self._lock:
            if self.outstanding == 0:
                self.last_progress = time.monotonic()
            self.outstanding += count

    def completed(self, count: int) -> None:
        with self._lock:
            self.outstanding -= count
            self.last_progress = time.monotonic()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.limit_s / 4)):
            with self._lock:
                idle, outstanding = time.monotonic() - self.last_progress, self.outstanding
            if outstanding > 0 and idle > self.limit_s:
                self.on_stall(f"watchdog: no response for {idle:.0f} s with {outstanding} samples outstanding "
                              f"(bound {self.limit_s:.0f} s, from the scenario's latency settings; --watchdog_s "
                              "changes it)")
                return
