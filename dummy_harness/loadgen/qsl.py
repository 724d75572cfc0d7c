"""The query sample library: samples copied into RAM when LoadGen asks, gathered per batch by the SUT."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..models.base import Arrays, Benchmark


class SampleStore:
    """RAM copies of the model inputs of a dataset. `load`/`unload` run on LoadGen's thread and use numpy only
    (no torch op may run outside the compute thread, see loadgen-facts.md)."""

    def __init__(self, bench: Benchmark, dataset: Arrays, count: int):
        self.bench = bench
        self.dataset = dataset
        # Full-size arrays filled row by row: pages of rows never loaded are never touched.
        self.ram: Arrays = {name: np.empty((count,) + tuple(shape), dtype)
                            for name, (shape, dtype) in bench.input_shapes(dataset).items()}
        self.loaded = np.zeros(count, dtype=bool)
        self.version = 0        # bumped whenever rows change, so copies staged elsewhere know to refresh

    def load(self, indices: Sequence[int]) -> None:
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        todo = idx[~self.loaded[idx]]
        if todo.size:
            rows = self.bench.load_rows(self.dataset, todo)
            for name, array in self.ram.items():
                array[todo] = rows[name]
            self.loaded[todo] = True
            self.version += 1

    def unload(self, indices: Sequence[int]) -> None:
        # The stand-in datasets fit in RAM; keeping rows avoids rebuilding them between accuracy chunks.
        pass


def construct(store: SampleStore, total: int, performance_count: int):
    import mlperf_loadgen as lg
    return lg.ConstructQSL(total, performance_count, store.load, store.unload)
