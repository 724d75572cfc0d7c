"""The Ray executor's flags, without starting Ray: each refused in one line where it cannot apply, `_ray` refused
with the install command where Ray is missing, the fingerprint of local runs unchanged, the executor chosen by name
or by scenario, and the single-node placement rule (the workers share the node's free CPUs, or take --threads
each)."""
import importlib.util

import pytest

from dummy_harness import executors, scenarios
from dummy_harness.config import ConfigError, RunConfig, parse_options
from dummy_harness.exit_codes import RunError


@pytest.mark.parametrize("flag,value", [("workers", "2"), ("ship_samples", "yes"), ("ray_address", "auto")])
def test_a_ray_flag_without_the_ray_executor_is_refused(flag, value):
    with pytest.raises(ConfigError, match=rf"^--{flag} is a flag of the Ray executor; add --executor=ray \(CM: "
                                          r"_ray\) or drop it$"):
        parse_options({flag: value})


@pytest.mark.parametrize("address", ["10.0.0.5:6379", "head.cluster:6379", "[::1]:6379", "auto", "local",
                                     "ray://10.0.0.5:10001"])
def test_addresses_ray_reads_are_accepted(address):
    assert parse_options({"executor": "ray", "ray_address": address}).ray_address == address


@pytest.mark.parametrize("address", ["10.0.0.5", "http://x:1", "a b:1", "$(id):1", "x:99999999"])
def test_anything_else_is_refused_as_an_address(address):
    with pytest.raises(ConfigError, match=r"is not a Ray address; use HOST:PORT"):
        parse_options({"executor": "ray", "ray_address": address})


def test_the_ray_executor_without_ray_installed_is_refused_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError) as refused:
        parse_options({"executor": "ray"})
    assert str(refused.value) == ("--executor=ray (CM: _ray) needs Ray, an optional extra of this project: pip "
                                  "install 'mlperf-dummy-harness[ray]' (in a checkout: pip install -e '.[ray]')")


def test_local_runs_keep_their_fingerprint_and_ray_runs_differ():
    assert "executor" not in RunConfig().fingerprint() and "workers" not in RunConfig().fingerprint()
    two = parse_options({"executor": "ray", "workers": "2"}).fingerprint()
    assert (two["executor"], two["workers"], two["ship_samples"]) == ("ray", 2, False)
    assert "ray_address" not in two          # which cluster ran it is not part of the run
    assert parse_options({"executor": "ray"}).fingerprint()["workers"] == 1


def test_the_executor_is_named_or_chosen_by_scenario():
    class Plan:
        compute_threads = 1
    assert executors.choose("ray", scenarios.get("Offline"), Plan()) == "ray"
    assert executors.choose("local", scenarios.get("Server"), Plan()) == "queued"
    assert executors.REGISTRY["ray"] == "dummy_harness.executors.ray:RayExecutor"


def test_every_executor_the_flag_names_is_registered():
    from dummy_harness.options import EXECUTORS
    for name in EXECUTORS:
        if name != "local":
            assert executors.choose(name, None, None) == name and callable(executors._class(name)), name


class FakeRay:
    """ray.nodes() and ray.available_resources() of a cluster given as CPUs per node (head first)."""

    def __init__(self, cpus, free=None):
        self._nodes = [{"NodeID": f"{i:02d}" * 28, "NodeName": "127.0.0.1", "NodeManagerAddress": "127.0.0.1",
                        "Alive": True, "Resources": {"CPU": c} if c else {}} for i, c in enumerate(cpus)]
        # free: CPUs free, or a list of what each call reports (the last one repeated)
        self._free = list(free) if isinstance(free, list) else [sum(cpus) if free is None else free]

    def nodes(self):
        return self._nodes

    def available_resources(self):
        return {"CPU": self._free.pop(0) if len(self._free) > 1 else self._free[0]}


def placement(cpus, free=None, **options):
    from dummy_harness.executors.ray import Connection, _placement
    cfg = parse_options({"executor": "ray", **options})
    return _placement(FakeRay(cpus, free), cfg, Connection("127.0.0.1:6379", local=False, owned=False))


def test_one_node_is_shared_and_several_nodes_get_one_worker_each():
    assert placement([2], workers=2) == ([{"CPU": 1}] * 2, "PACK", [1, 1])
    assert placement([2], workers=4) == ([{"CPU": 0.5}] * 4, "PACK", [1] * 4)
    assert placement([8], free=4, workers=2) == ([{"CPU": 2}] * 2, "PACK", [2, 2])      # what is free
    assert placement([8], workers=2, threads=1) == ([{"CPU": 1}] * 2, "PACK", [1, 1])
    assert placement([0, 4, 4], workers=2) == ([{"CPU": 1}] * 2, "STRICT_SPREAD", [0, 0])    # 0: the node's CPUs


