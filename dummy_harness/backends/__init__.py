"""Backend registry: name -> "module:Class", imported only when used (this module stays torch-free).

A vendor plug-in replaces the built-in backend without touching this package: a repository (CM:
--results_repo, CLI: --implementation_repo) holding `dummy_harness_backend.py` that defines
`class Backend(dummy_harness.backends.base.Backend)`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os

REGISTRY = {
    "pytorch": "dummy_harness.backends.pytorch:PyTorchBackend",
    "onnxruntime": "dummy_harness.backends.onnxruntime:OnnxRuntimeBackend",   # fixed-compute benchmarks, fp32/fp16
    "null": "dummy_harness.backends.null:NullBackend",     # zero compute: LoadGen + harness cost alone
}
PLUGIN_FILE = "dummy_harness_backend.py"


class PluginError(RuntimeError):
    """The plug-in cannot be used; str() is one line."""


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
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
