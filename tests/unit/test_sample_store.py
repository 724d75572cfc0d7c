"""The sample store: LoadGen's loads and unloads, rows at their index while the dataset's rows fit in RAM, and
shared slots (at most one loadable set in RAM) for datasets that do not, e.g. an official-size accuracy run."""
import numpy as np

from dummy_harness.loadgen import qsl


class Rows:
    """A benchmark whose row i is i everywhere (and counts how many rows it made)."""
    input_names = ("x",)

    def __init__(self):
        self.made = 0

    def input_shapes(self, dataset):
        return {"x": ((4,), np.int64)}

    def load_rows(self, dataset, indices):
        self.made += len(indices)
        return {"x": np.repeat(np.asarray(indices, np.int64)[:, None], 4, axis=1)}


def test_rows_that_fit_keep_their_index_and_stay_loaded():
    bench = Rows()
    store = qsl.SampleStore(bench, {}, 100)
    assert not store.shared and store.ram["x"].shape == (100, 4)
    store.load([5, 7])
    store.unload([5, 7])
    store.load([5, 7, 9])
    assert bench.made == 3 and store.slots([5, 9]) == [5, 9]          # 5 and 7 were not made again


def test_a_dataset_too_large_for_ram_keeps_one_loadable_set(monkeypatch):
    monkeypatch.setattr(qsl, "RAM_BUDGET", 100 * 32)                 # 100 rows of 32 bytes
    bench = Rows()
    store = qsl.SampleStore(bench, {}, 1000)
    assert store.shared and store.ram["x"].shape[0] == 0
    for start in range(0, 1000, 64):                                 # as LoadGen's accuracy mode: load, use, unload
        indices = list(range(start, min(start + 64, 1000)))
        store.load(indices)
        assert (store.ram["x"][store.slots(indices), 0] == indices).all()
        store.unload(indices)
    assert store.ram["x"].shape[0] == 64 and bench.made == 1000     # never more than one set in RAM
    store.load([3])
    try:
        store.slots([4])
        raise AssertionError("a sample that is not loaded has no slot")
    except KeyError:
        pass
