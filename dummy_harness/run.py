"""One run: config -> dataset -> backend -> LoadGen settings -> SUT + QSL -> LoadGen test -> results.json.

Thread layout: the calling (main) thread does every torch op (dataset ground truth, model preparation, warm-up,
inference); LoadGen runs `StartTest` on a thread named "loadgen" whose callbacks only enqueue or copy numpy rows.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

from . import __version__, models, rundir
from . import backends as backend_registry
from .config import RunConfig
from .dataset import Dataset, DatasetError, open_dataset
from .evaluate import evaluate_run
from .loadgen import settings as lg_settings
from .loadgen.generation import GenerationSUT, sustained_generation_rate
from .loadgen.qsl import SampleStore, construct
from .loadgen.watchdog import Watchdog, stall_limit_s
from .loadgen.sut import (BatchingSUT, SUTFailure, batch_times_ms, estimate_capacity, latency_bounded_batch, rss_mb,
                          sustained_throughput)
from .report import (format_table, invalid_reason, latency_ms, parse_detail_log, performance_result,
                     settings_used, token_latencies_ms, write_results)

# Exit codes of the CLI (and of the process CM runs).
SWITCH_INTERVAL_S = 0.0002
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
def _environment() -> Dict[str, Any]:
    import mlperf_loadgen  # noqa: F401
    import numpy
    import torch
    from importlib.metadata import PackageNotFoundError, version

    try:
        lg_version = version("mlcommons-loadgen")
    except PackageNotFoundError:
        lg_version = "unknown"
    return {
        "harness_version": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "numpy": numpy.__version__, "loadgen": lg_version, "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "MKL_", "KMP_", "CUDA_"))},
    }


def thread_layout(cfg: RunConfig):
    """(compute threads, torch threads each). Offline batches of fixed-compute models go to one worker per core
    with a one-thread torch pool each (for small models two batches on one core each beat one batch on two:
    bench/ reference_style). Server leaves one core to LoadGen's issuing thread and the hand-off: with every
    core in torch's pool, each arrival preempts an OpenMP worker and the whole op waits for it (measured on
    2 cores: p99 21-26 ms with one torch thread, 24-124 ms with two, same load). Everything else runs on
    the main thread with all cores. --threads=N keeps one compute thread with N torch threads."""
    cores = os.cpu_count() or 1
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


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run one LoadGen test. Returns the results dict (also written to <run_dir>/results.json)."""
    t_start = time.perf_counter()
    prior = None if cfg.rerun else rundir.stored_result(cfg)
    if prior:
        log(f"A VALID result of this configuration is already in {cfg.run_dir}: not repeated "
            "(pass --rerun to run it again; the old logs are kept aside).")
        prior["reused"] = True
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

    results: Dict[str, Any] = {
        "benchmark": cfg.model, "loadgen_key": cfg.spec.loadgen_key, "scenario": cfg.scenario, "mode": cfg.mode,
        "run_style": cfg.run_style, "device": cfg.device, "precision": cfg.precision, "model_size": cfg.size,
        "batch_size": cfg.batch_size, "sut_name": cfg.sut_name, "run_dir": cfg.run_dir, "status": "running",
        "valid": False, "fingerprint": cfg.fingerprint(), "command": ["dummy-harness"] + cfg.to_argv(),
    }
    if cfg.compliance_test:
        results["compliance_test"] = {"test": cfg.compliance_test, "audit_config": audit}
    write_results(cfg.run_dir, results)   # a crash leaves "running": never mistaken for a result

    import torch

    workers, threads = thread_layout(cfg)
    torch.set_num_threads(threads)
    results["environment"] = _environment()

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
    if cfg.device == "gpu":
        from .backends.pytorch import cuda_unavailable_reason
        reason = cuda_unavailable_reason()
        if reason:
            raise RunError(reason)
    model = bench.build_model()
    try:
        dataset = open_dataset(bench, model, cfg.samples, cfg.seed, cfg.dataset_dir,
                               allow_create=not cfg.skip_preprocess)
    except DatasetError as exc:
        raise RunError(str(exc)) from None
    results["dataset"] = {"path": dataset.path, **{k: v for k, v in dataset.meta.items() if k != "arrays"}}

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
    results["backend"] = {**backend.describe(), **({"calibration_set": calibration_set} if calibration_set else {})}

    estimate_qps = estimate_latency = None
    if cfg.run_style != "test" and cfg.scenario == "Offline" and bench.generative and not (
            cfg.target_qps or cfg.user_conf):
        # A short Offline run of the LLM engine itself: too few samples would end a valid run early (INVALID).
        loaded = min(dataset.count, ESTIMATE_GENERATED[cfg.run_style])
        store.load(range(loaded))
        estimate_qps = sustained_generation_rate(bench, backend, store, cfg.batch_size, loaded)
        results["capacity_estimate"] = {"samples_per_second": round(estimate_qps, 2), "samples": loaded}
    elif cfg.run_style != "test" and not (cfg.target_qps or cfg.target_latency or cfg.user_conf or bench.generative):
        if cfg.scenario == "Offline":
            # LoadGen sizes the Offline query from this rate: measure it as the run will sustain it, with every
            # compute thread busy over as many loaded samples as LoadGen keeps (up to resnet50's official 1024).
            loaded = min(dataset.count, ESTIMATE_SAMPLES)
            store.load(range(loaded))
            mean, estimate_qps = sustained_throughput(bench, backend, store.ram, loaded, cfg.batch_size, workers,
                                                      ESTIMATE_SECONDS[cfg.run_style])
            results["capacity_estimate"] = {"samples_per_second": round(mean, 2), "peak": round(estimate_qps, 2),
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
    results["loadgen_settings"] = {**facts, "requested": lg_settings.summary_settings(settings)}

    max_batch = cfg.batch_size
    if cfg.scenario == "Server" and not bench.generative:
        bound_ms = settings.server_target_latency_ns / 1e6
        times = batch_times_ms(bench, backend, store.ram, cfg.batch_size)
        max_batch = latency_bounded_batch(times, bound_ms)
        results["server_batching"] = {"latency_bound_ms": bound_ms, "batch_times_ms": times, "max_batch": max_batch}
    code = _run_loadgen(cfg, bench, backend, store, settings, max_batch, results, log, audit)
    results["timing_s"] = {"total": round(time.perf_counter() - t_start, 3), **results.get("timing_s", {})}
    backend.close()
    _collect(cfg, bench, dataset, results)
    results["exit_code"] = code if results["error_count"] == 0 else EXIT_LOADGEN_ERRORS
    write_results(cfg.run_dir, results)
    held.close()
    return results


def _run_loadgen(cfg: RunConfig, bench, backend, store: SampleStore, settings, max_batch: int,
                 results: Dict[str, Any], log: Callable[[str], None], audit: str) -> int:
    import mlperf_loadgen as lg

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

    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = cfg.run_dir
    log_settings.log_output.copy_summary_to_stdout = True
    log_settings.enable_trace = False

    lg_sut = lg.ConstructFastSUT(sut.issue, sut.flush)
    lg_qsl = construct(store, total, perf_count)
    limit = cfg.watchdog_s or stall_limit_s(settings, cfg.scenario)
    sut.watchdog = Watchdog(limit, lambda reason: _abort(cfg, results, "failed", reason, EXIT_WATCHDOG, log))
    results["watchdog_s"] = limit
    interrupted = []
    sut.on_failure = lambda reason: _abort(cfg, results, "failed", reason, EXIT_SUT_FAILURE, log)
    sut.on_interrupt = lambda: _abort(cfg, results, "interrupted", f"stopped by {interrupted[0]}", EXIT_INTERRUPTED,
                                      log)

    def on_signal(signum, _frame):
        interrupted.append(signal.Signals(signum).name)
        sut.stop_requested.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def start_test():
        try:
            lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log_settings, audit)
        finally:
            sut.finish()

    t0 = time.perf_counter()
    stolen_at_start = cpu_stolen_s()
    # The run allocates only short-lived objects: a full collection mid-run would be a latency spike.
    gc.collect()
    gc.freeze()
    gc.disable()
    # LoadGen's thread needs the GIL to hand a query over; the compute thread takes it back between torch ops.
    # A short switch interval bounds how long a query waits for it (loadgen-facts.md: the GIL finding).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    sut.watchdog.start()
    if inline:
        start_test()
    else:
        thread = threading.Thread(target=start_test, name="loadgen", daemon=True)
        thread.start()
        try:
            sut.serve()
        except SUTFailure as exc:
            sut.on_failure(str(exc))
        if interrupted:
            sut.on_interrupt()
        thread.join()
    if interrupted:
        sut.on_interrupt()
    sut.watchdog.stop()
    # RSS once the samples are loaded and the first query arrived, and at the end: a leak shows as growth.
    results["memory_mb"] = {"rss_at_first_query": sut.rss_first_query, "rss_at_end": rss_mb(),
                            "peak_rss": _peak_rss_mb()}
    sys.setswitchinterval(switch_interval)
    gc.enable()
    gc.unfreeze()
    for s, handler in previous.items():
        signal.signal(s, handler)
    results["threads"] = {"compute_threads": getattr(sut, "workers", 1), "first_compute_thread": "main",
                          "loadgen": "main (inline)" if inline else "thread 'loadgen'",
                          "torch_threads_per_compute_thread": results["environment"]["torch_num_threads"]}
    results["timing_s"] = {"loadgen": round(time.perf_counter() - t0, 3)}
    stolen_at_end = cpu_stolen_s()
    results["host_cpu_stolen_s"] = (None if stolen_at_start is None or stolen_at_end is None
                                    else round(stolen_at_end - stolen_at_start, 2))
    results["sut"] = {"kind": type(sut).__name__, "batches": sut.batches, "samples": sut.samples,
                      "compute_busy_s": round(sut.busy_s, 3), "max_batch": max_batch, "qsl_total": total,
                      "performance_sample_count": perf_count}
    if bench.generative:
        results["sut"].update(generated_tokens=sut.tokens, first_tokens_sent=sut.first_tokens_sent,
                              streaming=sut.stream_first_token, n_tokens_reported=sut.report_tokens)
    lg.DestroyQSL(lg_qsl)
    lg.DestroyFastSUT(lg_sut)
    return EXIT_OK


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)    # kB on Linux


