"""The executors without LoadGen: every sample answered once with the model's own answer, whatever the dispatch
(inline, several compute threads, a device-style pipeline with batches in flight, queued queries joined into
batches), and the generation engine's continuous batching gives the reference continuations."""
import numpy as np
import pytest
import torch

from conftest import build_worker
from dummy_harness import executors, tuning
from dummy_harness.backends.base import Pending
from dummy_harness.backends.pytorch import PyTorchBackend
from dummy_harness.executors.base import Collector, ExecutionPlan, Work


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


def answer_resnet(dataset_dir, backend, executor: str, compute_threads: int = 1):
    """100 random samples of resnet50's dataset answered by `executor` in one query."""
    worker = build_worker(dataset_dir, "resnet50", backend=backend)
    ex = executors.build(executor, ExecutionPlan(worker, 8, compute_threads))
    collector = Collector()
    ex.attach(collector)
    indices = [int(i) for i in np.random.default_rng(3).permutation(worker.dataset.count)[:100]]
    ex.issue(Work(list(range(1000, 1100)), indices))
    labels = np.asarray(worker.dataset.arrays["labels"])
    answers = {rid: int(np.frombuffer(data, np.float32)[0]) for rid, data in collector.answers.items()}
    assert sorted(answers) == list(range(1000, 1100))
    assert [answers[1000 + k] for k in range(100)] == [int(labels[i]) for i in indices]
    return ex


def test_inline_batches_answer_every_sample_with_the_models_answer(dataset_dir):
    ex = answer_resnet(dataset_dir, PyTorchBackend(), "inline")
    assert ex.stats.batches == 13                                  # 12 batches of 8 and one of 4


def test_several_compute_threads_answer_every_sample_once(dataset_dir):
    ex = answer_resnet(dataset_dir, PyTorchBackend(), "threads", compute_threads=2)
    assert ex.stats.batches == 13


def test_a_device_style_pipeline_keeps_two_batches_in_flight(dataset_dir):
    backend = PipelineBackend()
    answer_resnet(dataset_dir, backend, "pipelined")
    events = [e for e in backend.events if e[0] in ("submit", "result")]
    # After warm-up, batch k+1 is submitted before batch k's result is taken.
    first = next(i for i, e in enumerate(events) if e[0] == "result")
    assert events[first - 1] == ("submit", events[first][1] + 1)


def test_queued_queries_that_arrived_together_are_joined_up_to_the_batch_size(dataset_dir):
    worker = build_worker(dataset_dir, "resnet50")
    ex = executors.build("queued", ExecutionPlan(worker, 8))
    collector = Collector()
    ex.attach(collector)
    for rid in range(20):                     # 20 one-sample queries arrive before the compute thread looks
        ex.issue(Work([rid], [rid]))
    ex.finish()
    ex.serve()
    labels = np.asarray(worker.dataset.arrays["labels"])
    assert {rid: int(np.frombuffer(d, np.float32)[0]) for rid, d in collector.answers.items()} == \
        {rid: int(labels[rid]) for rid in range(20)}
    assert ex.stats.batches == 3                                   # 8 + 8 + 4, never waiting for more


def test_continuous_batching_gives_the_reference_continuations(dataset_dir):
    worker = build_worker(dataset_dir, "llama2-70b-99", dataset_size=24)
    ex = executors.build("inline", ExecutionPlan(worker, 8, stream_first_token=True, report_tokens=True))
    collector = Collector()
    ex.attach(collector)
    count = worker.dataset.count
    ex.issue(Work(list(range(count)), list(range(count))))
    assert ex.stats.batches < ex.stats.tokens                      # several sequences per decode step
    outputs = np.asarray(worker.dataset.arrays["outputs"])
    lengths = np.asarray(worker.dataset.arrays["output_lengths"])
    for i in range(count):
        tokens = np.frombuffer(collector.answers[i], np.int32)
        assert tokens.tolist() == outputs[i, :lengths[i]].tolist()
        assert collector.n_tokens[i] == len(tokens) >= 2
        assert collector.first[i] == tokens[0]                     # one first token, before the answer


class SleepingBackend(PyTorchBackend):
    """Takes a fixed time per sample and releases the GIL while it waits, like a device or a torch kernel."""
    per_sample_s = 0.002

    def predict(self, inputs):
        import time
        time.sleep(self.per_sample_s * len(inputs[0]))
        return torch.zeros(len(inputs[0]), dtype=torch.float32)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_offline_estimate_is_the_rate_all_workers_sustain_together(workers, dataset_dir):
    # A valid Offline run lasts LoadGen's sample count over this estimate, so it must count what the worker
    # threads deliver together, not one batch on one thread multiplied by the workers.
    worker = build_worker(dataset_dir, "resnet50", backend=SleepingBackend())
    mean, peak = tuning.sustained_throughput(worker, 16, 8, workers, seconds=1.0)
    expected = workers / SleepingBackend.per_sample_s
    assert 0.6 * expected < mean <= peak < 1.15 * expected, (mean, peak, expected)


def test_the_peak_rate_is_the_fastest_window_of_completions():
    peak_rate = tuning.peak_rate
    # 10 samples/s for 4 s, then 40 samples/s for 1 s: the 1-second peak is 40/s, the mean 16/s.
    events = [(0.1 * i, 1) for i in range(1, 41)] + [(4 + 0.025 * i, 1) for i in range(1, 41)]
    assert peak_rate(events, 0.0, 1.0) == pytest.approx(40, rel=0.05)
    assert peak_rate(events[:40], 0.0, 1.0) == pytest.approx(10, rel=0.15)
