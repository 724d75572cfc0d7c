"""The SUTs without LoadGen: every sample answered once with the model's own answer, whatever the dispatch
(inline, several workers, a device-style pipeline with batches in flight, rows staged as tensors), and the
generation engine's continuous batching gives the reference continuations."""
import ctypes

import numpy as np
import pytest
import torch

from dummy_harness import catalogue, models
from dummy_harness.backends.base import Pending
from dummy_harness.backends.pytorch import PyTorchBackend
from dummy_harness.dataset import open_dataset
from dummy_harness.loadgen.generation import GenerationSUT
from dummy_harness.loadgen.qsl import SampleStore
from dummy_harness.loadgen.sut import BatchingSUT


class Recorder:
    """Stands in for QuerySamplesComplete: copies each response's bytes while they are alive."""

    def __init__(self):
        self.answers = {}

    def __call__(self, responses):
        for r in responses:
            assert r.id not in self.answers, "a sample was answered twice"
            self.answers[r.id] = (ctypes.string_at(r.data, r.size), r.n_tokens)


class PipelineBackend(PyTorchBackend):
    """A CPU backend shaped like a device one: submit() returns before the batch is computed, rows are staged
    as tensors, and two batches may be in flight; it records the order of submits and results."""
    in_flight = 2

    def __init__(self):
        super().__init__()
        self.events = []

    def stage(self, rows):
        return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in rows.items()}

    def submit(self, inputs):
        n = len(self.events)
        self.events.append(("submit", n))
        inputs = tuple(x.clone() for x in inputs)

        return LazyPending(lambda: (self.events.append(("result", n)), self.predict(inputs))[1])


class LazyPending(Pending):
    """Computed only when collected, as a device batch finishes only when synchronised."""

    def __init__(self, compute):
        super().__init__(None)
        self.compute = compute

    def result(self):
        return self.compute()


@pytest.fixture(scope="module")
def resnet(dataset_dir):
    bench = models.load(catalogue.get("resnet50"), "small")
    model = bench.build_model()
    dataset = open_dataset(bench, model, 256, 0, str(dataset_dir))
    return bench, model, dataset


def run_batching(resnet, backend, **kwargs):
    bench, model, dataset = resnet
    store = SampleStore(bench, dataset.arrays, dataset.count)
    store.load(range(dataset.count))
    backend.load(model, "cpu", "float32", bench.calibration_batches(store.ram, 8, 16))
    sut = BatchingSUT(bench, backend, store, 8, inline=True, **kwargs)
    recorder = Recorder()
    sut.complete = recorder
    indices = [int(i) for i in np.random.default_rng(3).permutation(dataset.count)[:100]]
    sut.issue(list(range(1000, 1100)), indices)
    labels = np.asarray(dataset.arrays["labels"])
    answers = {rid: int(np.frombuffer(data, np.float32)[0]) for rid, (data, _) in recorder.answers.items()}
    assert sorted(answers) == list(range(1000, 1100))
    assert [answers[1000 + k] for k in range(100)] == [int(labels[i]) for i in indices]
    return sut


def test_inline_batches_answer_every_sample_with_the_models_answer(resnet):
    sut = run_batching(resnet, PyTorchBackend())
    assert sut.batches == 13 and sut.samples == 100            # 12 batches of 8 and one of 4


def test_several_compute_threads_answer_every_sample_once(resnet):
    run_batching(resnet, PyTorchBackend(), workers=2)


def test_a_device_style_pipeline_keeps_two_batches_in_flight(resnet):
    backend = PipelineBackend()
    run_batching(resnet, backend)
    events = [e for e in backend.events if e[0] in ("submit", "result")]
    # After warm-up, batch k+1 is submitted before batch k's result is taken.
    first = next(i for i, e in enumerate(events) if e[0] == "result")
    assert events[first - 1] == ("submit", events[first][1] + 1)


def test_continuous_batching_gives_the_reference_continuations(dataset_dir):
    bench = models.load(catalogue.get("llama2-70b-99"), "small")
    model = bench.build_model()
    dataset = open_dataset(bench, model, 24, 0, str(dataset_dir))
    store = SampleStore(bench, dataset.arrays, dataset.count)
    store.load(range(dataset.count))
    backend = PyTorchBackend()
    backend.load(model, "cpu", "float32", bench.calibration_batches(store.ram, 8, 2))
    sut = GenerationSUT(bench, backend, store, slots=8, stream_first_token=True, report_tokens=True, inline=True)
    recorder, first_tokens = Recorder(), Recorder()
    sut.complete, sut.first_token = recorder, first_tokens
    sut.issue(list(range(dataset.count)), list(range(dataset.count)))
    assert sut.batches < sut.tokens                              # several sequences per decode step
    outputs, lengths = np.asarray(dataset.arrays["outputs"]), np.asarray(dataset.arrays["output_lengths"])
    for i in range(dataset.count):
        data, n_tokens = recorder.answers[i]
        tokens = np.frombuffer(data, np.int32)
        assert tokens.tolist() == outputs[i, :lengths[i]].tolist()
        assert n_tokens == len(tokens) >= 2
        assert np.frombuffer(first_tokens.answers[i][0], np.int32)[0] == tokens[0]


class SleepingBackend(PyTorchBackend):
    """Takes a fixed time per sample and releases the GIL while it waits, like a device or a torch kernel."""
    per_sample_s = 0.002

    def predict(self, inputs):
        import time
        time.sleep(self.per_sample_s * len(inputs[0]))
        return torch.zeros(len(inputs[0]), dtype=torch.float32)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_offline_estimate_is_the_rate_all_workers_sustain_together(workers):
    # A valid Offline run lasts LoadGen's sample count over this estimate, so it must count what the worker
    # threads deliver together, not one batch on one thread multiplied by the workers.
    from dummy_harness.loadgen.sut import sustained_throughput

    bench = models.load(catalogue.get("resnet50"), "small")
    rows = {name: np.zeros((16, 3, 224, 224), np.float32) for name in bench.input_names}
    mean, peak = sustained_throughput(bench, SleepingBackend(), rows, 16, 8, workers, seconds=1.0)
    expected = workers / SleepingBackend.per_sample_s
    assert 0.6 * expected < mean <= peak < 1.15 * expected, (mean, peak, expected)


def test_the_peak_rate_is_the_fastest_window_of_completions():
    from dummy_harness.loadgen.sut import peak_rate

    # 10 samples/s for 4 s, then 40 samples/s for 1 s: the 1-second peak is 40/s, the mean 16/s.
    events = [(0.1 * i, 1) for i in range(1, 41)] + [(4 + 0.025 * i, 1) for i in range(1, 41)]
    assert peak_rate(events, 0.0, 1.0) == pytest.approx(40, rel=0.05)
    assert peak_rate(events[:40], 0.0, 1.0) == pytest.approx(10, rel=0.15)
