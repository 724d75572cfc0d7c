"""The LoadGen session: the process is in its run state during a test (gc off, short switch interval, signal
handlers of the run) and back in its own state afterwards, also when StartTest raises; LoadGen's SUT and QSL
are built and destroyed by it. Real LoadGen throughout, with a SUT that answers every sample at once."""
import gc
import signal
import sys
import threading

import numpy as np
import pytest

from dummy_harness.loadgen.session import SWITCH_INTERVAL_S, LoadGenSession

SAMPLES = 16


class InstantSUT:
    """Answers each sample with 4 zero bytes inside LoadGen's callback (inline) or from `serve` (queued), and
    records the process state it saw while LoadGen ran."""

    def __init__(self, inline: bool):
        import mlperf_loadgen as lg

        self.lg, self.inline = lg, inline
        self.data = np.zeros(1, np.float32)
        self.stop_requested = threading.Event()
        self.on_interrupt = lambda: None
        self.on_failure = lambda reason: pytest.fail(reason)
        self.watchdog = None
        self.seen = []
        self.pending = []
        self.done = threading.Event()

    def issue(self, ids, indices):
        self.seen.append((gc.isenabled(), sys.getswitchinterval(), signal.getsignal(signal.SIGTERM)))
        if self.inline:
            self.answer(list(ids))
        else:
            self.pending.append(list(ids))

    def answer(self, ids):
        lg, ptr = self.lg, self.data.ctypes.data
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, ptr, 4) for i in ids])

    def flush(self):
        pass

    def serve(self):
        while not self.done.is_set() or self.pending:
            while self.pending:
                self.answer(self.pending.pop(0))
            self.done.wait(0.001)

    def finish(self):
        self.done.set()


class Samples:
    """The QSL side: nothing to load, the SUT answers without inputs."""

    def load(self, indices):
        pass

    def unload(self, indices):
        pass


def offline_settings():
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario = lg.TestScenario.Offline
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = 0
    s.min_query_count = s.max_query_count = SAMPLES
    s.offline_expected_qps = 1
    return s


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
    sut = InstantSUT(inline)
    interrupted = []
    with LoadGenSession(sut, Samples(), SAMPLES, SAMPLES, offline_settings(), str(tmp_path),
                        on_interrupt=interrupted.append) as session:
        session.run()
    assert sut.seen and all(not enabled and interval == pytest.approx(SWITCH_INTERVAL_S) and handler != own_handler
                            for enabled, interval, handler in sut.seen)
    assert_restored()
    log = session.detail_log()
    assert log.valid and log["result_validity"] == "VALID" and interrupted == []


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "queued"])
def test_start_test_raising_still_restores_gc_switch_interval_and_signal_handlers(inline, tmp_path, process_state):
    # LoadGen's own binding refuses settings that are not TestSettings: StartTest raises TypeError.
    with pytest.raises(TypeError):
        with LoadGenSession(InstantSUT(inline), Samples(), SAMPLES, SAMPLES, "not settings", str(tmp_path),
                            on_interrupt=lambda name: None, stall_limit_s=60.0) as session:
            assert not gc.isenabled() and sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
            session.run()
    assert_restored()
    assert not session.watchdog._thread.is_alive()      # the watchdog the session started is stopped


def test_without_on_interrupt_the_signal_handlers_are_left_alone(tmp_path, process_state):
    sut = InstantSUT(inline=True)
    with LoadGenSession(sut, Samples(), SAMPLES, SAMPLES, offline_settings(), str(tmp_path)) as session:
        session.run()
    assert all(handler is own_handler for _, _, handler in sut.seen)
    assert_restored()
