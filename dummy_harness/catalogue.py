"""The benchmark catalogue: one entry per MLPerf model variation, and nothing else.

Every fact about a benchmark that more than one place needs (CM's `_cm.yaml`, the CLI, LoadGen settings, the
accuracy check, the results) is read from here. This module imports neither torch nor LoadGen, so the CM
adapter can validate a request without paying for them.

Adding a benchmark = one file under `models/` plus one entry below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str                    # the CM variation and CM_MODEL value, e.g. "bert-99"
    loadgen_key: str             # the model key of the official mlperf.conf, e.g. "bert"
    task: str
    dataset: str                 # the official dataset this stand-in imitates
    sample_shape: Tuple[int, ...]
    sample_dtype: str
    response_dtype: str          # dtype of the bytes written to mlperf_log_accuracy.json
    response_layout: str         # what those bytes hold, per sample
    accuracy_metric: str
    accuracy_target: float       # fraction of the fp32 reference the variation must reach
    accuracy_dtype_env: Tuple[str, str]   # the env key CM's accuracy scripts read, and its value
    default_batch_size: int
    default_dataset_size: int
    sizes: Tuple[str, ...]       # model sizes, the first is the default
    # Server target QPS of a `test`-style run when the user gives none, per model size: low enough that the
    # stand-in meets the official latency bound on a 2-core CPU.
    test_server_qps: Mapping[str, float] = field(default_factory=dict)
    # "module:Class" of the stand-in; None while only the CM variation exists.
    implementation: Optional[str] = None

    @property
    def default_size(self) -> str:
        return self.sizes[0]

    @property
    def sample_count_note(self) -> str:
        return f"{self.default_dataset_size} synthetic samples of shape {self.sample_shape}"


RESNET50 = BenchmarkSpec(
    name="resnet50",
    loadgen_key="resnet50",
    task="image classification",
    dataset="ImageNet 2012 validation (synthetic stand-in)",
    sample_shape=(3, 224, 224),
    sample_dtype="float32",
    response_dtype="float32",
    response_layout="one value: the predicted class index 0-999",
    accuracy_metric="top-1 accuracy",
    accuracy_target=0.99,
    accuracy_dtype_env=("CM_IMAGENET_ACCURACY_DTYPE", "float32"),
    default_batch_size=8,
    default_dataset_size=256,
    sizes=("small", "medium", "full"),
    test_server_qps={"small": 50.0, "medium": 20.0, "full": 3.0},
    implementation="dummy_harness.models.resnet50:ResNet50",
)


def _planned(name: str, key: str, task: str, dataset: str, shape, sdtype: str, rdtype: str, layout: str,
             metric: str, target: float, dtype_env: Tuple[str, str], batch: int) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, loadgen_key=key, task=task, dataset=dataset, sample_shape=shape,
                         sample_dtype=sdtype, response_dtype=rdtype, response_layout=layout,
                         accuracy_metric=metric, accuracy_target=target, accuracy_dtype_env=dtype_env,
                         default_batch_size=batch, default_dataset_size=0, sizes=("small", "full"))


_RETINANET = _planned("retinanet", "retinanet", "object detection", "OpenImages MLPerf subset",
                      (3, 800, 800), "float32", "float32",
                      "7-tuples [qsl_idx, ymin, xmin, ymax, xmax, score, label]", "mAP", 0.99,
                      ("CM_OPENIMAGES_ACCURACY_DTYPE", "float32"), 1)
_BERT = dict(key="bert", task="question answering", dataset="SQuAD v1.1", shape=(3, 384), sdtype="int64",
             rdtype="float32", layout="[384, 2] start/end logits", metric="F1",
             dtype_env=("CM_SQUAD_ACCURACY_DTYPE", "float32"), batch=8)
_GPTJ = dict(key="gptj", task="summarization", dataset="CNN/DailyMail", shape=(1919,), sdtype="int64",
             rdtype="int32", layout="generated token ids", metric="ROUGE-1/2/L",
             dtype_env=("CM_CNNDM_ACCURACY_DTYPE", "int32"), batch=8)
_LLAMA = dict(key="llama2-70b", task="question answering", dataset="Open-Orca", shape=(1024,), sdtype="int64",
              rdtype="int32", layout="generated token ids", metric="ROUGE-1/2/L",
              dtype_env=("CM_OPENORCA_ACCURACY_DTYPE", "int32"), batch=8)

CATALOGUE: Dict[str, BenchmarkSpec] = {
    spec.name: spec for spec in (
        RESNET50,
        _RETINANET,
        _planned("bert-99", target=0.99, **_BERT),
        _planned("bert-99.9", target=0.999, **_BERT),
        _planned("gptj-99", target=0.99, **_GPTJ),
        _planned("gptj-99.9", target=0.999, **_GPTJ),
        _planned("llama2-70b-99", target=0.99, **_LLAMA),
        _planned("llama2-70b-99.9", target=0.999, **_LLAMA),
    )
}

DEFAULT_MODEL = "resnet50"


def implemented() -> Tuple[str, ...]:
    return tuple(name for name, spec in CATALOGUE.items() if spec.implementation)


def get(name: str) -> BenchmarkSpec:
    """The spec of an implemented benchmark; ValueError naming what exists otherwise."""
    spec = CATALOGUE.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(CATALOGUE)}")
    if not spec.implementation:
        raise ValueError(f"model {name!r} is declared but its stand-in is not implemented yet; "
                         f"implemented: {', '.join(implemented())}")
    return spec
