"""The query sample library: samples copied into RAM when LoadGen asks, gathered per batch by the worker.

Rows live in `ram` (one array per model input). A dataset whose loaded rows fit in RAM_BUDGET keeps every row at
its own index once loaded (slot = index). A larger one (an official-size accuracy run: 50000 resnet50 images)
keeps only what LoadGen has loaded, at most its performance sample count at a time: each loaded sample takes a free
slot, and LoadGen's unload gives the slot back, so RAM holds one loadable set, never the dataset.
"""
from __future__ import annotations

from typing import Callable, List, Sequence

import numpy as np

from ..models.base import Arrays, Benchmark

# Bytes of loaded rows above which rows share slots instead of each keeping its own.
RAM_BUDGET = 2 * 2**30


class SampleStore:
    """RAM copies of the model inputs of a dataset. `load`/`unload` run on LoadGen's thread and use numpy only
    (no torch op may run outside the compute thread, see loadgen-facts.md)."""

    def __init__(self, bench: Benchmark, dataset: Arrays, count: int):
        self.bench = bench
        self.dataset = dataset
        self.count = count
        self._shapes = bench.input_shapes(dataset)
        row_bytes = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in self._shapes.values())
        self.shared = count * row_bytes > RAM_BUDGET
        # Full-size arrays when rows keep their index (pages of rows never loaded are never touched), else grown
        # to what LoadGen keeps loaded at once.
        self.ram: Arrays = self._arrays(0 if self.shared else count)
        self.loaded = np.zeros(count, dtype=bool)
        self._slot = np.full(count, -1, dtype=np.int64) if self.shared else None
        self._free: List[int] = []
        self.version = 0        # bumped whenever rows change, so copies staged elsewhere know to refresh
        # Called with ("load" | "unload", indices) after LoadGen loads or unloads: remote workers keeping their
        # own copy of the dataset follow the same loadable sets (executors/ray.py).
        self.listeners: List[Callable[[str, List[int]], None]] = []

    def _arrays(self, rows: int) -> Arrays:
        return {name: np.empty((rows,) + tuple(shape), dtype) for name, (shape, dtype) in self._shapes.items()}

    def slots(self, indices: Sequence[int]):
        """Where loaded samples' rows are in `ram` (the indices themselves unless rows share slots)."""
        if self._slot is None:
            return indices
        found = self._slot[np.asarray(indices, dtype=np.int64)]
        if (found < 0).any():
            raise KeyError(f"sample {int(np.asarray(indices)[found < 0][0])} is not loaded")
        return found.tolist()

    def load(self, indices: Sequence[int]) -> None:
        self._load(indices)
        for listener in self.listeners:
            listener("load", list(indices))

    def unload(self, indices: Sequence[int]) -> None:
        self._unload(indices)
        for listener in self.listeners:
            listener("unload", list(indices))

    def _load(self, indices: Sequence[int]) -> None:
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        todo = idx[~self.loaded[idx]]
        if not todo.size:
            return
        rows = self.bench.load_rows(self.dataset, todo)
        if self._slot is None:
            target = todo
        else:
            target = np.asarray(self._take_slots(todo.size), dtype=np.int64)
            self._slot[todo] = target
        for name, array in self.ram.items():
            array[target] = rows[name]
        self.loaded[todo] = True
        self.version += 1

    def _unload(self, indices: Sequence[int]) -> None:
        # Rows that keep their index stay (the stand-in datasets that fit are not rebuilt between accuracy sets).
        if self._slot is None:
            return
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        idx = idx[self.loaded[idx]]
        self._free.extend(self._slot[idx].tolist())
        self._slot[idx] = -1
        self.loaded[idx] = False

    def _take_slots(self, n: int) -> List[int]:
        if len(self._free) < n:
            have = len(next(iter(self.ram.values())))
            grown = self._arrays(have + n - len(self._free))
            for name, array in self.ram.items():
                grown[name][:have] = array
            self.ram = grown
            self._free.extend(range(have, have + n - len(self._free)))
        taken, self._free = self._free[:n], self._free[n:]
        return taken


def construct(store: SampleStore, total: int, performance_count: int):
    import mlperf_loadgen as lg
    return lg.ConstructQSL(total, performance_count, store.load, store.unload)
