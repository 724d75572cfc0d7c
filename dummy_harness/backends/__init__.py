"""Backend registry: name -> "module:Class", imported only when used (this module stays torch-free)."""
from __future__ import annotations

import importlib

REGISTRY = {
    "pytorch": "dummy_harness.backends.pytorch:PyTorchBackend",
}


def load(name: str):
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()
