"""The Ray executor on a local Ray, started once for this module (scripts/test.sh runs the `ray` tests in a serial
pass: Ray does not start inside pytest-xdist workers). Two workers (actors) answer LoadGen tests run in this
process with explicit settings, next to the in-process executors on a worker of this process: every response id
completed once, each worker serving its share, the accuracy log the same bytes sample by sample; an LLM streams one
first token per sample before its answer. Then whole runs through `cmr` and `mlcr` join the same Ray."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from conftest import build_worker, results_of

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

pytestmark = [pytest.mark.ray, pytest.mark.skipif(
    bool(os.environ.get("PYTEST_XDIST_WORKER")),
    reason="Ray does not start inside pytest-xdist workers: run the `ray` tests serially (scripts/test.sh does)")]

MODEL = "resnet50"
QSL = 64                 # samples of each accuracy test (the first of the dataset)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, started as a run starts its own (127.0.0.1 only, no dashboard), with 4 logical
    CPUs: the module's pool of two workers (one CPU each) and one test's own pool fit beside each other."""
    from dummy_harness.executors import ray as rx

    rx._start_local(ray, num_cpus=4)          # what a run without --ray_address starts
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def ray_worker(dataset_dir: Path, model: str, **options):
    """The driver's worker of a Ray run with two workers (RayBackend: the workers are actors of the module's Ray)."""
    from dummy_harness.config import parse_options
    from dummy_harness.executors.ray import RayBackend
    from dummy_harness.worker import prepare

    cfg = parse_options({"model": model, "executor": "ray", "workers": 2, "threads": 1,
                         "dataset_dir": str(dataset_dir), **options})
    return prepare(cfg, log=lambda line: None, load_samples=cfg.samples, backend=RayBackend(cfg, lambda line: None))


@pytest.fixture(scope="module")
def workers(local_ray, dataset_dir):
    worker = ray_worker(dataset_dir, MODEL)
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def reference(dataset_dir):
    """A worker of this process, one torch thread as each Ray worker has: the in-process executors' compute."""
    worker = build_worker(dataset_dir, MODEL, threads=1)
    yield worker
    worker.close()


class Recorded:
    """LoadGen's completion calls of a SUT, recorded: ("first" | "done", response id), in order."""

    def __init__(self, sut):
        self.events, self.lock = [], threading.Lock()
        complete, first = sut.complete, sut.first_token

        def done(responses):
            with self.lock:
                self.events += [("done", r.id) for r in responses]
            complete(responses)

        def first_token(responses):
            with self.lock:
                self.events += [("first", r.id) for r in responses]
            first(responses)
        sut.complete, sut.first_token = done, first_token

    def ids(self, kind: str = "done"):
        return [rid for k, rid in self.events if k == kind]


def loadgen_test(executor, worker, scenario: str, mode: str, outdir: Path, stream=False, tokens=False, **values):
    """One LoadGen test in this process (explicit settings, QSL of the first QSL samples); (SUT, recording,
    accuracy log as qsl_idx -> hex data, deduplicated)."""
    from dummy_harness.loadgen.session import LoadGenSession
    from dummy_harness.loadgen.settings import explicit
    from dummy_harness.loadgen.sut import SUT

    sut = SUT(executor, stream, tokens)
    recorded = Recorded(sut)
    outdir.mkdir(parents=True, exist_ok=True)
    with LoadGenSession(sut, worker.store, QSL, QSL, explicit(scenario, mode, **values), str(outdir)) as session:
        session.run()
    log = json.loads((outdir / "mlperf_log_accuracy.json").read_text() or "[]")
    return sut, recorded, {e["qsl_idx"]: e["data"] for e in log}


SETTINGS = {
    "Offline": {"offline_expected_qps": 1000},
    "Server": {"server_target_qps": 400, "server_target_latency_ns": 10 ** 9},
    "SingleStream": {"single_stream_expected_latency_ns": 5_000_000},
    "MultiStream": {"multi_stream_samples_per_query": 8, "multi_stream_expected_latency_ns": 20_000_000},
}


