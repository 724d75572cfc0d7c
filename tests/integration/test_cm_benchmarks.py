"""Every model variation of the seed through `cmr`: Offline performance VALID, accuracy PASS at fp32 in the
official form, the declared response dtype, one latency scenario per benchmark, and llama2's token latencies."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import evaluate_with_shuffled_responses, results_of

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"
VARIATIONS = ["resnet50", "retinanet", "bert-99", "bert-99.9", "gptj-99", "gptj-99.9", "llama2-70b-99",
              "llama2-70b-99.9"]
DTYPE_ENV = {"resnet50": "CM_IMAGENET_ACCURACY_DTYPE", "retinanet": "CM_OPENIMAGES_ACCURACY_DTYPE",
             "bert": "CM_SQUAD_ACCURACY_DTYPE", "gptj": "CM_CNNDM_ACCURACY_DTYPE",
             "llama2-70b": "CM_OPENORCA_ACCURACY_DTYPE"}


def family(variation: str) -> str:
    return variation.rsplit("-99", 1)[0] if "-99" in variation else variation


def ok(r) -> Path:
    assert r.returncode == 0, r.output[-4000:]
    return Path(r.json["new_env"]["CM_MLPERF_RUN_DIR"])


@pytest.mark.parametrize("variation", VARIATIONS)
def test_offline_performance_is_valid(cmr, tmp_path, variation):
    r = cmr(f"{TAGS} _{variation},_offline", "--quiet", f"--output_dir={tmp_path / 'o'}")
    run_dir = ok(r)
    assert "Result is : VALID" in (run_dir / "mlperf_log_summary.txt").read_text()
    results = results_of(run_dir)
    assert results["valid"] and results["error_count"] == 0 and results["benchmark"] == variation
    if family(variation) == "llama2-70b":
        assert results["result"]["tokens_per_second"] > 0          # Offline reports tokens/s
    if family(variation) in ("gptj", "llama2-70b"):
        # Continuous batching: several sequences advanced per decode step.
        assert results["sut"]["kind"] == "GenerationSUT" and results["sut"]["generated_tokens"] > 0
        assert results["sut"]["batches"] < results["sut"]["generated_tokens"]


@pytest.mark.parametrize("variation", VARIATIONS)
def test_accuracy_passes_at_fp32_and_shuffled_responses_fail(cmr, tmp_path, variation):
    r = cmr(f"{TAGS} _{variation},_offline", "--quiet", "--mode=accuracy", f"--output_dir={tmp_path / 'o'}")
    run_dir = ok(r)
    text = (run_dir / "accuracy.txt").read_text().splitlines()
    assert text[-1].startswith("PASS"), text
    assert "np.float64" not in text[0] and "np.int64" not in text[0]
    fam = family(variation)
    official = {"resnet50": "accuracy=100.000%, good=", "retinanet": "mAP=100.000%",
                "bert": '{"exact_match": 100.0, "f1": 100.0}', "gptj": "{'rouge1': 100.0, 'rouge2': 100.0,",
                "llama2-70b": "{'rouge1': 100.0, 'rouge2': 100.0,"}[fam]
    assert text[0].startswith(official), text[0]
    sut = r.json["new_env"]["CM_MLPERF_SUT_NAME"]
    entry = r.json["new_state"]["cm-mlperf-inference-results"][sut][variation]["Offline"]
    assert entry["accuracy_valid"] is True and entry["accuracy"] == 100.0

    # The declared dtype decodes every logged response to the length the contract says.
    dtype = r.json["new_env"][DTYPE_ENV[fam]]
    log = json.loads((run_dir / "mlperf_log_accuracy.json").read_text())
    lengths = [len(np.frombuffer(bytes.fromhex(e["data"]), dtype)) for e in log]
    if fam == "resnet50":
        assert set(lengths) == {1}
    elif fam == "retinanet":
        assert all(n % 7 == 0 for n in lengths) and max(lengths) > 0
        for e in log[:5]:
            data = np.frombuffer(bytes.fromhex(e["data"]), dtype).reshape(-1, 7)
            assert (data[:, 0] == e["qsl_idx"]).all() and ((data[:, 1:5] >= 0) & (data[:, 1:5] <= 1)).all()
    elif fam == "bert":
        assert set(lengths) == {384 * 2}
    elif fam == "gptj":
        assert min(lengths) >= 4 and max(lengths) <= 16
    else:
        assert all(n == e["token_count"] for n, e in zip(lengths, log)) and min(lengths) >= 2

    # A SUT that mixed responses up would fail: give each sample another sample's response.
    check = evaluate_with_shuffled_responses(run_dir, tmp_path, seed=1)
    assert check.returncode == 1, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1].startswith("FAIL")


@pytest.mark.parametrize("variation,scenario", [("retinanet", "singlestream"), ("bert-99", "singlestream"),
                                                ("gptj-99", "singlestream"), ("llama2-70b-99.9", "server")])
def test_one_latency_scenario_per_benchmark_is_valid(cmr, tmp_path, variation, scenario):
    r = cmr(f"{TAGS} _{variation},_{scenario}", "--quiet", f"--output_dir={tmp_path / 'o'}")
    run_dir = ok(r)
    assert "Result is : VALID" in (run_dir / "mlperf_log_summary.txt").read_text()
    results = results_of(run_dir)
    assert results["valid"] and results["error_count"] == 0
    if variation.startswith("llama2"):
        ttft, tpot = results["token_latency_ms"]["ttft"], results["token_latency_ms"]["tpot"]
        bounds = results["token_latency_bounds_ms"]
        assert bounds == {"ttft": 2000.0, "tpot": 200.0}
        assert 0 < ttft["p99"] < bounds["ttft"] and 0 < tpot["p99"] < bounds["tpot"]
        assert results["result"]["completed_tokens_per_second"] > 0
        # exactly one first token per sample, and n_tokens on every final response
        assert results["sut"]["first_tokens_sent"] == results["sut"]["samples"]
        assert results["sut"]["n_tokens_reported"] is True
