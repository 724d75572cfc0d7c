"""What a benchmark stand-in provides. One subclass per file in this folder, built with its catalogue entry.

A benchmark owns these things and nothing about LoadGen or devices:
  * `build_model()`  the fp32 stand-in (plain torch, seeded; some fitted to their data once and cached beside the
                     datasets, see fitting.py), whose forward(*inputs) returns the response tensor;
  * `generate()`     ground truth (and what is needed to rebuild the inputs), computed with the fp32 stand-in;
  * `load_rows()`    the model inputs of some samples, as numpy arrays (runs on LoadGen's thread: no torch);
  * `collate()`/`encode()`  samples -> model inputs, model output -> the official response bytes;
  * `evaluate()`     decoded responses -> an AccuracyReport in the official script's form.

Generative benchmarks (LLMs) set `generative = True` and provide `prompt()`/`decoding` instead of collate/encode:
the harness's generation engine drives their stand-in token by token.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..accuracy import AccuracyReport
from ..catalogue import BenchmarkSpec

Arrays = Dict[str, np.ndarray]   # named arrays: the dataset on disk, or samples in RAM

# The calibration split: samples CALIBRATION_INDEX + j of the dataset's own generator and seed. A dataset holds
# samples 0..count-1 (count < 2**31), so no evaluated sample is ever among them, as MLPerf's calibration lists
# are disjoint from the validation sets.
CALIBRATION_INDEX = 2 ** 40
# A decision of the fp32 stand-in (a class, an answer span, a greedy token) must win by at least this share of
# the spread (standard deviation) of the scores it was chosen from; a sample with a closer call is regenerated.
MIN_MARGIN = 0.05


@dataclass
class Encoded:
    """Responses of one batch: one C-contiguous buffer, and each sample's (byte offset, byte size) in it.
    `n_tokens`: each sample's generated token count, where a fixed-compute stand-in decodes tokens itself
    (whisper) and LoadGen's token latencies are on; the LLM engine reports its own."""
    buffer: np.ndarray
    spans: List[Tuple[int, int]]
    n_tokens: Optional[List[int]] = None

    @classmethod
    def rows(cls, array: np.ndarray) -> "Encoded":
        """Fixed-size responses: row i of a [batch, k] array is sample i's response."""
        array = np.ascontiguousarray(array.reshape(array.shape[0], -1))
        size = array.shape[1] * array.itemsize
        return cls(array, [(i * size, size) for i in range(array.shape[0])])

    @classmethod
    def pieces(cls, arrays: Sequence[np.ndarray], dtype) -> "Encoded":
        """Variable-size responses, packed into one buffer."""
        flat = [np.ascontiguousarray(a, dtype=dtype).ravel() for a in arrays]
        buffer = np.concatenate(flat) if flat else np.zeros(0, dtype)
        if buffer.size == 0:
            buffer = np.zeros(1, dtype)     # a valid address even when every response is empty
        spans, offset = [], 0
        for a in flat:
            spans.append((offset * buffer.itemsize, a.size * buffer.itemsize))
            offset += a.size
        return cls(buffer, spans)


def gather(array, indices: Sequence[int]):
    """Rows of `array`: a zero-copy view for a single index, one np.take otherwise; rows staged as a tensor
    (on a device, see Backend.stage) are gathered there with one index_select."""
    if isinstance(array, torch.Tensor):
        if len(indices) == 1:
            i = int(indices[0])
            return array[i:i + 1]
        return array.index_select(0, torch.as_tensor(np.asarray(indices, dtype=np.int64), device=array.device))
    if len(indices) == 1 and array.flags.writeable:     # torch warns on views of read-only (mmap) arrays
        i = int(indices[0])
        return array[i:i + 1]
    return np.take(array, np.asarray(indices, dtype=np.int64), axis=0)


def as_tensor(rows) -> torch.Tensor:
    return rows if isinstance(rows, torch.Tensor) else torch.from_numpy(rows)


