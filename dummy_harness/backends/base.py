"""The backend interface: the one file a vendor reads to plug in their own runtime.

A backend turns the benchmark's fp32 stand-in into something that runs on a device at a precision, and
answers `predict(inputs)` with the response tensor on the host. It knows nothing about LoadGen: batching,
responses and timing live in `dummy_harness.executors` and `dummy_harness.loadgen`.

What `predict` receives and returns:
  * fixed-compute models (resnet50, retinanet, bert): the benchmark's collated input tensors of one batch; the
    response tensor of that batch (the benchmark encodes it into the official response bytes);
  * generative models (the LLMs): one `DecodeStep`, either a prefill (one prompt, tokens [1, T]) or a decode step
    (each active sequence's last token, tokens [B, 1]); the two best next-token ids of each row, int64 [B, 2].
    The model keeps each slot's KV cache between calls; executors/generation.py (DecodeEngine) makes the calls.
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import torch


class DecodeStep(NamedTuple):
    """One call of a generative stand-in: a tuple of tensors, so `model(*step)` is its forward."""
    tokens: torch.Tensor    # int64 [B, T]: a prompt (B = 1), or each sequence's last token (T = 1)
    slots: torch.Tensor     # int64 [B]: the KV-cache slot of each row
    starts: torch.Tensor    # int64 [B]: the cache position of each row's first token


class BackendError(RuntimeError):
    """The backend cannot run the requested device/precision here; str() is a one-line reason."""


class Pending:
    """A batch submitted to a device: result() waits for it and gives the response tensor on the host."""

    def __init__(self, value: torch.Tensor, wait: Callable[[], None] = lambda: None):
        self._value, self._wait = value, wait

    def result(self) -> torch.Tensor:
        self._wait()
        return self._value


class Backend(abc.ABC):
    name: str = "base"
    plugin: str = ""      # path of the plug-in file this backend came from, if any
    reads_inputs = True   # False: predict() only needs the batch size (inputs[0].shape[0])
    in_flight = 1         # batches the SUT may submit before it collects the first (device pipelines)
    # True: predict() runs in torch's CPU pool, so the harness may resize it after load() (torch.set_num_threads)
    # to the count that answers a latency scenario's query fastest. False: the runtime keeps what load() saw.
    follows_torch_threads = False

    @classmethod
    def unavailable_reason(cls, device: str) -> Optional[str]:
        """None when this machine can run this runtime on `device` ("cpu"|"gpu"), else a one-line reason (the
        runtime is a CPU-only build, no GPU is seen, ...). Asked once before the model is built; what the
        backend runs at all (devices, precisions) is declared in its REGISTRY entry instead."""
        return None

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """Version of the runtime, recorded in results.json."""

    @abc.abstractmethod
    def load(self, model: torch.nn.Module, device: str, precision: str,
             calibration: Sequence[Tuple[torch.Tensor, ...]]) -> None:
        """Prepare `model` (fp32, eval, on the CPU) for `device` ("cpu"|"gpu") and `precision`
        ("float32"|"float16"|"uint8"); `calibration` holds a few real input batches (for int8 ranges and
        warm-up). Raise BackendError with a one-line reason when this machine cannot do it."""

    @abc.abstractmethod
    def predict(self, inputs: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Host tensors of one batch in, the response tensor of that batch on the host out."""

    def submit(self, inputs: Tuple[torch.Tensor, ...]) -> Pending:
        """Start one batch; the default runs it at once. A device backend returns before the batch is done, so
        the next batch's copies overlap this one's compute."""
        return Pending(self.predict(inputs))

    def stage(self, rows: Dict[str, Any]) -> Dict[str, Any]:
        """Where batches are gathered from: the loaded samples (numpy, in RAM) by default; a device backend may
        return them on the device, or in pinned memory, so a batch needs no pageable copy."""
        return rows

    def close(self) -> None:
        """Release device resources."""

    def describe(self) -> Dict[str, Any]:
        """What actually runs (precision after fallbacks, device name, layout), for results.json."""
        info = {"backend": self.name, "version": self.version}
        if self.plugin:
            info["plugin"] = self.plugin
        return info
