"""One run: config -> dataset -> backend -> LoadGen settings -> SUT + QSL -> LoadGen session -> results.json.

Thread layout: the calling (main) thread does every torch op (dataset ground truth, model preparation, warm-up,
inference); LoadGen runs `StartTest` on a thread named "loadgen" whose callbacks only enqueue or copy numpy rows.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Optional

from . import __version__, models, rundir
from . import backends as backend_registry
from .config import RunConfig
from .dataset import Dataset, DatasetError, open_dataset
from .evaluate import evaluate_run
from .loadgen import settings as lg_settings
from .loadgen.generation import GenerationSUT, one_query, sustained_generation_rate
from .loadgen.detail_log import FILE as DETAIL_LOG, parse_detail_log
from .loadgen.qsl import SampleStore
from .loadgen.session import LoadGenSession
from .loadgen.sut import (BatchingSUT, batch_times_ms, estimate_capacity, fastest_thread_count,
                          latency_bounded_batch, one_batch, rss_mb, sustained_throughput, thread_candidates)
from .loadgen.trace import trace_plan
from .loadgen.watchdog import stall_limit_s
from .report import format_table
from .results import Accuracy, Environment, Memory, PerformanceResult, Results, SutStats, Threads, Timing

# Exit codes of the CLI (and of the process CM runs).
EXIT_OK, EXIT_LOADGEN_ERRORS, EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_SUT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_WATCHDOG = 5
# Offline capacity estimate of fast/valid runs: seconds of sustained compute, and samples it draws from.
ESTIMATE_SECONDS = {"fast": 3.0, "valid": 8.0}
ESTIMATE_SAMPLES = 1024
ESTIMATE_GENERATED = {"fast": 64, "valid": 256}      # prompts the LLM Offline estimate generates


class RunError(RuntimeError):
    """The run cannot start here (device, disk, dataset); str() is one line; `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_ENVIRONMENT):
        super().__init__(message)
        self.code = code


# ---- the run ----------------------------------------------------------------------------------------------------
def _environment() -> Environment:
    import mlperf_loadgen  # noqa: F401
    import numpy
    import torch
    from importlib.metadata import PackageNotFoundError, version

    try:
        lg_version = version("mlcommons-loadgen")
    except PackageNotFoundError:
        lg_version = "unknown"
    return Environment(
        harness_version=__version__, python=sys.version.split()[0], torch=torch.__version__,
        numpy=numpy.__version__, loadgen=lg_version, cpu_count=os.cpu_count(),
        torch_num_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
        env={k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "MKL_", "KMP_", "CUDA_"))})


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, a cgroup cpuset, `docker run --cpuset-cpus`),
    not the machine's count. Two runs pinned to one core each must not each start a pool of every core: OpenMP
    teams that outnumber the cores wait on descheduled threads at every op (measured: a 15 s run took minutes)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):        # no affinity call on this platform
        return os.cpu_count() or 1


def thread_layout(cfg: RunConfig):
    """(compute threads, torch threads each). Offline batches of fixed-compute models go to one worker per core
    with a one-thread torch pool each (for small models two batches on one core each beat one batch on two:
    bench/ reference_style). Server leaves one core to LoadGen's issuing thread and the hand-off: with every
    core in torch's pool, each arrival preempts an OpenMP worker and the whole op waits for it (measured on
    2 cores: p99 21-26 ms with one torch thread, 24-124 ms with two, same load). Everything else runs on
    the main thread with all cores (those it may use: usable_cores); for SingleStream and MultiStream, run() then
    times smaller pools too and keeps the fastest (loadgen/sut.py fastest_thread_count). --threads=N keeps one
    compute thread with N torch threads."""
    cores = usable_cores()
    if cfg.threads is None and cfg.scenario == "Offline" and cfg.device == "cpu" and \
            not cfg.spec.generative:
        return cores, 1
    if cfg.threads is None and cfg.scenario == "Server" and cfg.device == "cpu":
        return 1, max(1, cores - 1)
    return 1, cfg.threads or cores


def cpu_stolen_s() -> Optional[float]:
    """CPU time the hypervisor has taken from this (virtual) machine since boot, all cores (/proc/stat
    'steal'); None where the kernel does not say. Taken during a run, it is why a latency bound can fail
    on a shared VM with nothing wrong in the harness."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> Results:
    """Run one LoadGen test. Returns its results (also written to <run_dir>/results.json)."""
    t_start = time.perf_counter()
    prior = None if cfg.rerun else rundir.stored_result(cfg)
    if prior:
        log(f"A VALID result of this configuration is already in {cfg.run_dir}: not repeated "
            "(pass --rerun to run it again; the old logs are kept aside).")
        prior.reused = True
        return prior
    try:
        held = rundir.lock(cfg)     # released when this process ends
        moved = rundir.prepare(cfg)
    except rundir.RunDirError as exc:
        raise RunError(str(exc)) from None
    if moved:
        log(f"Previous contents of the run folder kept in {moved}")

    # LoadGen reads the audit.config given to StartTest: a compliance test's official one, copied into the run
    # folder; otherwise a path that cannot exist, so an audit.config in the working directory changes nothing.
    audit = os.path.join(cfg.run_dir, "no-audit.config")
    if cfg.compliance_test:
        from .submission import compliance
        try:
            audit = compliance.stage_audit_config(cfg.inference_src, cfg.compliance_test, cfg.spec.loadgen_key,
                                                  cfg.run_dir)
        except (compliance.ComplianceError, OSError) as exc:
            raise RunError(str(exc), EXIT_BAD_INPUT) from None

    results = Results(
        benchmark=cfg.model, loadgen_key=cfg.spec.loadgen_key, scenario=cfg.scenario, mode=cfg.mode,
        run_style=cfg.run_style, device=cfg.device, precision=cfg.precision, model_size=cfg.size,
        batch_size=cfg.batch_size, sut_name=cfg.sut_name, run_dir=cfg.run_dir, status="running",
        valid=False, fingerprint=cfg.fingerprint(), command=["dummy-harness"] + cfg.to_argv(),
        compliance_test={"test": cfg.compliance_test, "audit_config": audit} if cfg.compliance_test else None)
    results.write()   # a crash leaves "running": never mistaken for a result

    import torch

    workers, threads = thread_layout(cfg)
    torch.set_num_threads(threads)
    results.environment = _environment()

    bench = models.load(cfg.spec, cfg.size)
    too_big = bench.fits()
    if too_big:
        raise RunError(too_big)
    try:
        backend = backend_registry.load(cfg.backend, cfg.implementation_repo)
    except backend_registry.PluginError as exc:
        raise RunError(str(exc)) from None
    if cfg.implementation_repo and not backend.plugin:
        log(f"No {backend_registry.PLUGIN_FILE} in {cfg.implementation_repo}: using the built-in {cfg.backend} backend")
    reason = type(backend).unavailable_reason(cfg.device)
    if reason:
        raise RunError(reason)
    model = bench.build_model(cfg.dataset_dir)     # a fitted stand-in is cached beside the datasets
    try:
        dataset = open_dataset(bench, model, cfg.samples, cfg.seed, cfg.dataset_dir,
                               allow_create=not cfg.skip_preprocess)
    except DatasetError as exc:
        raise RunError(str(exc)) from None
    results.dataset = {"path": dataset.path, **{k: v for k, v in dataset.meta.items() if k != "arrays"}}

    store = SampleStore(bench, dataset.arrays, dataset.count)
    warm = min(dataset.count, 4 * cfg.batch_size)
    store.load(range(warm))
    # int8 ranges come from a calibration split that no evaluated sample is part of (MLPerf's calibration lists
    # are disjoint from the validation sets); other precisions warm up on the first loaded samples.
    calibration, calibration_set = bench.calibration_batches(store.ram, cfg.batch_size, warm), None
    if cfg.precision == "uint8":
        calibration, calibration_set = bench.calibration_split(cfg.seed, cfg.batch_size)
    from .backends.base import BackendError
    backend.cache_dir = os.path.dirname(dataset.path)     # where a backend may cache artefacts (e.g. exports)
    try:
        backend.load(model, cfg.device, cfg.precision, calibration)
    except BackendError as exc:
        raise RunError(str(exc)) from None
    except Exception as exc:   # noqa: BLE001 - a (vendor) backend failing to prepare: its reason, one line
        raise RunError(f"the {backend.name} backend failed to prepare the model: {type(exc).__name__}: {exc}",
                       EXIT_SUT_FAILURE) from None
    results.backend = {**backend.describe(), **({"calibration_set": calibration_set} if calibration_set else {})}

    if cfg.threads is None and cfg.device == "cpu" and cfg.scenario in ("SingleStream", "MultiStream") and \
            threads > 1 and backend.follows_torch_threads:
        # One query at a time: the pool size that answers one fastest (all cores is not always it: see
        # fastest_thread_count). --threads=N skips the choice. An LLM's query is generated to the end, 3 times.
        work = (one_query(bench, backend, store, cfg.batch_size) if bench.generative else
                one_batch(bench, backend, store.ram, cfg.batch_size))
        threads, tried = fastest_thread_count(work, thread_candidates(threads), repeats=3 if bench.generative else 7)
        results.environment.torch_num_threads = threads
        results.thread_choice = {"batch": cfg.batch_size, "predict_ms": {str(n): round(ms, 3) for n, ms in
                                                                         tried.items()}, "torch_threads": threads}

    estimate_qps = estimate_latency = None
    if cfg.run_style != "test" and cfg.scenario == "Offline" and bench.generative and not (
            cfg.target_qps or cfg.user_conf):
        # A short Offline run of the LLM engine itself: too few samples would end a valid run early (INVALID).
        loaded = min(dataset.count, ESTIMATE_GENERATED[cfg.run_style])
        store.load(range(loaded))
        estimate_qps = sustained_generation_rate(bench, backend, store, cfg.batch_size, loaded)
        results.capacity_estimate = {"samples_per_second": round(estimate_qps, 2), "samples": loaded}
    elif cfg.run_style != "test" and not (cfg.target_qps or cfg.target_latency or cfg.user_conf or bench.generative):
        if cfg.scenario == "Offline":
            # LoadGen sizes the Offline query from this rate: measure it as the run will sustain it, with every
            # compute thread busy over as many loaded samples as LoadGen keeps (up to resnet50's official 1024).
            loaded = min(dataset.count, ESTIMATE_SAMPLES)
            store.load(range(loaded))
            mean, estimate_qps = sustained_throughput(bench, backend, store.ram, loaded, cfg.batch_size, workers,
                                                      ESTIMATE_SECONDS[cfg.run_style])
            results.capacity_estimate = {"samples_per_second": round(mean, 2), "peak": round(estimate_qps, 2),
                                         "workers": workers, "seconds": ESTIMATE_SECONDS[cfg.run_style],
                                         "samples": loaded}
        else:
            estimate_qps, estimate_latency = estimate_capacity(bench, backend, store.ram, cfg.batch_size)
            if cfg.scenario == "MultiStream":
                estimate_latency = 8 * 1e3 / estimate_qps
    try:
        settings, facts = lg_settings.build(cfg, cfg.run_dir, estimate_qps, estimate_latency)
    except lg_settings.SettingsError as exc:
        raise RunError(str(exc), EXIT_BAD_INPUT) from None
    results.loadgen_settings = {**facts, "requested": lg_settings.summary_settings(settings)}

    max_batch = cfg.batch_size
    if cfg.scenario == "Server" and not bench.generative:
        bound_ms = settings.server_target_latency_ns / 1e6
        times = batch_times_ms(bench, backend, store.ram, cfg.batch_size)
        max_batch = latency_bounded_batch(times, bound_ms)
        results.server_batching = {"latency_bound_ms": bound_ms, "batch_times_ms": times, "max_batch": max_batch}
    _run_loadgen(cfg, bench, backend, store, settings, max_batch, results, log, audit)
    results.timing_s.total = round(time.perf_counter() - t_start, 3)
    # Again after the test: what the backend decided while serving (where it staged the samples) is part of it.
    results.backend = {**results.backend, **backend.describe()}
    backend.close()
    _collect(cfg, bench, dataset, results)
    results.exit_code = EXIT_OK if results.error_count == 0 else EXIT_LOADGEN_ERRORS
    results.write()
    held.close()
    return results


def _run_loadgen(cfg: RunConfig, bench, backend, store: SampleStore, settings, max_batch: int,
                 results: Results, log: Callable[[str], None], audit: str) -> None:
    total = lg_settings.qsl_total(cfg)
    perf_count = lg_settings.performance_sample_count(settings, total)
    # Server hands queries to the main thread through a queue (so it can batch them); every other scenario is
    # answered inline, in LoadGen's callback, with StartTest itself on the main thread (see loadgen/sut.py).
    inline = cfg.scenario != "Server"
    if bench.generative:
        tokens = bool(settings.use_token_latencies)
        sut = GenerationSUT(bench, backend, store, max_batch, stream_first_token=tokens and cfg.scenario != "Offline",
                            report_tokens=tokens, inline=inline)
    else:
        sut = BatchingSUT(bench, backend, store, max_batch, inline=inline, workers=thread_layout(cfg)[0])
    sut.on_failure = lambda reason: _abort(results, "failed", reason, EXIT_SUT_FAILURE)
    results.watchdog_s = cfg.watchdog_s or stall_limit_s(settings, cfg.scenario)
    # The report's per-query charts come from LoadGen's own trace; it grows per sample, hence the plan's limit.
    trace = False
    if cfg.report and cfg.mode == "performance":
        results.loadgen_trace = trace_plan(settings, cfg.scenario)
        trace = results.loadgen_trace["enabled"]

    t0 = time.perf_counter()
    stolen_at_start = cpu_stolen_s()
    with LoadGenSession(sut, store, total, perf_count, settings, cfg.run_dir, audit, summary_to_stdout=True,
                        stall_limit_s=results.watchdog_s,
                        on_stall=lambda reason: _abort(results, "failed", reason, EXIT_WATCHDOG),
                        on_interrupt=lambda signal_name: _abort(results, "interrupted", f"stopped by {signal_name}",
                                                                EXIT_INTERRUPTED),
                        progress=cfg.progress, trace=trace) as session:
        session.run()
        # RSS once the samples are loaded and the first query arrived, and at the end: a leak shows as growth.
        results.memory_mb = Memory(rss_at_first_query=sut.rss_first_query, rss_at_end=rss_mb(),
                                   peak_rss=_peak_rss_mb())
    results.threads = Threads(compute_threads=getattr(sut, "workers", 1), first_compute_thread="main",
                              loadgen="main (inline)" if inline else "thread 'loadgen'",
                              torch_threads_per_compute_thread=results.environment.torch_num_threads)
    results.timing_s = Timing(loadgen=round(time.perf_counter() - t0, 3))
    stolen_at_end = cpu_stolen_s()
    results.host_cpu_stolen_s = (None if stolen_at_start is None or stolen_at_end is None
                                 else round(stolen_at_end - stolen_at_start, 2))
    results.sut = SutStats(kind=type(sut).__name__, batches=sut.batches, samples=sut.samples,
                           compute_busy_s=round(sut.busy_s, 3), max_batch=max_batch, qsl_total=total,
                           performance_sample_count=perf_count)
    if bench.generative:
        results.sut.generated_tokens, results.sut.first_tokens_sent = sut.tokens, sut.first_tokens_sent
        results.sut.streaming, results.sut.n_tokens_reported = sut.stream_first_token, sut.report_tokens


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)    # kB on Linux


def _abort(results: Results, status: str, reason: str, code: int) -> None:
    """End a run LoadGen cannot finish honestly: record why, keep the logs written so far, exit at once.
    LoadGen's StartTest cannot be cancelled and waits for answers we will not make up, hence os._exit."""
    results.status, results.failure, results.valid, results.exit_code = status, reason, False, code
    try:
        results.write()
    finally:
        print(f"error: run {status}: {reason} (logs so far kept in {results.run_dir})", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _collect(cfg: RunConfig, bench, dataset: Dataset, results: Results) -> None:
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
    if cfg.mode == "performance":
        name, unit, value, extras = detail.figure_of_merit(cfg.scenario)
        results.result = PerformanceResult(name, unit, value, extras)
        results.validity = detail.validity
        results.invalid_reason = detail.invalid_reason()
        results.early_stopping_met = detail.get("early_stopping_met")
        results.latency_ms = detail.latency_ms(per_query=cfg.scenario == "MultiStream")
        tokens = detail.token_latencies_ms()
        if tokens:
            results.token_latency_ms = tokens
            results.token_latency_bounds_ms = detail.token_latency_bounds_ms()
        results.valid = detail.valid
    else:
        report = evaluate_run(bench, cfg.run_dir, dataset.arrays, lg_settings.qsl_total(cfg))
        results.accuracy = Accuracy(**report.to_json())
        results.accuracy_lines = report.official_lines
        results.validity = "PASS" if report.passed else "FAIL"
        results.valid = report.passed and not detail.errors
    if detail.errors:
        results.status = "failed"
        results.failure = f"LoadGen logged {len(detail.errors)} error(s): {detail.errors[0]}"


# Stolen CPU above which an INVALID latency verdict is reported as the host's doing, not only the run's.
NOTABLE_STEAL_S = 0.3


def summary(results: Results) -> str:
    text = format_table(results)
    stolen = results.host_cpu_stolen_s
    if results.validity == "INVALID" and stolen is not None and stolen > NOTABLE_STEAL_S:
        seconds = (results.timing_s.loadgen if results.timing_s else None) or 0
        cores = (results.environment.cpu_count if results.environment else None) or 1
        share = f" ({100 * stolen / (seconds * cores):.0f}% of its cores' time)" if seconds else ""
        text += (f"\nnote: the host took {stolen:.1f} s of CPU from this virtual machine during the run{share}: "
                 "on a shared VM that alone can break a latency bound")
    return text
