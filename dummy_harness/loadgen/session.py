"""One LoadGen test, owned by one context manager: the harness's run and bench/ both go through it.

    with LoadGenSession(sut, store, total, performance_count, settings, log_dir) as session:
        session.run()

On entry it builds LoadGen's SUT and QSL and puts the process in its run state; `run()` starts the watchdog
and the test (StartTest on this thread for inline SUTs, on a thread named "loadgen" while this one serves
queued ones); on exit, whatever happened, it stops the watchdog, restores the process state and destroys the
SUT and QSL. The run state (loadgen-facts.md):
  * gc collected, frozen and disabled: the run allocates only short-lived objects, and a full collection
    mid-run would be a latency spike;
  * a short switch interval: LoadGen's thread needs the GIL to hand a query over while the compute thread
    takes it back between torch ops, and the interval bounds how long a query waits for it;
  * SIGINT/SIGTERM handlers (when `on_interrupt` is given) that ask the SUT to stop instead of unwinding
    through LoadGen's C++ frames.
With `progress` (progress.py) a status line shows during the test; it ends before anything else is printed:
before LoadGen's summary (which the session prints from the summary file once StartTest has returned, since
LoadGen's own copy to stdout would land in the middle of the line), and before the message of a run aborted by
the SUT, the watchdog or a signal.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from typing import Callable, List, Optional

from .. import scenarios
from . import progress as progress_line
from .detail_log import DetailLog, parse_detail_log
from .qsl import SampleStore, construct
from .watchdog import Watchdog

SWITCH_INTERVAL_S = 0.0002
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LoadGenSession:
    """`sut`: the harness's SUT (loadgen/sut.py); the session closes its executor on exit. `stall_limit_s`: end
    the run through `on_stall(reason)` when no response comes for that long while queries are outstanding (None:
    no watchdog). `on_interrupt(signal name)`: called once the SUT
    stopped after SIGINT/SIGTERM (None: the signals keep their handlers). `progress`: auto, lines, inplace
    or off (progress.py), written to `progress_stream` (default stdout). `trace`: LoadGen writes its per-sample
    trace (off by default: it grows by hundreds of bytes a sample). `scenario`: the harness's scenario
    (scenarios.py; default: the one LoadGen's settings name)."""

    def __init__(self, sut, store: SampleStore, total: int, performance_count: int, settings, log_dir: str,
                 audit_config: Optional[str] = None, summary_to_stdout: bool = False,
                 stall_limit_s: Optional[float] = None, on_stall: Optional[Callable[[str], None]] = None,
                 on_interrupt: Optional[Callable[[str], None]] = None, progress: str = "off",
                 progress_stream=None, trace: bool = False, scenario=None):
        self.sut = sut
        self.store, self.total, self.performance_count = store, total, performance_count
        self.settings = settings
        self.log_dir = log_dir
        # LoadGen reads the audit.config it is given; a path that cannot exist keeps one in the working
        # directory from changing the run.
        self.audit_config = audit_config or os.path.join(log_dir, "no-audit.config")
        self.summary_to_stdout = summary_to_stdout
        self.progress: Optional[progress_line.Progress] = None
        if progress != "off":
            plan = progress_line.plan(settings, scenario or scenarios.get(settings.scenario.name), total,
                                      performance_count, _accuracy(settings),
                                      getattr(sut, "stream_first_token", False))
            self.progress = progress_line.Progress(plan, sut, progress, progress_stream)
        if stall_limit_s:
            stalled = on_stall or _ignore
            self.watchdog = Watchdog(stall_limit_s, lambda reason: self._ending(stalled, reason))
        else:
            self.watchdog = None
        self.on_interrupt = on_interrupt
        self.trace = trace                           # LoadGen's mlperf_log_trace.json (loadgen/trace.py)
        self.interrupted_by: List[str] = []          # names of the signals received
        self._lg_sut = self._lg_qsl = None
        self._saved_handlers = {}
        self._saved_interval: Optional[float] = None
        self._gc_was_enabled = True
        self._thread: Optional[threading.Thread] = None

    # ---- the run state ----------------------------------------------------------------------------------------
    def __enter__(self) -> "LoadGenSession":
        import mlperf_loadgen as lg

        if getattr(self.sut, "network", False):
            # LoadGen's SUT of the network division: its Name() is the SUT's name(), a round trip to the workers.
            self._lg_sut = lg.ConstructQDL(self.sut.issue_samples, self.sut.flush, self.sut.name)
            self._destroy_sut = lg.DestroyQDL
        else:
            self._lg_sut = lg.ConstructFastSUT(self.sut.issue, self.sut.flush)
            self._destroy_sut = lg.DestroyFastSUT
        self._lg_qsl = construct(self.store, self.total, self.performance_count)
        try:
            if self.watchdog:
                self.sut.watchdog = self.watchdog
            if self.progress:
                self.progress.attach()
                failed = self.sut.on_failure
                self.sut.on_failure = lambda reason: self._ending(failed, reason)
            if self.on_interrupt:
                self.sut.on_interrupt = lambda: self._ending(self.on_interrupt, self.interrupted_by[0])
                self._saved_handlers = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
            self._gc_was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()
            gc.disable()
            self._saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc) -> None:
        import mlperf_loadgen as lg

        try:
            if self.progress:
                self.progress.end()
            if self.watchdog:
                self.watchdog.stop()
            if self._saved_interval is not None:
                sys.setswitchinterval(self._saved_interval)
                self._saved_interval = None
            if self._gc_was_enabled:
                gc.enable()
            gc.unfreeze()
            for s, handler in self._saved_handlers.items():
                signal.signal(s, handler)
            self._saved_handlers = {}
        finally:
            # Not while StartTest still runs on them (serving failed): the ending process takes them.
            if self._thread is None or not self._thread.is_alive():
                try:
                    executor = getattr(self.sut, "executor", None)      # bench's bare SUTs have none
                    if executor is not None:
                        executor.close()
                finally:
                    if self._lg_qsl is not None:
                        lg.DestroyQSL(self._lg_qsl)
                    if self._lg_sut is not None:
                        self._destroy_sut(self._lg_sut)
                    self._lg_sut = self._lg_qsl = None

    def _ending(self, then: Callable[[str], None], reason: str) -> None:
        """The run is being ended (SUT failure, stall, signal): end the progress line first, then `then`."""
        if self.progress:
            self.progress.end()
        then(reason)

    def _on_signal(self, signum, _frame) -> None:
        self.interrupted_by.append(signal.Signals(signum).name)
        self.sut.stop_requested.set()

    # ---- the test ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        """The LoadGen test, to its end. An exception of StartTest (or of serving) is raised here."""
        if self.watchdog:
            self.watchdog.start()
        if self.progress:
            self.progress.start()
        if getattr(self.sut, "inline", False):
            self._start_test()
            self._ended()
        else:
            failed: List[BaseException] = []

            def loadgen_thread() -> None:
                try:
                    self._start_test()
                except BaseException as exc:   # noqa: BLE001 - raised again on the thread that owns the run
                    failed.append(exc)

            self._thread = threading.Thread(target=loadgen_thread, name="loadgen", daemon=True)
            self._thread.start()
            # An exception while serving leaves LoadGen waiting for answers that will not come: it is raised
            # without joining the thread (and __exit__ then leaves LoadGen's objects to the ending process).
            self._serve()
            if self.interrupted_by:
                self.sut.on_interrupt()
            self._thread.join()
            if failed:
                raise failed[0]
            self._ended()
        if self.interrupted_by:
            self.sut.on_interrupt()

    def _ended(self) -> None:
        """StartTest returned: the final progress line, then LoadGen's summary."""
        if self.progress:
            self.progress.finish()
        if self.summary_to_stdout:
            try:
                with open(os.path.join(self.log_dir, "mlperf_log_summary.txt")) as f:
                    sys.stdout.write(f.read())
                sys.stdout.flush()
            except OSError:
                pass        # LoadGen wrote none: the results say why

    def _serve(self) -> None:
        from ..executors.base import SUTFailure

        try:
            self.sut.serve()
        except SUTFailure as exc:
            self.sut.on_failure(str(exc))

    def _start_test(self) -> None:
        import mlperf_loadgen as lg

        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = self.log_dir
        log_settings.log_output.copy_summary_to_stdout = False     # printed by _ended, after the progress line
        log_settings.enable_trace = self.trace
        try:
            lg.StartTestWithLogSettings(self._lg_sut, self._lg_qsl, self.settings, log_settings, self.audit_config)
        finally:
            self.sut.finish()           # lets a serving thread return

    def detail_log(self) -> DetailLog:
        return parse_detail_log(self.log_dir)


def _ignore(_reason: str) -> None:
    pass


def _accuracy(settings) -> bool:
    import mlperf_loadgen as lg

    return settings.mode == lg.TestMode.AccuracyOnly
