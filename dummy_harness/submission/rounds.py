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

def _new_in_v6(whisper_compliance: Tuple[str, ...]) -> Dict[str, Benchmark]:
    """The v5.1+ and v6.0+ benchmarks as MODEL_CONFIG['v6.0'] and ['v6.1'] of b66003e1 list them (the same in both
    rounds but for whisper's TEST01, in v6.1's models_TEST01 only). gpt-oss-120b's dataset-size is 6396; its
    accuracy-sample-count (4395) is what LoadGen's conf limits the accuracy run to."""
    return {
        "llama3.1-8b": Benchmark("llama3.1-8b", {DATACENTER: (OFF,), BOTH: (OFF,)}, 13368, ("TEST06",),
                                 optional=(INT, SRV)),
        "llama3.1-8b-edge": Benchmark("llama3.1-8b-edge", {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 5000),
        "deepseek-r1": Benchmark("deepseek-r1", {DATACENTER: (OFF,), BOTH: (OFF,)}, 4388, ("TEST06",),
                                 optional=(INT, SRV)),
        "gpt-oss-120b": Benchmark("gpt-oss-120b", {DATACENTER: (OFF,), BOTH: (OFF,)}, 6396, ("TEST07", "TEST09"),
                                  optional=(INT, SRV)),
        "whisper": Benchmark("whisper", {DATACENTER: (OFF,), EDGE: (OFF,), BOTH: (OFF,)}, 1633, whisper_compliance),
        **{name: Benchmark(name, {EDGE: (SS, MS, OFF), BOTH: (SS, MS, OFF)}, 1525, ("TEST01",))
           for name in ("yolo-95", "yolo-99")},
    }


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
            # check_compliance_dir: TEST04 is dropped for all four, TEST01 for the LLMs; TEST06 is added for
            # llama3.1-8b and deepseek-r1, not for llama3.1-8b-edge (which so has no compliance test).
            "llama3.1-8b": Benchmark("llama3.1-8b", {DATACENTER: (OFF,), BOTH: (OFF,)}, 13368, ("TEST06",),
                                     optional=(INT, SRV)),
            "llama3.1-8b-edge": Benchmark("llama3.1-8b-edge", {EDGE: (SS, OFF), BOTH: (SS, OFF)}, 5000),
            # The datacenter,edge list adds SingleStream to the datacenter one; no optional scenarios in v5.1.
            "deepseek-r1": Benchmark("deepseek-r1", {DATACENTER: (SRV, OFF), BOTH: (SS, SRV, OFF)}, 4388,
                                     ("TEST06",)),
            "whisper": Benchmark("whisper", {DATACENTER: (OFF,), EDGE: (OFF,), BOTH: (OFF,)}, 1633, ("TEST01",)),
        }),
    Round(
        name="v6.0",
        source="mlcommons/inference master b66003e1 tools/submission/submission_checker/constants.py "
               "MODEL_CONFIG['v6.0'] (the seed's benchmarks as at the deadline commit d7574244; llama3.1-8b, -edge, "
               "deepseek-r1, gpt-oss-120b, whisper and yolo as at b66003e1)",
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
            # The new benchmarks as b66003e1 has them (its models_TESTxx lists give their compliance tests).
            **_new_in_v6(whisper_compliance=()),     # whisper is not in v6.0's models_TEST01
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
            **_new_in_v6(whisper_compliance=("TEST01",)),
        }),
)}

# TEST01 keeps one audit.config per benchmark, in a folder named after it (every round the same; whisper from
# v5.1, yolo in the v6 checkout). Keyed by the benchmark's LoadGen key.
TEST01_FOLDER = {"resnet50": "resnet50", "retinanet": "retinanet", "bert": "bert", "gptj": "gpt-j",
                 "whisper": "whisper", "yolo": "yolo"}
# The tests with one audit.config per benchmark (compliance/<TEST>/<folder>/audit.config); the others keep one
# for all (compliance/<TEST>/audit.config). TEST07 and TEST09 (v6) have a gpt-oss-120b folder.
AUDIT_FOLDER = {"TEST01": TEST01_FOLDER, "TEST07": {"gpt-oss-120b": "gpt-oss-120b"},
                "TEST09": {"gpt-oss-120b": "gpt-oss-120b"}}


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
