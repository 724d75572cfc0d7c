"""Shared pieces of the benchmarks: a rig (stand-in + backend + samples in RAM), in-process LoadGen tests with
explicit settings (no FromConfig, so several tests can run in one process), raw timing loops, QPS searches.

Everything runs the harness's own classes (prepare's worker, the executors and the SUT, the backends, the LoadGen
session and the detail-log parser); only process start-up, the watchdog, signal handling and results.json are
left out.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from dummy_harness import executors
from dummy_harness.config import parse_options
from dummy_harness.executors.base import ExecutionPlan
from dummy_harness.host import cpu_stolen_s, usable_cores
from dummy_harness.loadgen.detail_log import DetailLog
from dummy_harness.loadgen.session import LoadGenSession
from dummy_harness.loadgen.settings import explicit
from dummy_harness.loadgen.sut import SUT
from dummy_harness.worker import Worker, prepare

DATASET_DIR = os.path.join(tempfile.gettempdir(), "dummy-harness-bench-datasets")
Rig = Worker      # a benchmark's stand-in, backend and loaded samples, as a run prepares them


def rig(model: str, backend: str = "pytorch", size: str = "", samples: int = 0, batch: int = 8,
        scenario: str = "") -> Worker:
    """The worker of one benchmark with all its samples loaded; torch threads as the harness sets them for
    `scenario` (tuning.thread_layout: Server leaves a core to LoadGen), else all cores."""
    options = {"model": model, "backend": backend, "model_size": size, "dataset_size": samples or None,
               "max_batchsize": batch, "dataset_dir": DATASET_DIR}
    options.update({"scenario": scenario} if scenario else {"threads": usable_cores()})
    cfg = parse_options({k: v for k, v in options.items() if v not in (None, "")})
    return prepare(cfg, log=lambda line: None, load_samples=cfg.samples)


settings_for = explicit     # TestSettings with explicit values, no conf file


def loadgen_test(sut, store, settings, count: int, progress: bool = False) -> DetailLog:
    """One LoadGen test in the harness's session (inline SUTs: StartTest on this thread; queued: on a 'loadgen'
    thread while this one serves); returns its detail log. `progress`: with the progress line as a terminal gets
    it (redrawn every REFRESH_S, latencies measured), drawn into /dev/null."""
    with tempfile.TemporaryDirectory() as outdir, open(os.devnull, "w") as sink:
        with LoadGenSession(sut, store, count, count, settings, outdir, progress="inplace" if progress else "off",
                            progress_stream=sink) as session:
            session.run()
        return session.detail_log()


def batching_sut(r: Worker, max_batch: int, inline: bool, workers: int = 1) -> SUT:
    """The harness's SUT over the executor a run of that layout gets: queued (Server), inline, or one compute
    thread per core (Offline)."""
    plan = ExecutionPlan(r, max_batch, workers)
    name = "queued" if not inline else ("threads" if workers > 1 else "inline")
    return SUT(executors.build(name, plan))


def generation_sut(r: Worker, slots: int, tokens: bool, stream: bool, inline: bool) -> SUT:
    plan = ExecutionPlan(r, slots, stream_first_token=stream, report_tokens=tokens)
    return SUT(executors.build("inline" if inline else "queued", plan), stream, tokens)


@dataclass
class Ceiling:
    """Where a QPS search ended. `qps`: the highest rate found VALID (0: none); `failed_at`: the lowest rate
    found failing (None: no probe failed). `capped`: the search stopped (its time budget, or the floor) before
    it bracketed the ceiling to its resolution, so `qps` is only a lower bound (or, when nothing passed, an
    upper bound of 0)."""
    qps: float
    failed_at: Optional[float]
    capped: bool
    probes: List[Tuple[float, int, int]] = field(default_factory=list)   # (qps, VALID runs, runs)
    seconds: float = 0.0

    def figure(self) -> object:
        """The table's value: the QPS, or 'capped at X' where the search did not find the ceiling."""
        return f"capped at {self.qps:g}" if self.capped else self.qps


def find_ceiling(probe: Callable[[float], bool], start: float, resolution: float = 0.05, attempts: int = 2,
                 budget_s: float = 120.0, floor_ratio: float = 1 / 64,
                 clock: Callable[[], float] = time.perf_counter) -> Ceiling:
    """The highest QPS at which `probe` is VALID, to within `resolution` (relative).

    Grows x2 from `start` until a rate fails (none of `attempts` runs VALID: on a shared 2-core VM one run at a
    latency bound can fail on host jitter alone), or shrinks /2 until one passes, then bisects (geometric mean)
    until failed_at / qps <= 1 + resolution. Stops early, marked capped, when `budget_s` is spent, or when no
    rate down to start * floor_ratio passes."""
    began = clock()
    good, bad = 0.0, None
    probes: List[Tuple[float, int, int]] = []

    def passes(qps: float) -> bool:
        valid = runs = 0
        while runs < attempts and not valid:       # the first VALID run settles it
            runs += 1
            valid += bool(probe(qps))
        probes.append((qps, valid, runs))
        return valid > 0

    qps = float(start)
    while True:
        if clock() - began > budget_s:
            break
        if passes(qps):
            good = qps
        else:
            bad = qps
        if bad is None:
            qps *= 2
        elif not good:
            if qps / 2 < start * floor_ratio:
                break
            qps /= 2
        elif bad / good <= 1 + resolution:
            return Ceiling(round(good, 1), round(bad, 1), False, probes, round(clock() - began, 1))
        else:
            qps = (good * bad) ** 0.5
    return Ceiling(round(good, 1), None if bad is None else round(bad, 1), True, probes, round(clock() - began, 1))


