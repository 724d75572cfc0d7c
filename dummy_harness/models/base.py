"""What a benchmark stand-in provides. One subclass per file in this folder.

A benchmark owns four things and nothing about LoadGen or devices:
  * `build_model()`  the fp32 stand-in (plain torch, seeded), whose forward(*inputs) returns the response tensor;
  * `generate()`     synthetic inputs, deterministic per sample index, and their ground truth;
  * `collate()`/`encode()`  samples -> model inputs, model output -> the official response bytes;
  * `evaluate()`     decoded responses -> an AccuracyReport in the official script's form.
"""
from __future__ import annotations

import abc
from typing import Dict, Sequence, Tuple

import numpy as np
import torch

from ..accuracy import AccuracyReport
from ..catalogue import BenchmarkSpec

Arrays = Dict[str, np.ndarray]   # named arrays whose first dimension is the sample index


class Benchmark(abc.ABC):
    spec: BenchmarkSpec
    input_names: Tuple[str, ...] = ("inputs",)

    def __init__(self, size: str = ""):
        self.size = size or self.spec.default_size
        if self.size not in self.spec.sizes:
            raise ValueError(f"unknown size {self.size!r} for {self.spec.name}; use one of {self.spec.sizes}")

    @abc.abstractmethod
    def build_model(self) -> torch.nn.Module:
        """The fp32 stand-in in eval mode, identical weights on every call."""

    @abc.abstractmethod
    def generate(self, model: torch.nn.Module, count: int, seed: int) -> Arrays:
        """`count` samples and their ground truth, computed with the fp32 `model`."""

    def write_extras(self, folder: str, arrays: Arrays) -> None:
        """Files the official accuracy script needs beside the dataset (e.g. val_map.txt)."""

    def collate(self, arrays: Arrays, indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        """Model inputs for a batch of sample indices; one gather per input, no per-sample Python work."""
        idx = np.asarray(indices, dtype=np.int64)
        return tuple(torch.from_numpy(np.take(arrays[name], idx, axis=0)) for name in self.input_names)

    def encode(self, output: torch.Tensor) -> np.ndarray:
        """[batch, ...] response tensor on the host -> one C-contiguous [batch, k] array of the response dtype."""
        array = output.detach().numpy().astype(self.spec.response_dtype, copy=False)
        return np.ascontiguousarray(array.reshape(array.shape[0], -1))

    def decode(self, hex_data: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(hex_data), dtype=self.spec.response_dtype)

    @abc.abstractmethod
    def evaluate(self, responses: Dict[int, np.ndarray], arrays: Arrays) -> AccuracyReport:
        """Score decoded responses (qsl_idx -> values) against the ground truth in `arrays`."""
