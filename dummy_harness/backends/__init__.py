"""Backend registry: what each backend runs (devices, precisions, generative models), and where its class is.

A new backend = one file in this folder (a `base.Backend` subclass) + one REGISTRY line below, then
`python -m dummy_harness.generate` (its CM variation). What a backend supports is checked in one place,
`unsupported_reason`, which config validation calls (so the CLI, CM's predeps and run.py all refuse the same
combinations, before anything runs); whether this machine can run it (runtime installed, GPU seen) is the
backend class's own `unavailable_reason`. This module stays torch-free: classes are imported only when used.

A vendor plug-in replaces the built-in backend without touching this package: a repository (CM:
--results_repo, CLI: --implementation_repo) holding `dummy_harness_backend.py` that defines
`class Backend(dummy_harness.backends.base.Backend)`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class BackendInfo:
    implementation: str                          # "module:Class"
    precisions: Mapping[str, Tuple[str, ...]]    # device ("cpu"|"gpu") -> precisions it runs there
    generative: bool                             # runs the token-by-token (LLM) benchmarks
    requirement: str = ""                        # pip distribution it needs (named in the error when missing)
    summary: str = ""                            # one line for help texts / _cm.yaml variation comment


_ALL = ("float32", "float16", "uint8")

# The first entry is the default backend.
REGISTRY: Dict[str, BackendInfo] = {
    "pytorch": BackendInfo("dummy_harness.backends.pytorch:PyTorchBackend",
                           {"cpu": _ALL, "gpu": ("float32", "float16")}, generative=True,
                           summary="PyTorch eager: CPU or CUDA; uint8 is torch's int8 CPU kernels (static PTQ)"),
    "onnxruntime": BackendInfo("dummy_harness.backends.onnxruntime:OnnxRuntimeBackend",
                               {"cpu": ("float32", "float16"), "gpu": ("float32", "float16")}, generative=False,
                               requirement="onnxruntime",
                               summary="ONNX Runtime: the stand-in exported to ONNX; CPU, or the CUDA provider"),
    "null": BackendInfo("dummy_harness.backends.null:NullBackend", {"cpu": _ALL, "gpu": ("float32", "float16")},
                        generative=True,
                        summary="zero compute: answers with zeros at once, to measure LoadGen and the harness "
                                "alone (accuracy fails)"),
}
DEFAULT = next(iter(REGISTRY))
PLUGIN_FILE = "dummy_harness_backend.py"

# How users name devices and precisions on the CM command line (the variations).
_DEVICE_VARIATION = {"cpu": "_cpu", "gpu": "_cuda"}
_DEVICE_WORD = {"cpu": "CPU", "gpu": "GPU"}
_PRECISION_VARIATION = {"float32": "_fp32", "float16": "_fp16", "uint8": "_uint8"}


def unsupported_reason(backend: str, device: str, precision: str, spec: Any) -> Optional[str]:
    """None when `backend` declares it runs benchmark `spec` on `device` at `precision`, else one line saying
    what would run instead. Only the declaration is read: no import, nothing of this machine."""
    info = REGISTRY[backend]
    if spec.generates_tokens and not info.generative:
        instead = next(name for name, other in REGISTRY.items() if other.generative)
        return (f"the {backend} backend runs the fixed-compute benchmarks only; {spec.name} generates token by "
                f"token: use _{instead}")
    runs_here = info.precisions.get(device, ())
    if precision in runs_here:
        return None
    elsewhere = [d for d, ps in info.precisions.items() if precision in ps]
    if not runs_here:
        return (f"the {backend} backend does not run on the {_DEVICE_WORD[device]}; use "
                f"{' or '.join(_DEVICE_VARIATION[d] for d in info.precisions)}")
    instead = " or ".join(_PRECISION_VARIATION[p] for p in runs_here)
    if elsewhere:
        there = elsewhere[0]
        return (f"{precision} runs on the {_DEVICE_WORD[there]} only with the {backend} backend; use "
                f"{_DEVICE_VARIATION[there]},{_PRECISION_VARIATION[precision]}, or {_DEVICE_VARIATION[device]} "
                f"with {instead}")
    return f"the {backend} backend does not run {precision}; use {instead}"


def backend_class(name: str):
    module_name, class_name = REGISTRY[name].implementation.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def missing_requirement(name: str) -> Optional[str]:
    """One line when the runtime backend `name` needs is not installed (checked without importing it)."""
    requirement = REGISTRY[name].requirement
    if requirement and importlib.util.find_spec(requirement) is None:
        return (f"the {name} backend needs the {requirement} package, which is not installed for "
                f"{sys.executable}; run: {sys.executable} -m pip install {requirement}")
    return None


def unavailable_reason(name: str, device: str) -> Optional[str]:
    """None when this machine can run backend `name` on `device`, else one line (the runtime is not installed,
    no GPU is seen, ...). Imports the backend: torch and the runtime."""
    return missing_requirement(name) or backend_class(name).unavailable_reason(device)


def probe(name: str, device: str) -> None:
    """Print why this machine cannot run `name` on `device` (an empty line when it can). The CM adapter runs
    this in the harness's interpreter, so its own process never imports torch."""
    print(unavailable_reason(name, device) or "")


class PluginError(RuntimeError):
    """The backend cannot be loaded (a broken plug-in, a runtime that is not installed); str() is one line."""


def plugin_path(repo: str) -> str:
    return os.path.join(repo, PLUGIN_FILE) if repo else ""


def load(name: str, implementation_repo: str = ""):
    """The backend to run: the repository's plug-in when it has one, else the built-in `name`."""
    path = plugin_path(implementation_repo)
    if path and os.path.isfile(path):
        spec = importlib.util.spec_from_file_location("dummy_harness_backend", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:   # noqa: BLE001 - vendor code: report, do not crash
            raise PluginError(f"{path} failed to import: {type(exc).__name__}: {exc}") from None
        from .base import Backend
        cls = getattr(module, "Backend", None)
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise PluginError(f"{path} defines no class Backend(dummy_harness.backends.base.Backend)")
        backend = cls()
        backend.plugin = path
        return backend
    missing = missing_requirement(name)
    if missing:
        raise PluginError(missing)
    return backend_class(name)()