def descendants(pid: int) -> set:
    """The processes under `pid` (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_the_local_instance_listens_on_127_0_0_1_only_and_has_no_dashboard(local_ray, workers):
    import shutil
    import subprocess

    if not shutil.which("ss"):
        pytest.skip("no `ss` on this machine to list listening sockets")
    pids = descendants(os.getpid()) | {os.getpid()}          # this driver, the GCS, the raylet, the workers
    assert {w.pid for w in workers.backend.pool.infos} <= pids
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={pid}," in line for pid in pids)]
    assert ours, "no listening socket found for the workers"
    assert all(line.split()[3].rsplit(":", 1)[0].strip("[]").replace("::ffff:", "") == "127.0.0.1"
               for line in ours), ours
    assert not any(line.split()[3].endswith(":8265") for line in listening), "a dashboard listens"


@pytest.mark.parametrize("scenario", list(SETTINGS))
def test_two_workers_answer_every_sample_once_with_the_in_process_bytes(scenario, workers, reference, tmp_path):
    from dummy_harness import executors, scenarios
    from dummy_harness.executors.base import ExecutionPlan

    max_batch = 1 if scenario == "SingleStream" else 8
    plan = ExecutionPlan(workers, max_batch)
    executor = executors.build("ray", plan)
    sut, recorded, ray_log = loadgen_test(executor, workers, scenario, "accuracy", tmp_path / "ray",
                                          **SETTINGS[scenario])
    ids = recorded.ids()
    assert len(ids) == len(set(ids)) == sut.samples, "a response id completed twice, or not at all"
    assert len(ray_log) == QSL
    served = [w["samples"] for w in executor.describe()["workers"]]
    assert sum(served) == sut.samples
    # Both served; the split follows their speed (least-loaded dispatch), so a worker slowed by the host takes less.
    assert all(n > 0 for n in served), served

    local_plan = ExecutionPlan(reference, max_batch, compute_threads=2 if scenario == "Offline" else 1)
    local = executors.build(executors.local(scenarios.get(scenario), local_plan), local_plan)
    _, _, local_log = loadgen_test(local, reference, scenario, "accuracy", tmp_path / "local", **SETTINGS[scenario])
    assert ray_log == local_log, "the Ray run's accuracy log differs from the in-process run's"


def test_ship_samples_answers_the_same_bytes(local_ray, dataset_dir, reference, tmp_path):
    """--ship_samples: the calls carry the input arrays, the workers keep no dataset; one call per query."""
    from dummy_harness import executors
    from dummy_harness.executors.base import ExecutionPlan

    shipped = ray_worker(dataset_dir, MODEL, ship_samples=True)
    try:
        executor = executors.build("ray", ExecutionPlan(shipped, 8))
        sut, recorded, ray_log = loadgen_test(executor, shipped, "Server", "accuracy", tmp_path / "ray",
                                              **SETTINGS["Server"])
        assert sut.network and executor.describe()["calls_carry"] == "input arrays"
        assert sum(w["calls"] for w in executor.describe()["workers"]) == QSL       # one call per query
        local = executors.build("inline", ExecutionPlan(reference, 8))
        _, _, local_log = loadgen_test(local, reference, "Offline", "accuracy", tmp_path / "local",
                                       **SETTINGS["Offline"])
        assert ray_log == local_log
        detail = (tmp_path / "ray" / "mlperf_log_detail.txt").read_text()
        assert '"Network SUT: worker 0 on ' in detail
    finally:
        shipped.close()


def test_an_llm_streams_one_first_token_per_sample_before_its_answer(local_ray, dataset_dir, tmp_path):
    from dummy_harness import executors
    from dummy_harness.executors.base import ExecutionPlan

    llm = ray_worker(dataset_dir, "llama2-70b-99")
    try:
        executor = executors.build("ray", ExecutionPlan(llm, 8, stream_first_token=True, report_tokens=True))
        sut, recorded, _ = loadgen_test(executor, llm, "Server", "performance", tmp_path, stream=True, tokens=True,
                                        server_target_qps=80, min_query_count=32, max_query_count=32,
                                        use_token_latencies=True, ttft_latency=2 * 10 ** 9,
                                        tpot_latency=2 * 10 ** 8)
    finally:
        llm.close()
    firsts, done = recorded.ids("first"), recorded.ids("done")
    assert sorted(firsts) == sorted(done) and len(set(done)) == len(done) == 32
    order = {(kind, rid): i for i, (kind, rid) in enumerate(recorded.events)}
    assert all(order[("first", rid)] < order[("done", rid)] for rid in done)
    served = [w["samples"] for w in executor.describe()["workers"]]
    assert sum(served) == 32 and min(served) > 0, served
    assert executor.stats.tokens > 32


@pytest.mark.parametrize("entry,scenario", [("cmr", "Offline"), ("mlcr", "SingleStream")])
def test_a_run_through_cm_joins_the_cluster(entry, scenario, local_ray, script_via):
    """`_ray` with --workers and --ray_address: the run ends VALID and results.json says where each worker ran."""
    script = script_via(entry)
    tags = f"reproduce mlperf inference dummy _resnet50 _{scenario.lower()} _ray _null"
    r = script(tags, "--quiet", "--workers=2", f"--ray_address={local_ray}", "--count=64", "--rerun",
               f"--output_dir={script.cwd / 'results'}")
    assert r.returncode == 0, r.output[-3000:]
    run_dir = next((script.cwd / "results").glob(f"*/resnet50/{scenario.lower()}/performance/run_1"))
    results = results_of(run_dir)
    assert results["status"] == "ok" and results["executor"]["name"] == "ray"
    node = ray.get_runtime_context().get_node_id()[:8]
    assert [w["worker"] for w in results["executor"]["workers"]] == [0, 1]
    assert all(f"[{node}]" in w["node"] for w in results["executor"]["workers"])
    assert sum(w["samples"] for w in results["executor"]["workers"]) == results["sut"]["samples"]
