"""ray_overhead and ray_scaling: the Ray executor (dummy_harness/executors/ray.py) against the in-process executors.

ray_overhead, one worker on a local Ray started as a run starts it, beside the in-process executor of one compute
stream (inline) on the same backend, in interleaved blocks:
  * zero compute (`--backend=null`, real: nothing is simulated, nothing computed): the latency a SingleStream query
    gains at p50 and p99 (target: +1 ms at most at p50), Offline samples/s and the highest VALID Server QPS
    (no target: they say what a call costs);
  * simulated compute of 30 ms a chunk (SimulatedBackend: it sleeps a + b x batch and answers zeros of the model's
    real output shape): Offline samples/s, target 0.97 of in-process.
ray_scaling, simulated compute on fake nodes (ray.cluster_utils: a head with no CPU and eight nodes of one CPU on
this machine): Offline samples/s of N = 1, 2, 4, 8 workers, one per node, as a fraction of N x one worker (target
0.9 at N = 8). A sleeping worker uses no core, so the nodes behave like devices; what is measured is the dispatch.

Every row says `compute: real (zero)` or `compute: simulated`, and the 1-minute load average of the host when it
started (other work on the machine shows there; host steal is printed per figure by python -m bench).
"""
from __future__ import annotations

import copy
import dataclasses
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from dummy_harness import executors
from dummy_harness.backends.base import Backend
from dummy_harness.config import parse_options
from dummy_harness.executors.base import ExecutionPlan
from dummy_harness.loadgen.sut import SUT
from dummy_harness.worker import Worker, prepare

from . import common as c

MODEL = "resnet50"


class SimulatedBackend(Backend):
    """Simulated compute: each batch sleeps a + b x batch seconds, then answers zeros of the model's real output
    shape and dtype (learnt from one real forward at load). Reads no inputs, uses no core while it `computes`."""
    name = "simulated"
    reads_inputs = False

    def __init__(self, a_s: float, b_s: float):
        self.a_s, self.b_s = a_s, b_s
        self.sample_shape: Tuple[int, ...] = ()
        self.dtype = torch.float32

    @property
    def version(self) -> str:
        return "0"

    def load(self, model, device, precision, calibration) -> None:
        with torch.inference_mode():
            out = model.eval()(*calibration[0])
        self.sample_shape, self.dtype = tuple(out.shape[1:]), out.dtype

    def predict(self, inputs):
        n = int(inputs[0].shape[0])
        time.sleep(self.a_s + self.b_s * n)
        return torch.zeros((n,) + self.sample_shape, dtype=self.dtype)

    def describe(self):
        return {**super().describe(), "precision_ran": f"simulated ({self.a_s * 1e3:g} ms + "
                                                        f"{self.b_s * 1e3:g} ms x batch)"}


def _host_load() -> float:
    return round(os.getloadavg()[0], 2)


def _ray_worker(workers: int, backend: str = "null", simulated: Optional[SimulatedBackend] = None,
                batch: int = 8, address: str = "") -> Worker:
    """The driver's worker of a Ray run (RayBackend; Ray started locally unless already up)."""
    import ray

    from dummy_harness.executors.ray import RayBackend

    if simulated is not None:
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])      # bench/ is not installed on workers
    options = {"model": MODEL, "backend": backend, "executor": "ray", "workers": workers, "max_batchsize": batch,
               "dataset_dir": c.DATASET_DIR, **({"ray_address": address} if address else {})}
    cfg = parse_options(options)
    return prepare(cfg, log=lambda line: None, load_samples=cfg.samples,
                   backend=RayBackend(cfg, lambda line: None, worker_backend=simulated))


def _local_worker(backend: Optional[Backend], batch: int = 8) -> Worker:
    cfg = parse_options({"model": MODEL, "backend": "null", "max_batchsize": batch, "dataset_dir": c.DATASET_DIR,
                         "threads": 1})
    return prepare(cfg, log=lambda line: None, load_samples=cfg.samples, backend=backend)


def _sut(worker: Worker, name: str, max_batch: int) -> SUT:
    return SUT(executors.build(name, ExecutionPlan(worker, max_batch)))


def _offline_rate(worker: Worker, name: str, max_batch: int, samples: int) -> float:
    s = c.settings_for("Offline", min_query_count=samples, max_query_count=samples, offline_expected_qps=1)
    return float(c.loadgen_test(_sut(worker, name, max_batch), worker.store, s, worker.dataset.count)
                 ["result_samples_per_second"])


