"""One run, in four steps inside one try/finally:

    worker = prepare(cfg)                       # worker.py: benchmark, backend, dataset, samples, prepared model
    tuned = tune(cfg, worker)                   # tuning.py: threads, capacity estimate, LoadGen settings, batch
    execute(cfg, worker, tuned, results)        # the LoadGen test: SUT + executor + QSL in one session
    collect(cfg, worker, results)               # LoadGen's logs -> results.json (validity, accuracy)

A failure at any step leaves results.json with status "failed" (or "interrupted") and its one-line reason; the
backend is closed and the run folder's lock released whatever happens.

Thread layout: the main thread does every torch op (dataset ground truth, model preparation, warm-up, inference
in the inline executors); LoadGen runs `StartTest` on a thread named "loadgen" only for queued executors.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Optional

from . import executors, host, rundir, scenarios
from .config import RunConfig
from .evaluate import evaluate_run
from .exit_codes import ExitCode, RunError
from .loadgen import settings as lg_settings
from .loadgen.detail_log import FILE as DETAIL_LOG, parse_detail_log
from .loadgen.session import LoadGenSession
from .loadgen.sut import SUT
from .loadgen.trace import trace_plan
from .loadgen.watchdog import stall_limit_s
from .report import format_table
from .results import Accuracy, Memory, PerformanceResult, Results, SutStats, Threads, Timing
from .tuning import Tuning, tune
from .worker import Worker, prepare

# Kept for callers of earlier releases: the exit codes now live in exit_codes.ExitCode.
EXIT_OK, EXIT_BAD_INPUT, EXIT_ENVIRONMENT = ExitCode.OK, ExitCode.BAD_INPUT, ExitCode.ENVIRONMENT
# The kind each SUT reported under results.json `sut.kind`, kept for readers of earlier files.
SUT_KIND = {False: "BatchingSUT", True: "GenerationSUT"}

__all__ = ["run", "prepare", "tune", "execute", "collect", "summary", "RunError", "ExitCode"]


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> Results:
    """Run one LoadGen test. Returns its results (also written to <run_dir>/results.json)."""
    started = time.perf_counter()
    prior = None if cfg.rerun else rundir.stored_result(cfg)
    if prior:
        log(f"A VALID result of this configuration is already in {cfg.run_dir}: not repeated "
            "(pass --rerun to run it again; the old logs are kept aside).")
        prior.reused = True
        return prior
    try:
        held = rundir.lock(cfg)     # also released when this process ends
        moved = rundir.prepare(cfg)
    except rundir.RunDirError as exc:
        raise RunError(str(exc)) from None
    if moved:
        log(f"Previous contents of the run folder kept in {moved}")

    results = Results(
        benchmark=cfg.model, loadgen_key=cfg.spec.loadgen_key, scenario=cfg.scenario, mode=cfg.mode,
        run_style=cfg.run_style, device=cfg.device, precision=cfg.precision, model_size=cfg.size,
        batch_size=cfg.batch_size, sut_name=cfg.sut_name, run_dir=cfg.run_dir, status="running",
        valid=False, fingerprint=cfg.fingerprint(), command=["dummy-harness"] + cfg.to_argv())
    results.write()   # a crash that kills the process leaves "running": never mistaken for a result
    worker: Optional[Worker] = None
    backend = None
    try:
        # Remote workers (--executor=ray): connected first, so that a dead cluster fails before any dataset work;
        # this process then prepares the dataset and a stand-in for their backend, which starts them.
        backend = executors.driver_backend(cfg, log)
        worker = prepare(cfg, log, backend=backend)
        results.environment = host.environment()
        results.dataset = {"path": worker.dataset.path,
                           **{k: v for k, v in worker.dataset.meta.items() if k != "arrays"}}
        results.backend = {**worker.backend.describe(),
                           **({"calibration_set": worker.calibration_set} if worker.calibration_set else {})}
        tuned = tune(cfg, worker)
        _record_tuning(results, tuned)
        execute(cfg, worker, tuned, results)
        # Again after the test: what the backend decided while serving (where it staged the samples) is part of it.
        results.backend = {**results.backend, **worker.backend.describe()}
        collect(cfg, worker, results)
        results.exit_code = ExitCode.OK if results.error_count == 0 else ExitCode.LOADGEN_ERRORS
    except RunError as exc:
        results.fail("failed", str(exc), exc.code)
        raise
    except KeyboardInterrupt:
        results.fail("interrupted", "stopped by SIGINT", ExitCode.INTERRUPTED)
        raise
    except BaseException as exc:
        results.fail("failed", f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL_ERROR)
        raise
    finally:
        if worker is not None:
            worker.close()
        elif backend is not None:
            backend.close()
        if results.timing_s is not None:
            results.timing_s.total = round(time.perf_counter() - started, 3)
        results.write()
        held.close()
    return results


def _record_tuning(results: Results, tuned: Tuning) -> None:
    results.environment.torch_num_threads = tuned.torch_threads
    results.thread_choice = tuned.thread_choice
    results.capacity_estimate = tuned.capacity_estimate
    results.loadgen_settings = {**tuned.settings_facts, "requested": lg_settings.summary_settings(tuned.settings)}
    results.server_batching = tuned.server_batching


def execute(cfg: RunConfig, worker: Worker, tuned: Tuning, results: Results) -> None:
    """The LoadGen test: the SUT hands LoadGen's queries to the executor, whose answers go back to LoadGen."""
    scenario = scenarios.get(cfg.scenario)
    settings = tuned.settings
    total = lg_settings.qsl_total(cfg)
    perf_count = lg_settings.performance_sample_count(settings, total)
    audit = _audit_config(cfg, results)
    tokens = bool(settings.use_token_latencies)
    plan = executors.ExecutionPlan(worker, tuned.max_batch, tuned.compute_threads,
                                   stream_first_token=tokens and not scenario.one_query, report_tokens=tokens)
    executor = executors.build(executors.choose(cfg.executor, scenario, plan), plan)
    sut = SUT(executor, plan.stream_first_token, plan.report_tokens)
    sut.on_failure = lambda reason: _abort(results, "failed", reason, ExitCode.SUT_FAILURE)
    results.watchdog_s = cfg.watchdog_s or stall_limit_s(settings, scenario)
    # The report's per-query charts come from LoadGen's own trace; it grows per sample, hence the plan's limit.
    trace = False
    if cfg.report and cfg.mode == "performance":
        results.loadgen_trace = trace_plan(settings, scenario)
        trace = results.loadgen_trace["enabled"]

    t0 = time.perf_counter()
    stolen_at_start = host.cpu_stolen_s()
    with LoadGenSession(sut, worker.store, total, perf_count, settings, cfg.run_dir, audit, summary_to_stdout=True,
                        stall_limit_s=results.watchdog_s,
                        on_stall=lambda reason: _abort(results, "failed", reason, ExitCode.WATCHDOG),
                        on_interrupt=lambda signal_name: _abort(results, "interrupted", f"stopped by {signal_name}",
                                                                ExitCode.INTERRUPTED),
                        progress=cfg.progress, trace=trace, scenario=scenario) as session:
        session.run()
        # RSS once the samples are loaded and the first query arrived, and at the end: a leak shows as growth.
        results.memory_mb = Memory(rss_at_first_query=sut.rss_first_query, rss_at_end=host.rss_mb(),
                                   peak_rss=host.peak_rss_mb())
    results.executor = executor.describe()
    remote = cfg.executor != "local"       # the compute ran on the executor's workers (results.executor)
    results.threads = Threads(compute_threads=0 if remote else tuned.compute_threads,
                              first_compute_thread="none (remote workers)" if remote else "main",
                              loadgen="thread 'loadgen'" if executor.queued else "main (inline)",
                              torch_threads_per_compute_thread=0 if remote else tuned.torch_threads)
    results.timing_s = Timing(loadgen=round(time.perf_counter() - t0, 3))
    stolen_at_end = host.cpu_stolen_s()
    results.host_cpu_stolen_s = (None if stolen_at_start is None or stolen_at_end is None
                                 else round(stolen_at_end - stolen_at_start, 2))
    generative = worker.bench.generative
    stats = executor.stats
    results.sut = SutStats(kind=SUT_KIND[generative], batches=stats.batches, samples=sut.samples,
                           compute_busy_s=round(stats.busy_s, 3), max_batch=tuned.max_batch, qsl_total=total,
                           performance_sample_count=perf_count)
    if generative:
        results.sut.generated_tokens, results.sut.first_tokens_sent = stats.tokens, sut.first_tokens_sent
        results.sut.streaming, results.sut.n_tokens_reported = plan.stream_first_token, plan.report_tokens


