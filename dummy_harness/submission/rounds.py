"""MLPerf Inference submission rounds: everything the harness knows about a round, one table per round.

A round fixes LoadGen's three RNG seeds (the checker refuses other seeds; LoadGen reads them only from the conf
compiled into its wheel, so the harness sets them on TestSettings), the checker and how it runs, the tree's layout,
which benchmarks exist and the scenarios each system type must submit, the accuracy run's sample count, and the
compliance tests with the folder their scripts are in. Each table cites the upstream commit it was read from; no
fact about a round is written anywhere else in the project.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

# The system types of a system description, and the one a stand-in SUT submits as: one SUT running every benchmark
# must be both (a round's datacenter list lacks bert, its edge list lacks llama2).
DATACENTER, EDGE, BOTH = "datacenter", "edge", "datacenter,edge"
SYSTEM_TYPE = BOTH


@dataclass(frozen=True)
class Seeds:
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class Checker:
    """How a round's official checker runs, inside a checkout of mlcommons/inference (--inference_src)."""
    path: Tuple[str, ...]          # what must exist in the checkout
    module: str                    # "" = run the file as a script; else `python -m <module>` from its parent folder
    version: str                   # its --version
    needs: Tuple[str, ...] = ()    # Python packages it imports beyond the standard library


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as a round's checker knows it. `scenarios`: system type -> the scenarios a closed submission
    must have (open may submit any one of them); `optional`: scenarios that may replace or join them."""
    checker_name: str                             # the checker's model name (its model_mapping of ours)
    scenarios: Mapping[str, Tuple[str, ...]]
    dataset_size: int                             # samples the accuracy run must cover
    compliance: Tuple[str, ...] = ()
    optional: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Round:
    name: str
    source: str                                   # where the facts were read: repository, tag or commit, file
    seeds: Seeds
    checker: Checker
    layout: str                                   # "v5.0": code/, measurements/, compliance/; "v6.0": src/, all in results/
    compliance_root: Tuple[str, ...]              # where compliance/TESTxx/ scripts are in the checkout
    benchmarks: Mapping[str, Benchmark] = field(default_factory=dict)     # our model name -> its rules


SS, MS, OFF, SRV, INT = "SingleStream", "MultiStream", "Offline", "Server", "Interactive"
_FILE_CHECKER = ("tools", "submission", "submission_checker.py")
_PACKAGE_CHECKER = ("tools", "submission", "submission_checker", "main.py")

ROUNDS: Dict[str, Round] = {r.name: r for r in (
    Round(
        name="v5.0",
        source="mlcommons/inference v5.0.1 (e618c314) tools/submission/submission_checker.py MODEL_CONFIG['v5.0']",
        seeds=Seeds(6023615788873153749, 15036839855038426416, 9933818062894767841),
        checker=Checker(_FILE_CHECKER, "", "v5.0"),
        layout="v5.0", compliance_root=("compliance", "nvidia"),
        benchmarks={
            "resnet50": Benchmark("resnet", {DATACENTER: (SRV, OFF), EDGE: (SS, MS, OFF), BOTH: (SS, MS, OFF, SRV)},
                                  50000, ("TEST01", "TEST04")),
            "retinanet": Benchmark("retinanet", {DATACENTER: (SRV, OFF), EDGE: (SS, MS, OFF),
                                                 BOTH: (SS, MS, OFF, SRV)}, 24781, ("TEST01",)),
            **{name: Benchmark(name, {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 10833, ("TEST01",))
               for name in ("bert-99", "bert-99.9")},
            # v5.0 has no compliance test for gptj (its TEST06 list is the llama2 family and mixtral).
            **{name: Benchmark(name, {DATACENTER: (SRV, OFF), EDGE: (SS, OFF), BOTH: (SS, OFF, SRV)}, 13368)
               for name in ("gptj-99", "gptj-99.9")},
            **{name: Benchmark(name, {DATACENTER: (SRV, OFF), BOTH: (SRV, OFF)}, 24576, ("TEST06",))
               for name in ("llama2-70b-99", "llama2-70b-99.9")},
        }),
    Round(
        name="v5.1",
        source="mlcommons/inference v5.1.1 (6776245e) tools/submission/submission_checker.py MODEL_CONFIG['v5.1']",
        seeds=Seeds(1780908523862526354, 14771362308971278857, 18209322760996052031),
        checker=Checker(_FILE_CHECKER, "", "v5.1"),
        layout="v5.0", compliance_root=("compliance",),
        benchmarks={
            "resnet50": Benchmark("resnet", {EDGE: (SS, MS, OFF), BOTH: (SS, MS, OFF, SRV)}, 50000,
                                  ("TEST01", "TEST04")),
            "retinanet": Benchmark("retinanet", {DATACENTER: (SRV, OFF), EDGE: (SS, MS, OFF),
                                                 BOTH: (SS, OFF, MS, SRV)}, 24781, ("TEST01",)),
            **{name: Benchmark(name, {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 10833, ("TEST01",))
               for name in ("bert-99", "bert-99.9")},
            **{name: Benchmark(name, {DATACENTER: (OFF,), BOTH: (OFF,)}, 24576, ("TEST06",), optional=(INT, SRV))
               for name in ("llama2-70b-99", "llama2-70b-99.9")},
        }),
    Round(
        name="v6.0",
        source="mlcommons/inference master b66003e1 tools/submission/submission_checker/constants.py "
               "MODEL_CONFIG['v6.0'] (for these benchmarks as at the deadline commit d7574244)",
        seeds=Seeds(2465351861681999779, 14276810075590677512, 3936089224930324775),
        checker=Checker(_PACKAGE_CHECKER, "submission_checker.main", "v6.0", needs=("yaml",)),
        layout="v6.0", compliance_root=("compliance",),
        benchmarks={
            "resnet50": Benchmark("resnet", {EDGE: (SS, MS, OFF), BOTH: (SS, MS, OFF, SRV)}, 50000,
                                  ("TEST01", "TEST04")),
            # Only on a datacenter,edge system from v6.0: YOLO replaced it in the datacenter and edge lists.
            "retinanet": Benchmark("retinanet", {BOTH: (SS, OFF, MS, SRV)}, 24781, ("TEST01",)),
            **{name: Benchmark(name, {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 10833, ("TEST01",))
               for name in ("bert-99", "bert-99.9")},
            **{name: Benchmark(name, {DATACENTER: (OFF,), BOTH: (OFF,)}, 24576, ("TEST06",), optional=(INT, SRV))
               for name in ("llama2-70b-99", "llama2-70b-99.9")},
        }),
    Round(
        name="v6.1",
        source="mlcommons/inference master b66003e1 tools/submission/submission_checker/constants.py "
               "MODEL_CONFIG['v6.1'] (llama2-70b-99 removed by 44cc3a35)",
        seeds=Seeds(2085463073848966840, 2747215439041700203, 16159082839903944936),
        checker=Checker(_PACKAGE_CHECKER, "submission_checker.main", "v6.1", needs=("yaml",)),
        layout="v6.0", compliance_root=("compliance",),
        benchmarks={
            "resnet50": Benchmark("resnet", {EDGE: (SS, MS, OFF), BOTH: (SS, MS, OFF, SRV)}, 50000,
                                  ("TEST01", "TEST04")),
            **{name: Benchmark(name, {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 10833, ("TEST01",))
               for name in ("bert-99", "bert-99.9")},
            "llama2-70b-99.9": Benchmark("llama2-70b-99.9", {DATACENTER: (OFF,), BOTH: (OFF,)}, 24576, ("TEST06",),
                                         optional=(INT, SRV)),
        }),
)}

# TEST01 keeps one audit.config per benchmark, in a folder named after it (every round the same).
TEST01_FOLDER = {"resnet50": "resnet50", "retinanet": "retinanet", "bert": "bert", "gptj": "gpt-j"}


def get(name: str) -> Round:
    return ROUNDS[name]


def with_benchmark(model: str) -> Tuple[str, ...]:
    """The rounds whose checker knows `model`, oldest first."""
    return tuple(name for name, r in ROUNDS.items() if model in r.benchmarks)


def default_round(model: str) -> Optional[str]:
    """The newest round whose checker accepts `model` (None: no round has it)."""
    rounds = with_benchmark(model)
    return rounds[-1] if rounds else None


def refusal(round_name: str, model: str) -> Optional[str]:
    """One line when `round_name` lacks `model`, naming the rounds that have it; None when it has it."""
    if model in ROUNDS[round_name].benchmarks:
        return None
    have = with_benchmark(model)
    where = f"use --submission_round={' or '.join(have)}" if have else "no round this harness knows has it"
    return f"MLPerf Inference {round_name} has no {model} benchmark; {where}"
