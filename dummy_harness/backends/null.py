"""The zero-compute backend: answers every batch at once with zeros of the model's output shape.

It measures what LoadGen and the harness cost on their own (Offline samples/s, Server QPS, SingleStream
latency with no model behind them). Its answers are not the model's: accuracy runs with it fail by design.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from .base import Backend
from .pytorch import cuda_unavailable_reason


class NullBackend(Backend):
    name = "null"
    reads_inputs = False

    def __init__(self) -> None:
        self.sample_shape: Tuple[int, ...] = ()
        self.dtype = torch.float32

    @classmethod
    def unavailable_reason(cls, device: str) -> Optional[str]:
        # No compute, but a run named after a GPU must have one: the same check as the torch it answers with.
        return cuda_unavailable_reason() if device == "gpu" else None

    @property
    def version(self) -> str:
        return "0"

    def load(self, model: torch.nn.Module, device: str, precision: str,
             calibration: Sequence[Tuple[torch.Tensor, ...]]) -> None:
        # One real forward, once, to learn the shape and dtype of a response.
        with torch.inference_mode():
            out = model.eval()(*calibration[0])
        self.sample_shape, self.dtype = tuple(out.shape[1:]), out.dtype

    def predict(self, inputs: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.zeros((inputs[0].shape[0],) + self.sample_shape, dtype=self.dtype)

    def describe(self) -> Dict[str, Any]:
        return {**super().describe(), "precision_ran": "none (zero-compute backend)", "device": "cpu"}