def ceiling_ratio(a: Ceiling, b: Ceiling) -> Optional[float]:
    """a.qps / b.qps, or None where either search was capped (a ratio of caps says nothing)."""
    if a.capped or b.capped or not b.qps:
        return None
    return round(a.qps / b.qps, 3)


def ceiling_row(ours: Sequence[Ceiling], theirs: Sequence[Ceiling], our_name: str, their_name: str,
                target: float) -> Dict[str, object]:
    """One table row of two arms' searches (repetitions): each arm's median ceiling, or 'capped at X' where any
    of its searches was capped, and their ratio only where neither was."""
    def arm(found: Sequence[Ceiling]):
        capped = [f for f in found if f.capped]
        return capped[0].figure() if capped else median([f.qps for f in found])
    a, b = arm(ours), arm(theirs)
    row: Dict[str, object] = {our_name: a, their_name: b}
    row["ratio"] = round(a / b, 3) if isinstance(a, float) and isinstance(b, float) and b else "none (capped)"
    row["target"] = target
    row["resolution"] = "5%"
    # Each ceiling is bracketed to 5%, so their ratio is known to about that either way.
    row["noisy"] = "±5% (the searches' resolution)"
    row["probes"] = sum(len(f.probes) for f in list(ours) + list(theirs))
    return row


# A ratio whose blocks spread more than this (half their interquartile range over their median) is labelled noisy:
# two runs of the bench are expected to agree within it on every ratio that is not.
NOISE = 0.03


def ratio_row(ratios: Sequence[float], **extra) -> Dict[str, object]:
    """The row of a ratio measured in interleaved blocks: the median block ratio, how far the blocks spread
    (half the interquartile range, % of the median), and `noisy` where that exceeds NOISE."""
    q1, mid, q3 = np.percentile(np.asarray(ratios, float), (25, 50, 75))
    spread = (q3 - q1) / 2 / mid if mid else 0.0
    row: Dict[str, object] = {"ratio": round(float(mid), 3), "spread_pct": round(100 * spread, 1),
                              "blocks": len(ratios)}
    if spread > NOISE:
        row["noisy"] = True
    row.update(extra)
    return row


def interleaved(numerator: Callable[[], float], denominator: Callable[[], float], blocks: int) -> List[float]:
    """`blocks` ratios numerator / denominator, each block a short denominator, numerator, denominator again
    (averaged): the host's speed drifts over seconds, so each ratio compares measurements taken moments apart."""
    ratios = []
    for _ in range(blocks):
        before = denominator()
        top = numerator()
        after = denominator()
        ratios.append(top / ((before + after) / 2))
    return ratios


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def raw_samples_per_second(r: Worker, batch: int, samples: int) -> float:
    """gather + predict + encode back to back (Worker.compute), same thread, same batch size."""
    count = r.dataset.count
    start = time.perf_counter()
    done = 0
    while done < samples:
        r.compute([(done + i) % count for i in range(batch)])
        done += batch
    return done / (time.perf_counter() - start)


def raw_latencies_ms(r: Worker, batch: int, repeats: int) -> List[float]:
    count = r.dataset.count
    out = []
    for k in range(repeats):
        idx = [(k * batch + i) % count for i in range(batch)]
        t = time.perf_counter()
        r.compute(idx)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def raw_generation(r: Worker, slots: int, samples: int) -> Tuple[float, float]:
    """(tokens/s, prompts/s) of the generation engine itself, `samples` prompts on `slots` slots, answered without
    LoadGen."""
    plan = ExecutionPlan(r, slots, report_tokens=True)
    executor = executors.build("inline", plan)
    executor.attach(executors.Collector(keep=False))
    count = r.dataset.count
    start = time.perf_counter()
    executor.issue(executors.Work(list(range(samples)), [i % count for i in range(samples)]))
    seconds = time.perf_counter() - start
    return executor.stats.tokens / seconds, samples / seconds


def figure(values: Sequence[float]) -> float:
    """The median of repetitions, rounded for the table."""
    return round(median(values), 3)


def machine() -> Dict[str, object]:
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}


def steal_s() -> float:
    """CPU time the hypervisor took from this VM so far (host.cpu_stolen_s; 0 where the kernel does not say):
    latency figures mean little when it grows."""
    return cpu_stolen_s() or 0.0