def ray_overhead(blocks: int, ss_queries: int = 2000, offline_samples: int = 20_000, server_queries_s: float = 0.5,
                 search_budget_s: float = 60.0, simulated_chunks: int = 100) -> Dict[str, Dict[str, object]]:
    out: Dict[str, Dict[str, object]] = {}
    load = _host_load()
    local = _local_worker(None)
    remote = _ray_worker(1)
    try:
        # SingleStream: the latency one query gains through Ray (a call and its answer), p50 and p99.
        def ss(worker: Worker, name: str) -> Tuple[float, float]:
            s = c.settings_for("SingleStream", min_query_count=ss_queries, max_query_count=ss_queries)
            d = c.loadgen_test(_sut(worker, name, 1), worker.store, s, worker.dataset.count)
            return (float(d["result_50.00_percentile_latency_ns"]) / 1e6,
                    float(d["result_99.00_percentile_latency_ns"]) / 1e6)
        added50, added99, ours, theirs = [], [], [], []
        for _ in range(blocks):
            before, through, after = ss(local, "inline"), ss(remote, "ray"), ss(local, "inline")
            ours.append(through)
            theirs += [before, after]
            added50.append(through[0] - (before[0] + after[0]) / 2)
            added99.append(through[1] - (before[1] + after[1]) / 2)
        out["singlestream_added_ms"] = {
            "compute": "real (zero)", "added_p50_ms": round(c.median(added50), 3),
            "added_p99_ms": round(c.median(added99), 3), "ray_p50_ms": round(c.median([o[0] for o in ours]), 3),
            "ray_p99_ms": round(c.median([o[1] for o in ours]), 3),
            "inline_p50_ms": round(c.median([t[0] for t in theirs]), 3),
            "inline_p99_ms": round(c.median([t[1] for t in theirs]), 3),
            "blocks": blocks, "queries": ss_queries, "target": "added p50 <= 1 ms", "host_load": load}

        # Offline, zero compute, the default batch (8): what a call costs per sample.
        rates: List[float] = []

        def through_ray() -> float:
            rates.append(_offline_rate(remote, "ray", 8, offline_samples))
            return rates[-1]
        ratios = c.interleaved(through_ray, lambda: _offline_rate(local, "inline", 8, offline_samples), blocks)
        out["offline_zero_compute"] = c.ratio_row(ratios, compute="real (zero)", ray_samples_per_s=round(
            c.median(rates)), batch=8, host_load=_host_load())

        # Server: the highest VALID QPS, zero compute, batches of up to 8.
        def probe_for(worker: Worker, name: str) -> Callable[[float], bool]:
            def probe(qps: float) -> bool:
                s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=15_000_000,
                                   min_query_count=max(500, int(qps * server_queries_s)))
                return c.loadgen_test(_sut(worker, name, 8), worker.store, s, worker.dataset.count).valid
            return probe
        load = _host_load()
        ray_ceiling = [c.find_ceiling(probe_for(remote, "ray"), 2000, budget_s=search_budget_s)]
        local_ceiling = [c.find_ceiling(probe_for(local, "queued"), 8000, budget_s=search_budget_s)]
        row = c.ceiling_row(ray_ceiling, local_ceiling, "ray", "in_process", target="none (the cost of a call)")
        out["server_highest_valid_qps"] = {"compute": "real (zero)", **row, "host_load": load}
    finally:
        remote.close()           # the local Ray goes with it
        local.close()

    # Offline with simulated compute of 30 ms a chunk of 8 (22 ms + 1 ms x 8), one worker against inline.
    simulated = SimulatedBackend(0.022, 0.001)
    load = _host_load()
    local = _local_worker(SimulatedBackend(0.022, 0.001))
    remote = _ray_worker(1, simulated=simulated)
    try:
        samples = 8 * simulated_chunks
        rates = []

        def through_ray_sim() -> float:
            rates.append(_offline_rate(remote, "ray", 8, samples))
            return rates[-1]
        ratios = c.interleaved(through_ray_sim, lambda: _offline_rate(local, "inline", 8, samples), blocks)
        out["offline_30ms_chunks"] = c.ratio_row(ratios, compute="simulated (22 ms + 1 ms x 8 = 30 ms a chunk)",
                                                 ray_samples_per_s=round(c.median(rates), 1), target=0.97,
                                                 host_load=load)
    finally:
        remote.close()
        local.close()
    return out


def ray_scaling(blocks: int, sizes: Sequence[int] = (1, 2, 4, 8), seconds: float = 3.0,
                a_s: float = 0.005, b_s: float = 0.001, batch: int = 32) -> Dict[str, Dict[str, object]]:
    """Offline samples/s of N workers on N fake nodes as a fraction of N x one worker (interleaved blocks: one
    worker, N workers, one worker)."""
    import ray
    from ray.cluster_utils import Cluster

    from dummy_harness.executors import ray as rx

    load = _host_load()
    most = max(sizes)
    rx._loopback_only(ray)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "_system_config": rx.SYSTEM_CONFIG})
    for _ in range(most):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out: Dict[str, Dict[str, object]] = {}
    driver = None
    try:
        driver = _ray_worker(most, simulated=SimulatedBackend(a_s, b_s), batch=batch, address=cluster.address)
        pool = driver.backend.pool
        assert pool.placement == "STRICT_SPREAD" and len({w.node for w in pool.infos}) == most

        def with_workers(n: int) -> Worker:
            backend = copy.copy(driver.backend)
            backend.pool = dataclasses.replace(pool, actors=pool.actors[:n], infos=pool.infos[:n])
            return dataclasses.replace(driver, backend=backend)
        per_worker = batch / (a_s + b_s * batch)            # samples/s of one worker that only computes

        def rate(n: int) -> float:
            samples = int(per_worker * n * seconds) // batch * batch
            return _offline_rate(with_workers(n), "ray", batch, samples)
        ones: List[float] = []

        def one() -> float:
            ones.append(rate(1))
            return ones[-1]
        for n in sizes:
            if n == 1:
                continue
            alls: List[float] = []

            def many(n=n) -> float:
                alls.append(rate(n) / n)
                return alls[-1]
            ratios = c.interleaved(many, one, blocks)
            out[f"{n}_workers"] = c.ratio_row(ratios, compute=f"simulated ({a_s * 1e3:g} ms + {b_s * 1e3:g} ms x "
                                                              f"batch {batch})",
                                              samples_per_s=round(c.median(alls) * n, 1),
                                              target=0.9 if n == most else None, host_load=load)
        out["1_worker"] = {"compute": f"simulated ({a_s * 1e3:g} ms + {b_s * 1e3:g} ms x batch {batch})",
                           "samples_per_s": round(c.median(ones), 1),
                           "ideal_samples_per_s": round(per_worker, 1),
                           "ratio_to_ideal": round(c.median(ones) / per_worker, 3)}
    finally:
        if driver is not None:
            driver.close()
        ray.shutdown()
        cluster.shutdown()
    for row in out.values():
        if row.get("target") is None:
            row.pop("target", None)
    return out
