"""The LoadGen session: the process is in its run state during a test (gc off, short switch interval, signal
handlers of the run) and back in its own state afterwards, also when StartTest raises; LoadGen's SUT and QSL
are built and destroyed by it. Real LoadGen throughout, with a SUT that answers every sample at once."""
import gc
import signal
import sys
import threading

import numpy as np
import pytest

from dummy_harness.executors.base import Answer, ExecutionPlan, Executor
from dummy_harness.loadgen.session import SWITCH_INTERVAL_S, LoadGenSession
from dummy_harness.loadgen.settings import explicit
from dummy_harness.loadgen.sut import SUT
from dummy_harness.models.base import Encoded

SAMPLES = 16


class Instant(Executor):
    """Answers each sample with 4 zero bytes inside LoadGen's callback (inline) or from `serve` (queued), and
    records the process state it saw while LoadGen ran."""
    name = "instant"

    def __init__(self, queued: bool):
        super().__init__(ExecutionPlan(None, 1))
        self.queued = queued
        self.seen = []
        self.pending = []
        self.done = threading.Event()
        self.closed = False

    def issue(self, work):
        self.seen.append((gc.isenabled(), sys.getswitchinterval(), signal.getsignal(signal.SIGTERM)))
        if self.queued:
            self.pending.append(work.ids)
        else:
            self.answer(work.ids)

    def answer(self, ids):
        self.responder.answered(Answer(ids, Encoded.rows(np.zeros((len(ids), 1), np.float32))))

    def serve(self):
        while not self.done.is_set() or self.pending:
            while self.pending:
                self.answer(self.pending.pop(0))
            self.done.wait(0.001)

    def finish(self):
        self.done.set()

    def close(self):
        self.closed = True


def instant_sut(inline: bool) -> SUT:
    sut = SUT(Instant(queued=not inline))
    sut.on_failure = lambda reason: pytest.fail(reason)
    return sut


class Samples:
    """The QSL side: nothing to load, the SUT answers without inputs."""

    def load(self, indices):
        pass

    def unload(self, indices):
        pass


def offline_settings():
    return explicit("Offline", min_query_count=SAMPLES, max_query_count=SAMPLES, offline_expected_qps=1)


def own_handler(signum, frame):
    """The process's own SIGTERM handler, which a session must put back."""


@pytest.fixture
def process_state():
    """A process state unlike the run's (another switch interval, an own SIGTERM handler), restored after."""
    interval, term, int_ = sys.getswitchinterval(), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    sys.setswitchinterval(0.003)
    signal.signal(signal.SIGTERM, own_handler)
    gc.enable()
    yield
    sys.setswitchinterval(interval)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, int_)


def assert_restored():
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == pytest.approx(0.003)
    assert signal.getsignal(signal.SIGTERM) is own_handler


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "queued"])
def test_a_test_runs_in_the_run_state_and_the_process_gets_its_own_back(inline, tmp_path, process_state):
    sut = instant_sut(inline)
    interrupted = []
    with LoadGenSession(sut, Samples(), SAMPLES, SAMPLES, offline_settings(), str(tmp_path),
                        on_interrupt=interrupted.append) as session:
        session.run()
    seen = sut.executor.seen
    assert seen and all(not enabled and interval == pytest.approx(SWITCH_INTERVAL_S) and handler != own_handler
                        for enabled, interval, handler in seen)
    assert_restored()
    log = session.detail_log()
    assert log.valid and log["result_validity"] == "VALID" and interrupted == []
    assert sut.samples == SAMPLES and sut.executor.closed          # the session closes the executor


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "queued"])
def test_start_test_raising_still_restores_gc_switch_interval_and_signal_handlers(inline, tmp_path, process_state):
    # LoadGen's own binding refuses settings that are not TestSettings: StartTest raises TypeError.
    with pytest.raises(TypeError):
        with LoadGenSession(instant_sut(inline), Samples(), SAMPLES, SAMPLES, "not settings", str(tmp_path),
                            on_interrupt=lambda name: None, stall_limit_s=60.0) as session:
            assert not gc.isenabled() and sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
            session.run()
    assert_restored()
    assert not session.watchdog._thread.is_alive()      # the watchdog the session started is stopped


def test_without_on_interrupt_the_signal_handlers_are_left_alone(tmp_path, process_state):
    sut = instant_sut(inline=True)
    with LoadGenSession(sut, Samples(), SAMPLES, SAMPLES, offline_settings(), str(tmp_path)) as session:
        session.run()
    assert all(handler is own_handler for _, _, handler in sut.executor.seen)
    assert_restored()
