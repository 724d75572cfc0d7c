"""ONNX Runtime backend: the worked example of plugging a second runtime into the harness.

What a backend has to do, in the order the harness asks for it:
  1. `unavailable_reason(device)`: say, in one line and before anything loads, why this machine cannot run it;
  2. `load(model, ...)`: turn the benchmark's fp32 torch stand-in into what the runtime runs. Here: export it to
     ONNX once per (weights, input shapes, precision, exporter and runtime versions), cache the file beside the
     dataset, and open an InferenceSession on it;
  3. `predict(inputs)`: host tensors of one batch in, the response tensor on the host out;
  4. `describe()`: what ran, for results.json.
Batching, threads, LoadGen and responses stay in the harness (dummy_harness/loadgen): a backend never sees them.

Fixed-compute benchmarks only (resnet50, retinanet, bert, yolo): the generative ones keep a KV cache inside their
torch module between calls, which one exported graph does not hold, and whisper decodes in a loop; the registry
refuses them before this runs. retinanet's and yolo's forward end in box decoding and NMS, whose shapes depend on
the data, so only their fixed-shape network part (`raw()`: trunk, neck, heads) is exported and their own
post-processing runs in torch on the host.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import os
import re
import tempfile
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import REGISTRY
from .base import Backend, BackendError

INSTALL_HINT = "pip install 'mlperf-dummy-harness[onnx]'"
# What it runs is declared once, in the registry (int8 would need ONNX Runtime's own quantizer: not done here).
PRECISIONS = REGISTRY["onnxruntime"].precisions
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def _runtime():
    """onnxruntime, imported only when this backend is used (the harness runs without it)."""
    import onnxruntime
    return onnxruntime


def exporter_versions() -> str:
    """The exporter and runtime whose output the cache holds: a new release of either exports again."""
    import onnxscript
    return f"torch {torch.__version__}, onnxscript {onnxscript.__version__}, onnxruntime {_runtime().__version__}"


class _NetworkPart(torch.nn.Module):
    """What is exported of a stand-in whose forward() has data-dependent shapes: its `raw(images)` network part."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.raw(images)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    cache_dir: str = ""      # run.py sets it to the folder holding the datasets; exports are cached under it

    def __init__(self) -> None:
        self.session = None
        self.device = "cpu"
        self.providers: List[str] = []
        self.precision_ran = "float32"
        self.inputs: List[Tuple[str, np.dtype]] = []      # the session's input names and the dtypes it takes
        self.host_model: Optional[torch.nn.Module] = None   # retinanet: forward() on the host, raw() from ORT
        self.cache_file = ""
        self.cache: Dict[str, Any] = {}
        self.notes: List[str] = []

    # ---- 1. can this machine run it? ---------------------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls, device: str) -> Optional[str]:
        for module in ("onnxruntime", "onnxscript"):    # the runtime, and what torch.onnx.export needs
            try:
                __import__(module)
            except ImportError:
                return f"the onnxruntime backend needs the {module} package: {INSTALL_HINT}"
        if device == "gpu" and CUDA not in _runtime().get_available_providers():
            return (f"CUDA was requested but onnxruntime {_runtime().__version__} has no {CUDA} "
                    "(the PyPI 'onnxruntime' wheel is CPU-only); install onnxruntime-gpu or run with _cpu")
        return None

    @property
    def version(self) -> str:
        return _runtime().__version__

    # ---- 2. preparation --------------------------------------------------------------------------------------
    def load(self, model: torch.nn.Module, device: str, precision: str,
             calibration: Sequence[Tuple[torch.Tensor, ...]]) -> None:
        reason = self.unavailable_reason(device)
        if reason:
            raise BackendError(reason)
        from ..models.decoder import DecoderLM
        if isinstance(model, DecoderLM):
            raise BackendError("the onnxruntime backend runs the fixed-compute benchmarks only (resnet50, "
                               "retinanet, bert-99, bert-99.9), not the generative ones; use --backend=pytorch")
        runs = PRECISIONS.get(device, ())
        if precision not in runs:
            raise BackendError(f"the onnxruntime backend runs {' and '.join(runs)}, not {precision}; "
                               "use _fp32 or _fp16 (or _pytorch for _uint8)")
        self.device = device
        model = model.eval()
        if precision == "float16":
            model = copy.deepcopy(model).half()          # the caller's fp32 model stays as it was
            self.precision_ran = "float16"
        # retinanet: export raw(), keep forward() on the host with raw() answered by the session (see top).
        exported = _NetworkPart(model).eval() if hasattr(model, "raw") else model
        if exported is not model:
            self.host_model = copy.copy(model)
            self.host_model.raw = self._run_as_tensors
        example = self._example(calibration[0], precision)

        folder = os.path.join(self.cache_dir or _default_cache_root(), "onnx")
        self.cache_file = os.path.join(folder, f"{type(model).__name__}-{precision}-"
                                               f"{cache_key(model, example, precision)}.onnx")
        self.session = self._open_cached(exported, example)
        if device == "gpu" and CUDA not in self.session.get_providers():
            raise BackendError(f"onnxruntime's {CUDA} did not start (no GPU or no CUDA libraries); run with _cpu")
        self.providers = self.session.get_providers()
        self.inputs = [(arg.name, x.numpy().dtype) for arg, x in zip(self.session.get_inputs(), example)]
        for batch in calibration[:2]:       # warm-up: ORT allocates its arenas on the first runs of a shape
            self.predict(batch)

    @staticmethod
    def _example(batch: Tuple[torch.Tensor, ...], precision: str) -> Tuple[torch.Tensor, ...]:
        """Two rows like the batch's first: a batch of 1 would make torch.export fix the batch dimension to 1."""
        example = []
        for x in batch:
            x = x[:1].contiguous().expand(2, *x.shape[1:]).contiguous()
            example.append(x.half() if precision == "float16" and x.is_floating_point() else x)
        return tuple(example)

    def _open_cached(self, exported: torch.nn.Module, example: Tuple[torch.Tensor, ...]):
        """A session on the cached export, exporting first when the file is missing or unreadable."""
        if os.path.isfile(self.cache_file):
            try:
                session = self._session()
                self.cache = {"file": self.cache_file, "reused": True}
                return session
            except Exception as exc:   # noqa: BLE001 - a truncated or foreign file: export it again
                self.notes.append(f"cached export unreadable ({type(exc).__name__}): exported again")
        start = time.perf_counter()
        _export(exported, example, self.cache_file)
        self.cache = {"file": self.cache_file, "reused": False,
                      "export_s": round(time.perf_counter() - start, 2)}
        return self._session()

    def _session(self):
        ort = _runtime()
        options = ort.SessionOptions()
        # The harness decides the thread layout (run.thread_layout) and sets torch's pool to it before load():
        # each compute thread gets the same number of ORT threads, and ORT's pool never spins against them.
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [CUDA, CPU] if self.device == "gpu" else [CPU]     # CPU: ops CUDA lacks fall back there
        return ort.InferenceSession(self.cache_file, sess_options=options, providers=providers)

    # ---- 3. inference ----------------------------------------------------------------------------------------
    def _run(self, inputs: Sequence[torch.Tensor]) -> List[np.ndarray]:
        # One host copy at most: retinanet's NHWC rows to NCHW, fp32 rows to fp16; none for contiguous fp32.
        feeds = {name: np.ascontiguousarray(x.numpy(), dtype=dtype) for (name, dtype), x in zip(self.inputs, inputs)}
        return self.session.run(None, feeds)

    def _run_as_tensors(self, *inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(out) for out in self._run(inputs))

    def predict(self, inputs: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.host_model is not None:
            with torch.inference_mode():
                return self.host_model(*inputs)
        return torch.from_numpy(self._run(inputs)[0])

    def close(self) -> None:
        self.session = None
        self.host_model = None

    # ---- 4. what ran -----------------------------------------------------------------------------------------
    def describe(self) -> Dict[str, Any]:
        return {**super().describe(), "device": "cuda" if CUDA in self.providers else "cpu",
                "precision_ran": self.precision_ran, "providers": list(self.providers),
                "exporter": f"torch.onnx.export(dynamo=True): {exporter_versions()}",
                "onnx_cache": dict(self.cache),
                "host_postprocessing": self.host_model is not None, "notes": list(self.notes)}


def _default_cache_root() -> str:
    from ..dataset import default_root
    return default_root()


def cache_key(model: torch.nn.Module, example: Tuple[torch.Tensor, ...], precision: str) -> str:
    """Everything the exported file depends on: the weights, per-sample input shapes and dtypes, the precision,
    the exporter and runtime versions."""
    from ..dataset import weights_digest
    h = hashlib.sha1()
    for part in (weights_digest(model), precision, exporter_versions(),
                 *(f"{tuple(x.shape[1:])}:{x.dtype}" for x in example)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _export(module: torch.nn.Module, example: Tuple[torch.Tensor, ...], path: str) -> None:
    """Export to `path` atomically (temporary file + rename), so a process never opens half a file, and two
    processes exporting at once each leave a whole one. The folder is checked before the export's seconds."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".onnx.tmp", dir=folder)
    except OSError as exc:
        raise BackendError(f"cannot write the ONNX cache {folder}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_onnx_bytes(module, example))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _onnx_bytes(module: torch.nn.Module, example: Tuple[torch.Tensor, ...]) -> bytes:
    """The serialized ONNX model of `module`, its batch dimension dynamic."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)        # the exporter narrates each step and each op library it skips
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, example, dynamo=True, verbose=False,
                                        dynamic_shapes=tuple({0: batch} for _ in example))
    except Exception as exc:   # noqa: BLE001 - one line for the run's error, whatever the exporter raised
        raise BackendError(f"torch.onnx.export failed for {type(module).__name__}: {_cause(exc)}") from None
    finally:
        quiet.setLevel(level)
    return program.model_proto.SerializeToString()


def _cause(exc: Exception) -> str:
    """One line of an exporter error: its "Exception summary" line when it has one (the first lines are advice)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if "## Exception summary" in lines[:-1]:
        return lines[lines.index("## Exception summary") + 1]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
