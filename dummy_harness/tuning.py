"""How a run is sized before its LoadGen test: threads, the capacity estimate, LoadGen's targets, the Server batch.

    tuned = tune(cfg, worker)       # after prepare(); the LoadGen settings and the executor's plan come from it

Every margin the harness applies lives here, and every timing goes through one helper (`median_seconds`), which
takes an injectable clock so the rules can be tested without a machine's noise.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import scenarios
from .config import RunConfig
from .exit_codes import ExitCode, RunError
from .host import usable_cores
from .loadgen import settings as lg_settings
from .loadgen.settings import Targets

Clock = Callable[[], float]

# A larger torch pool must answer a query this much faster to be chosen: each thread more is one that LoadGen's
# own threads preempt mid-op.
LARGER_POOL_GAIN = 1.05
# A Server batch's compute must fit this share of the latency bound: a query that arrives just after a batch
# starts waits for it, then runs in the next one.
SERVER_BATCH_SHARE = 0.5
# Server's target QPS is this share of the capacity estimate: room for queueing under the latency bound.
SERVER_LOAD_SHARE = 0.5
# LoadGen issues 1.1 x target_qps x min_duration Offline samples: an estimate below the rate the run sustains ends
# before min_duration (INVALID), one above only runs longer, so the peak rate is raised by this much.
OFFLINE_ESTIMATE_MARGIN = 1.05
# The Offline estimate of fast/valid runs: seconds of sustained compute, over as many loaded samples as LoadGen
# keeps (up to resnet50's official 1024); the LLMs generate this many prompts instead.
ESTIMATE_SECONDS = {"fast": 3.0, "valid": 8.0}
ESTIMATE_SAMPLES = 1024
ESTIMATE_GENERATED = {"fast": 64, "valid": 256}


@dataclass
class Tuning:
    """What tune() decided, and the records results.json keeps of it."""
    settings: Any                                   # LoadGen TestSettings
    settings_facts: Dict[str, Any]
    max_batch: int
    compute_threads: int
    torch_threads: int
    thread_choice: Optional[Dict[str, Any]] = None
    capacity_estimate: Optional[Dict[str, Any]] = None
    server_batching: Optional[Dict[str, Any]] = None
    targets: Targets = field(default_factory=Targets)


# ---- threads -----------------------------------------------------------------------------------------------------
def thread_layout(cfg: RunConfig, cores: Optional[int] = None) -> Tuple[int, int]:
    """(compute threads, torch threads each) on the cores this process may use. Each Python thread running torch
    has its own OpenMP pool, and pools that outnumber the cores wait on descheduled threads at every op, so:
    Offline fixed-compute models get one compute thread per core with one torch thread each; Server keeps a core
    for LoadGen's issuing thread (an arrival otherwise preempts a pool thread mid-op and the op waits for it); the
    rest use every core (SingleStream and MultiStream then time smaller pools, `choose_threads`). --threads=N
    keeps one compute thread with N torch threads."""
    cores = cores or usable_cores()
    layout = scenarios.get(cfg.scenario).cpu_layout
    if cfg.threads is not None or cfg.device != "cpu":
        return 1, cfg.threads or cores
    if layout == "worker_per_core" and not cfg.spec.generative:
        return cores, 1
    if layout == "core_for_loadgen":
        return 1, max(1, cores - 1)
    return 1, cores


def thread_candidates(cores: int) -> List[int]:
    """The torch pool sizes worth trying on `cores` cores: all of them, all but one (a core left to LoadGen's own
    threads), half, one."""
    return sorted({n for n in (1, cores // 2, cores - 1, cores) if n >= 1})


def choose_threads(work: Callable[[], object], candidates: Sequence[int], repeats: int = 7,
                   clock: Clock = time.perf_counter) -> Tuple[int, Dict[int, float]]:
    """(torch pool size, median ms of `work` at each size), `work` being one query's compute: the smallest pool
    unless a larger one is LARGER_POOL_GAIN faster. Which wins depends on the model, so it is measured."""
    import torch

    def at(n: int) -> Callable[[], object]:
        return lambda: (torch.set_num_threads(n), work())
    medians = {n: s * 1e3 for n, s in median_seconds({n: at(n) for n in candidates}, repeats, clock).items()}
    best = min(candidates)
    for n in sorted(candidates):
        if medians[n] < medians[best] / LARGER_POOL_GAIN:
            best = n
    torch.set_num_threads(best)
    return best, medians


# ---- timing -------------------------------------------------------------------------------------------------------
def median_seconds(work: Dict[Any, Callable[[], object]], repeats: int,
                   clock: Clock = time.perf_counter) -> Dict[Any, float]:
    """The median seconds of each callable: each is called once untimed (a new shape or pool selects kernels),
    then `repeats` rounds time each in turn, so a slow spell of the host falls on every candidate alike."""
    for fn in work.values():
        fn()
    times: Dict[Any, List[float]] = {key: [] for key in work}
    for _ in range(repeats):
        for key, fn in work.items():
            start = clock()
            fn()
            times[key].append(clock() - start)
    return {key: float(np.median(t)) for key, t in times.items()}


def predict_of(worker, size: int) -> Callable[[], object]:
    """One predict of a batch of `size` loaded samples (as the run's gather builds it)."""
    loaded = np.flatnonzero(worker.store.loaded)
    inputs = worker.inputs([int(loaded[i % len(loaded)]) for i in range(size)])
    return lambda: worker.backend.predict(inputs)


def batch_times_ms(worker, max_batch: int, repeats: int = 5, clock: Clock = time.perf_counter) -> Dict[int, float]:
    """Median predict time (ms) per batch size 1, 2, 4, ... up to max_batch."""
    sizes, b = [], 1
    while b < max_batch:
        sizes.append(b)
        b *= 2
    sizes.append(max_batch)
    return {n: s * 1e3 for n, s in median_seconds({n: predict_of(worker, n) for n in sizes}, repeats, clock).items()}


def latency_bounded_batch(times_ms: Dict[int, float], bound_ms: float) -> int:
    """Largest batch whose compute fits SERVER_BATCH_SHARE of the latency bound; larger batches under a backlog
    are how the SUT catches up."""
    fitting = [n for n, t in times_ms.items() if t <= bound_ms * SERVER_BATCH_SHARE]
    return max(fitting) if fitting else 1


def estimate_capacity(worker, max_batch: int, repeats: int = 3,
                      clock: Clock = time.perf_counter) -> Tuple[float, float]:
    """(samples/s of one compute thread at the max batch size, batch-1 latency in ms)."""
    n = min(max_batch, int(worker.store.loaded.sum()))
    medians = median_seconds({n: predict_of(worker, n), 1: predict_of(worker, 1)}, repeats, clock)
    return n / medians[n], medians[1] * 1e3


def sustained_throughput(worker, loaded: int, max_batch: int, workers: int, seconds: float,
                         clock: Clock = time.perf_counter) -> Tuple[float, float]:
    """(mean, peak) samples/s that `workers` compute threads sustain together for `seconds`, each answering full
    batches gathered at random from the first `loaded` rows, as an Offline run does. The peak is the fastest
    quarter of the measurement: on a shared machine the rate moves with the host's load, and a run sized from a
    contended rate ends before its minimum duration. Timing one batch and multiplying by the workers overshoots:
    workers share caches and memory bandwidth."""
    rng = np.random.default_rng(0)
    size = min(max_batch, loaded)
    batches = [sorted(rng.choice(loaded, size=size, replace=False).tolist()) for _ in range(64)]
    done: List[Tuple[float, int]] = []         # (time, samples) per answered batch; list.append is atomic
    ready = threading.Barrier(workers + 1)      # every worker warm, and the clock
    stop = threading.Event()
    started: List[float] = []

    def compute(slot: int) -> None:
        i = slot
        worker.compute(batches[i % len(batches)])      # untimed: kernels, caches
        ready.wait()
        while not stop.is_set():
            indices = batches[i % len(batches)]
            worker.compute(indices)
            done.append((clock(), len(indices)))
            i += workers

    def timer() -> None:
        ready.wait()
        started.append(clock())
        stop.wait(seconds)
        stop.set()

    # The main thread is compute thread 0, as in the run (it built the model and owns the first torch pool).
    threads = [threading.Thread(target=compute, args=(slot,), name=f"estimate-{slot}", daemon=True)
               for slot in range(1, workers)] + [threading.Thread(target=timer, name="estimate-clock", daemon=True)]
    for thread in threads:
        thread.start()
    compute(0)
    for thread in threads:
        thread.join()
    end = clock()
    mean = sum(n for _, n in done) / (end - started[0])
    return mean, max(mean, peak_rate(sorted(done), started[0], (end - started[0]) / 4))


def peak_rate(events: Sequence[Tuple[float, int]], start: float, window: float) -> float:
    """The highest samples/s over any `window` seconds of sorted (time, samples) completions after `start`."""
    best, first, inside = 0.0, 0, 0
    for t, n in events:
        inside += n
        while events[first][0] <= t - window:
            inside -= events[first][1]
            first += 1
        if t - window >= start:
            best = max(best, inside / window)
    return best


def generation_plan(worker, slots: int):
    from .executors import ExecutionPlan
    return ExecutionPlan(worker, slots)


def sustained_generation_rate(worker, slots: int, samples: int, clock: Clock = time.perf_counter) -> float:
    """Samples/s the continuous-batching engine sustains on `samples` loaded prompts, answered without LoadGen."""
    from .executors import answer

    plan = generation_plan(worker, slots)
    answer(plan, range(min(samples, slots)), keep=False)           # untimed: kernels, caches
    start = clock()
    answer(plan, range(samples), keep=False)
    return samples / (clock() - start)


def one_query(worker, batch: int) -> Callable[[], object]:
    """One latency-scenario query's compute: a predict of `batch` samples, or for an LLM `batch` prompts generated
    to the end (answered without LoadGen)."""
    if not worker.bench.generative:
        return predict_of(worker, batch)
    from .executors import answer

    plan = generation_plan(worker, batch)
    return lambda: answer(plan, range(batch), keep=False)


# ---- LoadGen's targets ---------------------------------------------------------------------------------------------
def targets(cfg: RunConfig, estimate_qps: Optional[float], estimate_latency_ms: Optional[float]) -> Targets:
    """The user's targets; otherwise what the run style needs: the catalogue's test QPS for a test-style Server
    run, the estimate (with its margin) for fast/valid runs, since LoadGen sizes those runs from the targets."""
    scenario = scenarios.get(cfg.scenario)
    if cfg.target_qps or cfg.target_latency:
        return Targets(cfg.target_qps, cfg.target_latency)
    if cfg.run_style == "test":
        if scenario.hard_bound:
            table = cfg.spec.test_interactive_qps if scenario.only_for_interactive else {}
            return Targets(target_qps=table.get(cfg.size) or cfg.spec.test_server_qps.get(cfg.size, 10.0))
        return Targets()
    if scenario.estimate == "throughput" and estimate_qps:
        share = SERVER_LOAD_SHARE if scenario.hard_bound else OFFLINE_ESTIMATE_MARGIN
        return Targets(target_qps=estimate_qps * share, estimated=True)
    if scenario.estimate == "latency" and estimate_latency_ms:
        return Targets(target_latency_ms=estimate_latency_ms, estimated=True)
    return Targets()


# ---- the step -----------------------------------------------------------------------------------------------------
def tune(cfg: RunConfig, worker, clock: Clock = time.perf_counter) -> Tuning:
    """Threads (the pool size of latency scenarios), the capacity estimate of fast/valid runs, LoadGen's settings
    (written as the run folder's user.conf) and the Server batch bound."""
    import torch

    scenario = scenarios.get(cfg.scenario)
    bench, backend, store = worker.bench, worker.backend, worker.store
    compute_threads, torch_threads = thread_layout(cfg)
    tuned = Tuning(settings=None, settings_facts={}, max_batch=cfg.batch_size, compute_threads=compute_threads,
                   torch_threads=torch_threads)

    if cfg.threads is None and cfg.device == "cpu" and scenario.cpu_layout == "fastest_pool" and \
            torch_threads > 1 and backend.follows_torch_threads:
        tuned.torch_threads, tried = choose_threads(one_query(worker, cfg.batch_size), thread_candidates(torch_threads),
                                                    repeats=3 if bench.generative else 7, clock=clock)
        tuned.thread_choice = {"batch": cfg.batch_size, "torch_threads": tuned.torch_threads,
                               "predict_ms": {str(n): round(ms, 3) for n, ms in tried.items()}}

    estimate_qps = estimate_latency = None
    user_sized = cfg.target_qps or cfg.target_latency or cfg.user_conf
    if cfg.run_style != "test" and not user_sized and scenario.one_query and bench.generative:
        # A short Offline run of the LLM engine itself: too few samples would end a valid run early (INVALID).
        loaded = min(worker.dataset.count, ESTIMATE_GENERATED[cfg.run_style])
        store.load(range(loaded))
        # A backend whose compute runs elsewhere (executors/ray.py) measures through its own workers.
        estimate_qps = getattr(backend, "sustained_generation_rate", sustained_generation_rate)(
            worker, cfg.batch_size, loaded, clock)
        tuned.capacity_estimate = {"samples_per_second": round(estimate_qps, 2), "samples": loaded}
    elif cfg.run_style != "test" and not user_sized and not bench.generative:
        if scenario.one_query:
            loaded = min(worker.dataset.count, ESTIMATE_SAMPLES)
            store.load(range(loaded))
            mean, estimate_qps = getattr(backend, "sustained_throughput", sustained_throughput)(
                worker, loaded, cfg.batch_size, compute_threads, ESTIMATE_SECONDS[cfg.run_style], clock)
            tuned.capacity_estimate = {"samples_per_second": round(mean, 2), "peak": round(estimate_qps, 2),
                                       "workers": compute_threads, "seconds": ESTIMATE_SECONDS[cfg.run_style],
                                       "samples": loaded}
        else:
            estimate_qps, estimate_latency = estimate_capacity(worker, cfg.batch_size, clock=clock)
            if scenario.official_query_samples > 1:
                # A query of several samples runs as one batch at the capacity rate.
                estimate_latency = scenario.official_query_samples * 1e3 / estimate_qps

    tuned.targets = targets(cfg, estimate_qps, estimate_latency)
    try:
        tuned.settings, tuned.settings_facts = lg_settings.build(cfg, cfg.run_dir, tuned.targets)
    except lg_settings.SettingsError as exc:
        raise RunError(str(exc), ExitCode.BAD_INPUT) from None

    if scenario.hard_bound and not bench.generative:
        bound_ms = scenario.latency_bound_ns(tuned.settings) / 1e6
        times = batch_times_ms(worker, cfg.batch_size, clock=clock)
        tuned.max_batch = latency_bounded_batch(times, bound_ms)
        tuned.server_batching = {"latency_bound_ms": bound_ms, "batch_times_ms": times, "max_batch": tuned.max_batch}
    torch.set_num_threads(tuned.torch_threads)
    return tuned