def test_cpus_a_just_ended_run_held_are_waited_for_not_refused():
    """Ray reports a removed group's CPUs as free a moment later (0.1-0.2 s measured on a local Ray): a run that
    starts right after another on the same Ray is placed once they come back."""
    assert placement([4], free=[0, 0, 0, 2], workers=2, threads=1) == ([{"CPU": 1}] * 2, "PACK", [1, 1])
    assert placement([4], free=[0, 4], workers=2) == ([{"CPU": 2}] * 2, "PACK", [2, 2])


def test_cpus_other_runs_keep_are_refused_after_the_wait(monkeypatch):
    from dummy_harness.executors import ray as rx
    monkeypatch.setattr(rx, "FREE_WAIT_S", 0.3)
    with pytest.raises(RunError, match=r"^--workers=2 with --threads=1 needs 2 CPUs; the Ray cluster at "
                                       r"127\.0\.0\.1:6379 has 1 free on its one CPU node"):
        placement([4], free=1, workers=2, threads=1)


@pytest.mark.parametrize("cpus,options,message", [
    ([0, 1, 1], {"workers": 3}, "--workers=3 needs 3 nodes with a CPU (one worker per node); the Ray cluster at "
                                "127.0.0.1:6379 has 2: "),
    ([2], {"workers": 2, "threads": 2}, "--workers=2 with --threads=2 needs 4 CPUs; the Ray cluster at "
                                        "127.0.0.1:6379 has 2 free on its one CPU node"),
    ([0], {"workers": 1}, "the Ray cluster at 127.0.0.1:6379 has no node with a CPU for the workers"),
    ([4], {"workers": 2, "device": "gpu"}, "--workers=2 with _cuda needs 2 GPUs (one worker each); the Ray cluster "
                                           "at 127.0.0.1:6379 has 0"),
])
def test_a_cluster_too_small_is_refused_saying_what_it_lacks(cpus, options, message):
    with pytest.raises(RunError) as refused:
        placement(cpus, **options)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_dead_address_is_refused_in_one_line_before_any_dataset_work(tmp_path, capsys):
    """The run connects first (nothing is started: no Ray, no dataset), so this runs beside other tests."""
    from dummy_harness import cli

    empty = tmp_path / "datasets"
    code = cli.main(["--executor=ray", "--ray_address=127.0.0.1:1", f"--dataset_dir={empty}",
                     f"--output_dir={tmp_path / 'out'}", "--progress=off"])
    assert code == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: --ray_address=127.0.0.1:1: no Ray cluster answers there (Connection refused); start "
                      "one with `ray start --head` and pass its HOST:PORT"]
    assert not empty.exists()


def test_ray_client_addresses_are_refused_saying_why(tmp_path, capsys):
    from dummy_harness import cli

    code = cli.main(["--executor=ray", "--ray_address=ray://10.0.0.5:10001", f"--output_dir={tmp_path / 'out'}",
                     f"--dataset_dir={tmp_path / 'datasets'}", "--progress=off"])
    assert code == 2 and "Ray Client (ray://) is too slow for LoadGen" in capsys.readouterr().err


def test_a_worker_whose_copy_differs_is_refused_naming_it():
    import torch

    from dummy_harness import __version__
    from dummy_harness.executors.ray import _check_same

    info = {"index": 1, "harness": __version__, "torch": torch.__version__.split("+")[0], "dataset_key": "k",
            "digest": "abc"}
    _check_same(info, "10.0.0.7 [5e6f7a8b]", ("k", "abc"))                  # the same copy
    with pytest.raises(RunError, match=r"^worker 1 on node 10\.0\.0\.7 \[5e6f7a8b\] has dataset k with checksum "
                                       r"abc, this process k with abd: the node's copy differs"):
        _check_same(info, "10.0.0.7 [5e6f7a8b]", ("k", "abd"))
    with pytest.raises(RunError, match=r"built a stand-in with other weights"):
        _check_same(info, "10.0.0.7 [5e6f7a8b]", ("", "fff"))             # --ship_samples: the weights' digest
    with pytest.raises(RunError, match=r"runs harness 0\.0 with torch"):
        _check_same({**info, "harness": "0.0"}, "10.0.0.7 [5e6f7a8b]", ("k", "abc"))
