"""PyTorch eager backend: CPU or CUDA, fp32 / fp16 (bf16 fallback on CPU) / int8 (CPU, static PTQ).

On CUDA: the loaded samples are staged on the device when they fit in half its free memory (else in pinned host
memory), so a batch is one gather there (or one non_blocking copy); each in-flight batch has its own stream, so
one batch's copy overlaps the other's compute; the response comes back with one non_blocking copy into pinned
memory per batch; fp16 runs in half precision with channels_last convolutions.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .base import Backend, BackendError, Pending
from .quantize import GOOD, Recipe, has_conv as _has_conv, quantize

IN_FLIGHT_CUDA = 2


def cuda_unavailable_reason() -> Optional[str]:
    """None when a CUDA device can be used, else a one-line reason."""
    if torch.version.cuda is None:
        return (f"CUDA was requested but the installed torch {torch.__version__} is a CPU-only build; "
                "install a CUDA build of torch or run with _cpu")
    if not torch.cuda.is_available():
        return (f"CUDA was requested but torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable "
                "GPU on this machine; run with _cpu")
    return None


class PyTorchBackend(Backend):
    name = "pytorch"
    follows_torch_threads = True     # its CPU ops run in torch's pool, however large it is now

    def __init__(self, recipe: Recipe = GOOD) -> None:
        self.recipe = recipe                  # how uint8 quantizes (tests pass deliberately bad ones)
        self.quantization: Optional[Dict[str, Any]] = None
        self.model: Optional[torch.nn.Module] = None
        self.device = torch.device("cpu")
        self.compute_dtype = torch.float32
        self.precision_ran = "float32"
        self.channels_last = False
        self.streams: list = []
        self._next_stream = 0
        self.notes: list = []

    @classmethod
    def unavailable_reason(cls, device: str) -> Optional[str]:
        return cuda_unavailable_reason() if device == "gpu" else None

    @property
    def version(self) -> str:
        return torch.__version__

    # ---- preparation -----------------------------------------------------------------------------------------
    def load(self, model: torch.nn.Module, device: str, precision: str,
             calibration: Sequence[Tuple[torch.Tensor, ...]]) -> None:
        model = model.eval()
        if device == "gpu":
            reason = cuda_unavailable_reason()
            if reason:
                raise BackendError(reason)
            self.device = torch.device("cuda", torch.cuda.current_device())
            self.streams = [torch.cuda.Stream(self.device) for _ in range(IN_FLIGHT_CUDA)]
            self.in_flight = IN_FLIGHT_CUDA
        self.channels_last = _has_conv(model)

        if precision == "uint8":
            if self.device.type != "cpu":
                raise BackendError("uint8 runs on the CPU only (torch's int8 kernels are CPU kernels); "
                                   "use _cpu,_uint8 or _cuda with _fp16/_fp32")
            model, self.quantization = quantize(model, calibration, self.recipe)
            self.precision_ran = "int8 (static PTQ, calibrated)" if self.recipe.calibrate else "int8 (uncalibrated)"
        elif precision == "float16":
            self.compute_dtype = torch.float16
            self.precision_ran = "float16"
            if self.device.type == "cpu" and not self._runs(model, torch.float16, calibration):
                self.compute_dtype = torch.bfloat16
                self.precision_ran = "bfloat16"
                self.notes.append("float16 is not supported by this CPU build; ran bfloat16")
            model = model.to(self.compute_dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)
        for batch in calibration[:2]:       # warm-up: allocator, kernel selection
            self.predict(batch)
        if self.device.type == "cuda" and calibration:
            # Every batch size the SUT may form, once: the first batch of a new size selects kernels and loads
            # modules lazily, which takes long enough to fail a Server latency bound.
            first = calibration[0]
            for size in range(1, first[0].shape[0]):
                self.predict(tuple(x[:size] for x in first))

    def _runs(self, model: torch.nn.Module, dtype: torch.dtype, calibration) -> bool:
        try:
            probe = [x[:1] for x in calibration[0]]
            with torch.inference_mode():
                model.to(dtype)(*[x.to(dtype) if x.is_floating_point() else x for x in probe])
            return True
        except (RuntimeError, NotImplementedError):
            return False
        finally:
            model.to(torch.float32)

    # ---- inference -------------------------------------------------------------------------------------------
    def stage(self, rows):
        if self.device.type != "cuda":
            return rows
        need = sum(a.nbytes for a in rows.values())
        free, _total = torch.cuda.mem_get_info(self.device)
        on_device = need < free // 2
        self.notes.append(f"samples staged {'on the device' if on_device else 'in pinned host memory'} "
                          f"({need / 2**20:.0f} MiB)")
        staged = {}
        for name, array in rows.items():
            host = torch.from_numpy(np.ascontiguousarray(array))
            staged[name] = host.to(self.device) if on_device else host.pin_memory()
        return staged

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        if x.device != self.device:
            if not x.is_pinned():
                x = x.pin_memory()                      # one copy, so that the transfer below is asynchronous
            x = x.to(self.device, non_blocking=True)
        if x.is_floating_point() and x.dtype != self.compute_dtype:
            x = x.to(self.compute_dtype)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def submit(self, inputs: Tuple[torch.Tensor, ...]) -> Pending:
        if not self.streams:
            return Pending(self.predict(inputs))
        stream = self.streams[self._next_stream]
        self._next_stream = (self._next_stream + 1) % len(self.streams)
        with torch.inference_mode(), torch.cuda.stream(stream):
            out = self.model(*[self._to_device(x) for x in inputs])
            host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
            host.copy_(out, non_blocking=True)         # the one device-to-host copy of the batch
            done = torch.cuda.Event()
            done.record(stream)
        return Pending(host, done.synchronize)

    def predict(self, inputs: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.streams:
            return self.submit(inputs).result()
        with torch.inference_mode():
            return self.model(*[self._to_device(x) for x in inputs])

    def close(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def describe(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {**super().describe(), "device": str(self.device),
                                "precision_ran": self.precision_ran, "channels_last": self.channels_last,
                                "notes": list(self.notes)}
        if self.quantization:
            info["quantization"] = self.quantization
        if self.device.type == "cuda":
            info["device_name"] = torch.cuda.get_device_name(self.device)
        return info