def _audit_config(cfg: RunConfig, results: Results) -> str:
    """The audit.config LoadGen reads: a compliance test's official one, copied into the run folder; otherwise a
    path that cannot exist, so an audit.config in the working directory changes nothing."""
    if not cfg.compliance_test:
        return os.path.join(cfg.run_dir, "no-audit.config")
    from .submission import compliance
    try:
        audit = compliance.stage_audit_config(cfg.inference_src, cfg.compliance_test, cfg.spec.loadgen_key,
                                              cfg.run_dir, cfg.submission_round)
    except (compliance.ComplianceError, OSError) as exc:
        raise RunError(str(exc), ExitCode.BAD_INPUT) from None
    results.compliance_test = {"test": cfg.compliance_test, "audit_config": audit}
    return audit


def _abort(results: Results, status: str, reason: str, code: ExitCode) -> None:
    """End a run LoadGen cannot finish honestly: record why, keep the logs written so far, exit at once.
    LoadGen's StartTest cannot be cancelled and waits for answers we will not make up, hence os._exit."""
    results.fail(status, reason, code)
    try:
        results.write()
    finally:
        print(f"error: run {status}: {reason} (logs so far kept in {results.run_dir})", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def collect(cfg: RunConfig, worker: Worker, results: Results) -> None:
    """LoadGen's logs of the run folder into the results: errors, validity and the figure of merit, or the
    accuracy verdict in the official form."""
    detail_path = os.path.join(cfg.run_dir, DETAIL_LOG)
    if not os.path.isfile(detail_path):
        results.status, results.failure, results.error_count = "failed", "LoadGen wrote no mlperf_log_detail.txt", 1
        return
    detail = parse_detail_log(detail_path)
    results.errors = detail.errors
    results.error_count = len(detail.errors)
    results.warning_count = len(detail.warnings)
    results.settings_used = detail.settings_used()
    results.status = "ok"
    scenario = scenarios.get(cfg.scenario)
    if cfg.mode == "performance":
        name, unit, value, extras = detail.figure_of_merit(scenario)
        results.result = PerformanceResult(name, unit, value, extras)
        results.validity = detail.validity
        results.invalid_reason = detail.invalid_reason()
        results.early_stopping_met = detail.get("early_stopping_met")
        results.latency_ms = detail.latency_ms(per_query=scenario.per_query_latency)
        tokens = detail.token_latencies_ms()
        if tokens:
            results.token_latency_ms = tokens
            results.token_latency_bounds_ms = detail.token_latency_bounds_ms()
        results.valid = detail.valid
    else:
        # LoadGen's accuracy run covers the first effective_accuracy_sample_count samples of the QSL at most
        # (gpt-oss-120b's official conf: 4395 of its 6396).
        total = lg_settings.qsl_total(cfg)
        expected = min(total, int(detail.get("effective_accuracy_sample_count") or total))
        report = evaluate_run(worker.bench, cfg.run_dir, worker.dataset.arrays, expected)
        results.accuracy = Accuracy(**report.to_json())
        results.accuracy_lines = report.official_lines
        results.validity = "PASS" if report.passed else "FAIL"
        results.valid = report.passed and not detail.errors
    if detail.errors:
        results.status = "failed"
        results.failure = f"LoadGen logged {len(detail.errors)} error(s): {detail.errors[0]}"


def summary(results: Results) -> str:
    text = format_table(results)
    stolen = results.host_cpu_stolen_s
    if results.validity == "INVALID" and stolen is not None and stolen > host.NOTABLE_STEAL_S:
        seconds = (results.timing_s.loadgen if results.timing_s else None) or 0
        cores = (results.environment.cpu_count if results.environment else None) or 1
        share = f" ({100 * stolen / (seconds * cores):.0f}% of its cores' time)" if seconds else ""
        text += (f"\nnote: the host took {stolen:.1f} s of CPU from this virtual machine during the run{share}: "
                 "on a shared VM that alone can break a latency bound")
    return text
