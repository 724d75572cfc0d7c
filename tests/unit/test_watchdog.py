"""The watchdog's counters are shared by LoadGen's issuing thread and the completing compute threads."""
import threading
import time

from dummy_harness.loadgen.watchdog import Watchdog


class PreemptedWatchdog(Watchdog):
    """Gives the GIL away between reading and writing the count, as a thread switch at the worst moment would."""

    @property
    def outstanding(self):
        value = self._count
        time.sleep(0)
        return value

    @outstanding.setter
    def outstanding(self, value):
        self._count = value


def test_outstanding_count_survives_concurrent_issue_and_completion():
    dog = PreemptedWatchdog(60.0, lambda reason: None)
    rounds = 3000
    issuer = threading.Thread(target=lambda: [dog.issued(1) for _ in range(rounds)])
    completer = threading.Thread(target=lambda: [dog.completed(1) for _ in range(rounds)])
    issuer.start()
    completer.start()
    issuer.join()
    completer.join()
    assert dog.outstanding == 0


def test_a_stall_with_outstanding_samples_fires_once_and_an_idle_run_never_does():
    fired = []
    dog = Watchdog(0.2, fired.append)
    dog.start()
    dog.issued(3)
    dog._thread.join(timeout=5)
    assert len(fired) == 1 and "3 samples outstanding" in fired[0]

    quiet = []
    idle = Watchdog(0.2, quiet.append)
    idle.start()
    idle.issued(2)
    idle.completed(2)
    idle._thread.join(timeout=0.8)
    idle.stop()
    assert quiet == []