class Benchmark(abc.ABC):
    spec: BenchmarkSpec
    input_names: Tuple[str, ...] = ("inputs",)

    @property
    def generative(self) -> bool:
        return self.spec.generative

    def __init__(self, spec: BenchmarkSpec, size: str = ""):
        self.spec = spec
        self.size = size or spec.default_size
        if self.size not in self.spec.sizes:
            raise ValueError(f"unknown size {self.size!r} for {self.spec.name}; use one of {self.spec.sizes}")

    # ---- model and data ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, cache_dir: str = "") -> torch.nn.Module:
        """The fp32 stand-in in eval mode, identical weights on every call. `cache_dir`: the dataset cache root
        ("" = dataset.default_root()), where a fitted stand-in keeps its weights."""

    @abc.abstractmethod
    def generate(self, model: torch.nn.Module, count: int, seed: int) -> Arrays:
        """Arrays of `count` samples: their inputs (or what rebuilds them) and ground truth from the fp32 model."""

    def generate_range(self, model: torch.nn.Module, seed: int, start: int, stop: int) -> Arrays:
        """Arrays of samples start..stop-1 only, each as `generate` would make it (a sample depends on its index,
        never on the others): a benchmark that has it is generated in chunks, so a dataset of official size never
        sits in memory at once. Its `load_rows` then rebuilds inputs from what the arrays keep."""
        raise NotImplementedError

    def write_extras(self, folder: str, arrays: Arrays) -> None:
        """Files the official accuracy script needs beside the dataset (e.g. val_map.txt)."""

    def fits(self) -> str:
        """'' when this size fits this machine, else a one-line reason (e.g. the weights do not fit in RAM)."""
        return ""

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        """Model inputs of these samples, numpy only. Default: rows of the stored input arrays."""
        return {name: np.asarray(dataset[name][indices]) for name in self.input_names}

    def input_shapes(self, dataset: Arrays) -> Dict[str, Tuple[Tuple[int, ...], np.dtype]]:
        """Per-sample shape and dtype of each input (to preallocate RAM)."""
        return {name: (dataset[name].shape[1:], dataset[name].dtype) for name in self.input_names}

    # ---- one batch -----------------------------------------------------------------------------------------
    def collate(self, rows: Arrays, indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        """Model inputs for a batch of sample indices; one gather per input (none for one sample: a view)."""
        return tuple(as_tensor(gather(rows[name], indices)) for name in self.input_names)

    def calibration_batches(self, rows: Arrays, batch_size: int, count: int) -> List[Tuple[torch.Tensor, ...]]:
        """A few real input batches of the first `count` (loaded) samples: warm-up and int8 ranges."""
        return [self.collate(rows, range(i, min(i + batch_size, count))) for i in range(0, count, batch_size)]

    # ---- the calibration split (int8 ranges) -----------------------------------------------------------------
    calibration_count = 64    # samples (MLPerf's lists: 500 ImageNet / OpenImages images, 100 SQuAD, 1000 CNN-DM)

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        """Model inputs (numpy) of samples `indices` of the generator with `seed`, without ground truth."""
        raise NotImplementedError

    def calibration_split(self, seed: int, batch_size: int) -> Tuple[List[Tuple[torch.Tensor, ...]], Dict]:
        """Input batches of the calibration split, and what it is (for results.json)."""
        n = self.calibration_count
        rows = self.calibration_rows(seed, CALIBRATION_INDEX + np.arange(n))
        return self.calibration_batches(rows, batch_size, n), self.calibration_info(seed)

    def calibration_info(self, seed: int) -> Dict:
        n = self.calibration_count
        return {"samples": n, "seed": seed, "indices": f"{CALIBRATION_INDEX}..{CALIBRATION_INDEX + n - 1}",
                "disjoint_from_evaluated": True,
                "source": "the dataset's generator and seed at indices no dataset reaches (evaluated: 0..count-1)"}

    def encode(self, output: torch.Tensor, indices: Sequence[int]) -> Encoded:
        """Response tensor of a batch (on the host) -> the official response bytes of each sample."""
        return Encoded.rows(output.detach().numpy().astype(self.spec.response_dtype, copy=False))

    def decode(self, hex_data: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(hex_data), dtype=self.spec.response_dtype)

    # ---- accuracy --------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        """Score decoded responses (qsl_idx -> values) against the ground truth in `dataset`."""
