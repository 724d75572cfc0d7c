"""Where the torch work runs, per scenario, and how a run on a noisy VM is reported."""
import dataclasses
import json
import os
from pathlib import Path

import pytest

from dummy_harness import host, run, tuning
from dummy_harness.config import parse_options
from dummy_harness.results import Results, Timing

SERVER = Path(__file__).parent / "data" / "results" / "server.json"     # a results.json as a run writes it


@pytest.mark.parametrize("cores,scenario,expected", [
    (2, "Offline", (2, 1)),        # one worker per core, one torch thread each
    (2, "Server", (1, 1)),         # a core left to LoadGen's issuing thread
    (8, "Server", (1, 7)),
    (1, "Server", (1, 1)),
    (2, "SingleStream", (1, 2)),   # inline: nothing else runs beside the model
    (2, "MultiStream", (1, 2)),
])
def test_thread_layout(cores, scenario, expected):
    assert tuning.thread_layout(parse_options({"scenario": scenario}), cores) == expected


def test_threads_flag_overrides_every_scenario():
    assert tuning.thread_layout(parse_options({"scenario": "Server", "threads": "2"}), 2) == (1, 2)
    assert tuning.thread_layout(parse_options({"scenario": "Offline", "threads": "2"}), 2) == (1, 2)


def test_usable_cores_follow_the_affinity_not_the_machine():
    # As scripts/test.sh's parallel pass pins each pytest worker (and so every run it starts) to one core.
    mine = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(mine)})
        assert host.usable_cores() == 1
        assert tuning.thread_layout(parse_options({"scenario": "SingleStream"})) == (1, 1)
    finally:
        os.sched_setaffinity(0, mine)
    assert host.usable_cores() == len(mine)


def test_generative_offline_keeps_one_compute_thread():
    assert tuning.thread_layout(parse_options({"model": "gptj-99", "scenario": "Offline"}), 2) == (1, 2)


def results(validity, stolen):
    stored = Results.from_json(json.loads(SERVER.read_text()))
    stored.environment.cpu_count = 2
    return dataclasses.replace(stored, validity=validity, valid=validity == "VALID", host_cpu_stolen_s=stolen,
                               timing_s=Timing(total=21.0, loadgen=20.0))


def test_an_invalid_run_names_the_cpu_the_host_took():
    text = run.summary(results("INVALID", 1.6))
    assert "the host took 1.6 s of CPU" in text and "(4% of its cores' time)" in text


@pytest.mark.parametrize("validity,stolen", [("VALID", 5.0), ("INVALID", 0.1), ("INVALID", None)])
def test_no_note_when_the_host_is_not_to_blame(validity, stolen):
    assert "the host took" not in run.summary(results(validity, stolen))


def test_stolen_cpu_is_read_from_proc_stat(tmp_path, monkeypatch):
    if os.path.exists("/proc/stat"):
        assert host.cpu_stolen_s() >= 0.0
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 500 0 0 0 250 0 0\ncpu0 5 0 5 250 0 0 0 125 0 0\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(stat if path == "/proc/stat" else path,
                                                                         *a, **k))
    assert host.cpu_stolen_s() == pytest.approx(250 / os.sysconf("SC_CLK_TCK"))
    stat.write_text("cpu  10 0 10\n")        # an old kernel without the steal column
    assert host.cpu_stolen_s() is None


class _TimedWork:
    """A query's compute that takes a set time per torch pool size, on a clock of its own."""
    def __init__(self, ms_by_threads):
        self.ms_by_threads, self.calls, self.now = ms_by_threads, [], 0.0

    def clock(self) -> float:
        return self.now

    def predict(self, inputs):
        import torch
        self.calls.append(torch.get_num_threads())
        self.now += self.ms_by_threads[torch.get_num_threads()] / 1e3


@pytest.mark.parametrize("ms_by_threads,chosen", [
    ({1: 4.0, 2: 2.0}, 2),       # the larger pool is clearly faster (retinanet-like)
    ({1: 2.0, 2: 2.3}, 1),       # the smaller one is faster (resnet50-like at batch 1)
    ({1: 2.0, 2: 1.95}, 1),      # within 5%: the core is left to LoadGen's threads
])
def test_a_latency_scenario_keeps_the_pool_that_answers_fastest(ms_by_threads, chosen):
    import torch

    before = torch.get_num_threads()
    fake = _TimedWork(ms_by_threads)
    try:
        best, tried = tuning.choose_threads(lambda: fake.predict(None), [1, 2], repeats=3, clock=fake.clock)
        assert best == chosen and torch.get_num_threads() == chosen
        assert tried == pytest.approx(ms_by_threads)
        assert sorted(set(fake.calls)) == [1, 2] and len(fake.calls) == 2 * (1 + 3)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("cores,candidates", [(1, [1]), (2, [1, 2]), (4, [1, 2, 3, 4]), (16, [1, 8, 15, 16])])
def test_thread_candidates(cores, candidates):
    assert tuning.thread_candidates(cores) == candidates