def _abort(cfg: RunConfig, results: Dict[str, Any], status: str, reason: str, code: int, log) -> None:
    """End a run LoadGen cannot finish honestly: record why, keep the logs written so far, exit at once.
    LoadGen's StartTest cannot be cancelled and waits for answers we will not make up, hence os._exit."""
    results.update(status=status, failure=reason, valid=False, exit_code=code)
    try:
        write_results(cfg.run_dir, results)
    finally:
        print(f"error: run {status}: {reason} (logs so far kept in {cfg.run_dir})", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _collect(cfg: RunConfig, bench, dataset: Dataset, results: Dict[str, Any]) -> None:
    detail_path = os.path.join(cfg.run_dir, "mlperf_log_detail.txt")
    if not os.path.isfile(detail_path):
        results.update(status="failed", failure="LoadGen wrote no mlperf_log_detail.txt", error_count=1)
        return
    detail = parse_detail_log(detail_path)
    results["errors"] = detail.errors
    results["error_count"] = len(detail.errors)
    results["warning_count"] = len(detail.warnings)
    results["settings_used"] = settings_used(detail)
    results["status"] = "ok"
    if cfg.mode == "performance":
        results["result"] = performance_result(cfg.scenario, detail)
        results["validity"] = detail.get("result_validity")
        results["invalid_reason"] = invalid_reason(detail)
        results["early_stopping_met"] = detail.get("early_stopping_met")
        results["latency_ms"] = latency_ms(detail, per_query=cfg.scenario == "MultiStream")
        tokens = token_latencies_ms(detail)
        if tokens:
            results["token_latency_ms"] = tokens
            results["token_latency_bounds_ms"] = {"ttft": detail.get("requested_server_ttft_latency", 0) / 1e6,
                                                  "tpot": detail.get("requested_server_tpot_latency", 0) / 1e6}
        results["valid"] = results["validity"] == "VALID" and not detail.errors
    else:
        report = evaluate_run(bench, cfg.run_dir, dataset.arrays, lg_settings.qsl_total(cfg))
        results["accuracy"] = report.to_json()
        results["accuracy_lines"] = report.official_lines
        results["validity"] = "PASS" if report.passed else "FAIL"
        results["valid"] = report.passed and not detail.errors
    if detail.errors:
        results["status"] = "failed"
        results["failure"] = f"LoadGen logged {len(detail.errors)} error(s): {detail.errors[0]}"


# Stolen CPU above which an INVALID latency verdict is reported as the host's doing, not only the run's.
NOTABLE_STEAL_S = 0.3


def summary(results: Dict[str, Any]) -> str:
    text = format_table(results)
    stolen = results.get("host_cpu_stolen_s")
    if results.get("validity") == "INVALID" and stolen is not None and stolen > NOTABLE_STEAL_S:
        seconds = results.get("timing_s", {}).get("loadgen") or 0
        cores = results.get("environment", {}).get("cpu_count") or 1
        share = f" ({100 * stolen / (seconds * cores):.0f}% of its cores' time)" if seconds else ""
        text += (f"\nnote: the host took {stolen:.1f} s of CPU from this virtual machine during the run{share}: "
                 "on a shared VM that alone can break a latency bound")
    return text
