"""The Ray executor on a cluster of three nodes on this machine (ray.cluster_utils, as Ray tests itself), started once
for this module: a head with no CPU and two worker nodes with one CPU each, Ray's node health checks shortened so
that a crashed node is noticed within about 2 s. Workers go one per node; LoadGen's SUT name with --ship_samples
(the network division's Name()) names both nodes; a request the cluster cannot place is refused in one line; a node
removed mid-run (a crash) ends the run with exit 4 naming the worker and its node, the logs so far kept."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import BIN, results_of

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

pytestmark = [pytest.mark.ray, pytest.mark.skipif(
    bool(os.environ.get("PYTEST_XDIST_WORKER")),
    reason="Ray does not start inside pytest-xdist workers: run the `ray` tests serially (scripts/test.sh does)")]

# Health checks every 0.5 s, a node dead after 3 missed: Ray's defaults (3 s x 5, timeout 10 s) take 15-65 s.
HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 500,
          "health_check_initial_delay_ms": 0}
# How soon after a node crashes the run must have ended (exit 4): detection about 1.5 s, plus the exit.
DEADLINE_S = 10.0

# A backend each worker loads from --implementation_repo: zero compute, 20 ms a batch, so a run lasts seconds.
SLOW = """
import time

from dummy_harness.backends.null import NullBackend


class Backend(NullBackend):
    name = "null-20ms"

    def predict(self, inputs):
        time.sleep(0.02)
        return super().predict(inputs)
"""


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    from dummy_harness.executors import ray as rx

    rx._loopback_only(ray)
    head = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                         "_system_config": {**HEALTH, **rx.SYSTEM_CONFIG}})
    nodes = [head.add_node(num_cpus=1) for _ in range(2)]
    head.wait_for_nodes()
    ray.init(address=head.address, log_to_driver=False, logging_level="ERROR")
    yield head, nodes
    ray.shutdown()
    head.shutdown()


def labels():
    from dummy_harness.executors.ray import node_label
    return {n["NodeID"]: node_label(n) for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")}


def test_one_worker_per_node_and_the_network_sut_name_lists_both(cluster, dataset_dir, tmp_path):
    from dummy_harness import executors
    from dummy_harness.config import parse_options
    from dummy_harness.executors.base import ExecutionPlan
    from dummy_harness.executors.ray import RayBackend
    from dummy_harness.loadgen.session import LoadGenSession
    from dummy_harness.loadgen.settings import explicit
    from dummy_harness.loadgen.sut import SUT
    from dummy_harness.worker import prepare

    cfg = parse_options({"executor": "ray", "workers": 2, "ship_samples": True, "backend": "null",
                         "dataset_dir": str(dataset_dir)})
    worker = prepare(cfg, log=lambda line: None, load_samples=64, backend=RayBackend(cfg, lambda line: None))
    try:
        executor = executors.build("ray", ExecutionPlan(worker, 1))
        described = executor.describe()
        assert described["placement"] == "STRICT_SPREAD"
        nodes = [w["node"] for w in described["workers"]]
        assert sorted(nodes) == sorted(labels().values()), "not one worker on each CPU node"
        sut = SUT(executor)
        with LoadGenSession(sut, worker.store, 64, 64, explicit("SingleStream", min_query_count=64,
                                                                max_query_count=64), str(tmp_path)) as session:
            session.run()
    finally:
        worker.close()
    detail = (tmp_path / "mlperf_log_detail.txt").read_text()
    name = next(line for line in detail.splitlines() if '"key": "sut_name"' in line)
    assert '"Network SUT: ' in name and all(node in name for node in nodes), name
    assert sut.samples == 64


def test_a_request_the_cluster_cannot_place_is_refused_in_one_line(cluster, dataset_dir):
    from dummy_harness.config import parse_options
    from dummy_harness.exit_codes import ExitCode, RunError
    from dummy_harness.executors.ray import RayBackend
    from dummy_harness.worker import prepare

    cfg = parse_options({"executor": "ray", "workers": 3, "backend": "null", "dataset_dir": str(dataset_dir)})
    with pytest.raises(RunError) as refused:
        prepare(cfg, log=lambda line: None, backend=RayBackend(cfg, lambda line: None))
    assert refused.value.code == ExitCode.ENVIRONMENT and "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"--workers=3 needs 3 nodes with a CPU (one worker per node); the Ray "
                                         f"cluster at {ray.get_runtime_context().gcs_address} has 2: ")
    assert all(g["state"] == "REMOVED" for g in ray.util.placement_group_table().values()), "a group was left"


def test_a_node_that_crashes_mid_run_ends_it_with_exit_4_naming_worker_and_node(cluster, dataset_dir, tmp_path):
    head, nodes = cluster
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "dummy_harness_backend.py").write_text(SLOW)
    out = tmp_path / "out"
    proc = subprocess.Popen([str(BIN / "dummy-harness"), "--executor=ray", "--workers=2",
                             f"--ray_address={head.address}", "--backend=null", f"--implementation_repo={vendor}",
                             "--scenario=SingleStream", "--count=2000", "--progress=off",
                             f"--dataset_dir={dataset_dir}", f"--output_dir={out}"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    stderr = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    try:
        ready = next((line for line in proc.stdout if line.startswith("Ray: 2 workers ready")), "")
        assert ready, "the run never started its workers"
        time.sleep(0.5)             # LoadGen's test starts right after (no tuning step times anything here)
        assert proc.poll() is None
        # Worker 1's node, by the id the run printed: "...; 1 on 127.0.0.1 [1a2b3c4d] (cpu, ...)".
        prefix = ready.split("; 1 on ", 1)[1].split("[", 1)[1].split("]", 1)[0]
        node = next(n for n in nodes if n.node_id.startswith(prefix))
        removed = time.monotonic()
        head.remove_node(node, allow_graceful=False)
        rc = proc.wait(timeout=60)
        ended = time.monotonic() - removed
        proc.stdout.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    errors = [line for line in "".join(stderr).splitlines() if line.startswith("error:")]
    assert rc == 4, "".join(stderr)[-3000:]
    assert ended < DEADLINE_S, f"the crash took {ended:.1f} s to end the run"
    assert len(errors) == 1 and errors[0].startswith("error: run failed: worker 1 on node ") and \
        f"[{prefix}]" in errors[0], errors
    run_dir = next(out.glob("*/resnet50/singlestream/performance/run_1"))
    results = results_of(run_dir)
    assert (results["status"], results["exit_code"]) == ("failed", 4)
    assert results["failure"].startswith("worker 1 on node ") and f"[{prefix}]" in results["failure"]
    assert (run_dir / "mlperf_log_detail.txt").is_file()          # LoadGen's logs so far are kept
    print(f"crash to exit: {ended:.2f} s", file=sys.stderr)

