"""Benchmark stand-ins, one file each; `load(spec, size)` imports the one a catalogue entry names."""
from __future__ import annotations

import importlib

from ..catalogue import BenchmarkSpec
from .base import Benchmark


def load(spec: BenchmarkSpec, size: str = "") -> Benchmark:
    if not spec.implementation:
        raise ValueError(f"model {spec.name!r} has no stand-in yet")
    module_name, class_name = spec.implementation.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(size)
