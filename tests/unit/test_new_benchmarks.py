"""The v5.1+ benchmarks (llama3.1-8b and -edge, deepseek-r1, gpt-oss-120b, whisper, yolo-95/99) keep the contracts
their catalogue entries declare, checked without a LoadGen run: the accuracy lines the submission checker's
patterns read, the official conf's keys, the answer lengths planned at `full`, and the response encodings."""
import importlib.util
import re

import numpy as np
import pytest

from conftest import ROOT
from dummy_harness import catalogue, models
from dummy_harness.config import ConfigError, parse_options
from dummy_harness.options import SCENARIOS

CHECKER = ROOT.parent / "shared" / "third_party" / "mlperf-inference-v6.1" / "tools" / "submission" / \
    "submission_checker" / "constants.py"
NEW = [catalogue.get(name) for name in ("llama3.1-8b", "llama3.1-8b-edge", "deepseek-r1", "gpt-oss-120b", "whisper",
                                         "yolo-95", "yolo-99")]
LLMS = [spec for spec in NEW if spec.generative]


@pytest.fixture(scope="module")
def checker():
    if not CHECKER.is_file():
        pytest.skip(f"{CHECKER} is absent (the v6.1 checker's constants; CI has them beside the checkout)")
    spec = importlib.util.spec_from_file_location("checker_constants", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fp32_report(spec):
    """The accuracy report of responses identical to a small made-up ground truth (no model needed)."""
    bench = models.load(spec)
    rng = np.random.default_rng(0)
    if spec.generative:
        lengths = rng.integers(8, 16, 6).astype(np.int32)
        outputs = rng.integers(100, 30000, (6, 16)).astype(np.int32)
        dataset = {"outputs": outputs, "output_lengths": lengths}
        responses = {i: outputs[i, :n].astype(spec.response_dtype) for i, n in enumerate(lengths)}
    elif spec.name == "whisper":
        outputs = np.full((3, 200), -1, np.int32)
        outputs[:, :5] = rng.integers(0, 50257, (3, 5))
        dataset = {"outputs": outputs}
        responses = {i: bench.labels(outputs[i]) for i in range(3)}
    else:
        from dummy_harness.models.yolo import COCO_80_TO_91
        rows = [[i, 0.1, 0.2, 0.5, 0.6, 0.9, COCO_80_TO_91[i]] for i in range(3)]
        dataset = {"count": np.array([3]), "detections": np.array(rows, np.float32)}
        responses = {i: np.array(rows[i], np.float32) for i in range(3)}
    return bench.evaluate(responses, dataset)


@pytest.mark.parametrize("spec", NEW, ids=lambda s: s.name)
def test_the_checker_reads_every_metric_of_the_accuracy_txt(spec, checker):
    report = fp32_report(spec)
    assert report.passed, report.verdict()
    lines = report.to_text().splitlines()
    config = checker.MODEL_CONFIG["v6.1"]
    targets = config["accuracy-target"][spec.name]
    limits = config.get("accuracy-upper-limit", {}).get(spec.name, ())
    metrics = list(targets[::2]) + [m for m in limits[::2] if spec.name != "gpt-oss-120b"]
    for metric in metrics:
        pattern = checker.ACC_PATTERN[metric]
        found = [m.group(1) for m in (re.match(pattern, line) for line in lines) if m]
        assert found and float(found[0]) > 0, (metric, pattern, lines)
    assert float(re.match(spec.accuracy_pattern, lines[0]).group(1)) == 100.0


@pytest.mark.parametrize("spec", NEW, ids=lambda s: s.name)
def test_the_official_conf_knows_the_loadgen_key(spec):
    from dummy_harness.loadgen.settings import official
    sizes = {"llama3_1-8b": 13368, "llama3_1-8b-edge": 5000, "deepseek-r1": 4388, "gpt-oss-120b": 6396,
             "whisper": 1633, "yolo": 64}
    for scenario in (s for s in spec.scenarios if s in SCENARIOS):
        conf = official(spec.loadgen_key, scenario)
        assert conf.performance_sample_count_override == sizes[spec.loadgen_key]
        # Every generative one, and whisper, has LoadGen measure token latencies (n_tokens on each answer).
        assert bool(conf.use_token_latencies) == spec.generates_tokens


def test_the_llm_server_bounds_are_the_official_ones():
    from dummy_harness.loadgen.settings import official
    bounds = {"llama3_1-8b": (2000, 100), "deepseek-r1": (2000, 80), "gpt-oss-120b": (3000, 80)}
    for key, (ttft, tpot) in bounds.items():
        conf = official(key, "Server")
        assert (conf.ttft_latency / 1e6, conf.tpot_latency / 1e6) == (ttft, tpot)


@pytest.mark.parametrize("name,official,samples", [("deepseek-r1", 3886.2274, 4388), ("gpt-oss-120b", 1278.2, 6396)])
def test_reasoning_answers_at_full_average_the_official_length(name, official, samples):
    bench = models.load(catalogue.get(name), "full")
    assert abs(bench.table().mean() - official) <= 1 / 1024
    planned = bench.planned_lengths(samples)        # the official dataset's size: the checker's 10% and more
    assert abs(planned.mean() / official - 1) < 0.05, planned.mean()
    size = bench.decoder_size
    assert size.min_new_tokens <= planned.min() and planned.max() <= size.max_new_tokens


@pytest.mark.parametrize("name,gen_len,samples", [("llama3.1-8b", 8167644, 13368),
                                                  ("llama3.1-8b-edge", 3051113, 5000)])
def test_llama3_summaries_at_full_follow_the_official_gen_len(name, gen_len, samples):
    bench = models.load(catalogue.get(name), "full")
    chars = bench.planned_lengths(samples).mean() * bench.chars_per_token() - 1
    assert abs(chars / (gen_len / samples) - 1) < 0.02, chars


@pytest.mark.parametrize("spec", LLMS, ids=lambda s: s.name)
def test_llm_ids_decode_in_the_declared_dtype(spec):
    bench = models.load(spec)
    ids = np.array([7, 128000, 3], spec.response_dtype)
    assert bench.decode(ids.tobytes().hex().upper()).tolist() == ids.tolist()
    assert spec.accuracy_dtype_env[1] == spec.response_dtype


def test_whisper_transcripts_are_accuracy_eval_labels():
    from dummy_harness.models.whisper import LABELS, MAX_NEW_TOKENS
    import torch
    bench = models.load(catalogue.get("whisper"))
    tokens = np.array([[500, 9000, 123] + [-1] * (MAX_NEW_TOKENS - 3), [-1] * MAX_NEW_TOKENS])
    encoded = bench.encode(torch.from_numpy(tokens), [0, 1])
    first = encoded.buffer[: encoded.spans[0][1] // 8]
    assert encoded.buffer.dtype == np.int64 and "".join(LABELS[i] for i in first) == bench.text(tokens[0, :3])
    assert encoded.n_tokens == [4, 1]      # the generated tokens and <|endoftext|>
    assert encoded.spans[1][1] == 0


def test_yolo_boxes_come_back_through_the_letterbox():
    from dummy_harness.models.yolo import COCO_80_TO_91, detections_of, letterbox, original_size
    index = next(i for i in range(50) if original_size(i)[0] != original_size(i)[1])
    top, left, h, w = letterbox(*original_size(index))
    rows = np.full((300, 6), -1.0, np.float32)
    rows[0] = [top, left, top + h, left + w, 0.9, 2]           # the whole image
    rows[1] = [0, 0, top, left, 0.5, 3] if top else [0, 0, 10, left, 0.5, 3]     # inside the padding only
    out = detections_of(index, rows)
    assert out.shape == (1, 7)
    assert np.allclose(out[0, 1:5], [0, 0, 1, 1]) and out[0, 0] == index and out[0, 6] == COCO_80_TO_91[2]


def test_scenarios_outside_the_categories_are_refused_and_the_cm_spelling_is_accepted():
    with pytest.raises(ConfigError, match="use one of: Offline$"):
        parse_options({"model": "whisper", "scenario": "Server"})
    with pytest.raises(ConfigError, match="not a scenario of llama3.1-8b-edge"):
        parse_options({"model": "llama3.1-8b-edge", "scenario": "Server"})
    assert parse_options({"model": "llama3_1-8b", "scenario": "Server"}).model == "llama3.1-8b"
    assert parse_options({"model": "yolo-95", "scenario": "MultiStream"}).model == "yolo-95"
