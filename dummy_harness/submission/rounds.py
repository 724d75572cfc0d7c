"""MLPerf Inference submission rounds: what a round fixes for a submission made with this harness.

A round decides LoadGen's three RNG seeds (the checker refuses other seeds; LoadGen reads them only from the conf
compiled into the installed wheel, so the harness sets them on TestSettings), the checker version, and which
compliance tests apply to each benchmark. v5.0 is the last round whose checker knows all eight benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Tuple


@dataclass(frozen=True)
class Seeds:
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class Round:
    name: str
    checker_version: str
    seeds: Seeds
    # LoadGen model key -> the compliance tests of that benchmark (run in every scenario)
    compliance: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)


# TEST01 keeps one audit.config per benchmark, under compliance/nvidia/TEST01/<folder>/.
TEST01_FOLDER = {"resnet50": "resnet50", "retinanet": "retinanet", "bert": "bert", "gptj": "gpt-j"}

ROUNDS: Dict[str, Round] = {
    "v5.0": Round(
        name="v5.0", checker_version="v5.0",
        seeds=Seeds(qsl_rng_seed=6023615788873153749, sample_index_rng_seed=15036839855038426416,
                    schedule_rng_seed=9933818062894767841),
        compliance={"resnet50": ("TEST01", "TEST04"), "retinanet": ("TEST01",), "bert": ("TEST01",),
                    "gptj": (), "llama2-70b": ("TEST06",)},
    ),
}
DEFAULT_ROUND = "v5.0"


def get(name: str) -> Round:
    return ROUNDS[name]
