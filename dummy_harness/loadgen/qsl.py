"""The query sample library: samples copied into RAM when LoadGen asks, gathered per batch by the SUT."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


class SampleStore:
    """RAM copies of the model inputs. `load`/`unload` run on LoadGen's thread and use numpy only (no torch
    op may run outside the compute thread, see loadgen-facts.md)."""

    def __init__(self, source: Dict[str, np.ndarray], names: Sequence[str]):
        self.source = source
        self.names = tuple(names)
        # Full-size arrays, filled row by row: pages of rows never loaded are never touched.
        self.ram: Dict[str, np.ndarray] = {n: np.empty(source[n].shape, source[n].dtype) for n in self.names}
        self.loaded = np.zeros(len(source[self.names[0]]), dtype=bool)

    def load(self, indices: Sequence[int]) -> None:
        idx = np.asarray(indices, dtype=np.int64)
        todo = idx[~self.loaded[idx]]
        if todo.size:
            todo.sort()
            for name in self.names:
                self.ram[name][todo] = self.source[name][todo]
            self.loaded[todo] = True

    def unload(self, indices: Sequence[int]) -> None:
        # The stand-in datasets fit in RAM; keeping rows avoids re-reading them between accuracy chunks.
        pass


def construct(store: SampleStore, total: int, performance_count: int):
    import mlperf_loadgen as lg
    return lg.ConstructQSL(total, performance_count, store.load, store.unload)
