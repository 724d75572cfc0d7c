"""The _cuda path on a real GPU: every family at fp32 and fp16 through the console script, LoadGen runs on the
device, the staging of samples (on the device, or pinned host memory when they do not fit), and the script through
`cmr`. Skipped, saying why, on a machine without a usable CUDA device (CI has none; the refusal there is tested in
test_cm_resnet50.py)."""
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip(f"no usable CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda})",
                allow_module_level=True)

from conftest import only_run_dir, results_of  # noqa: E402

FAMILIES = ["resnet50", "retinanet", "bert-99", "gptj-99", "llama2-70b-99"]


def _run_dir(out: Path, model: str, scenario: str, mode: str) -> Path:
    return next(out.glob(f"*/{model}/{scenario.lower()}/{mode}"))


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("model", FAMILIES)
def test_accuracy_on_the_gpu(harness, tmp_path, model, precision):
    out = tmp_path / "o"
    r = harness(f"--model={model}", "--device=cuda", f"--precision={precision}", "--mode=accuracy",
                f"--output_dir={out}", timeout=600)
    assert r.returncode == 0, r.output[-3000:]
    run_dir = _run_dir(out, model, "Offline", "accuracy")
    results = results_of(run_dir)
    backend = results["backend"]
    assert backend["device"].startswith("cuda") and backend["device_name"], backend
    assert backend["precision_ran"] == precision, backend
    verdict = (run_dir / "accuracy.txt").read_text().splitlines()[-1]
    print(f"{model} {precision} on {backend['device_name']}: {verdict}")
    assert verdict.startswith("PASS"), verdict


@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
def test_performance_on_the_gpu_is_valid_and_staged_on_the_device(harness, tmp_path, scenario):
    out = tmp_path / "o"
    r = harness("--model=resnet50", "--device=cuda", "--precision=fp16", f"--scenario={scenario}",
                f"--output_dir={out}", timeout=600)
    assert r.returncode == 0, r.output[-3000:]
    results = results_of(only_run_dir(out, scenario))
    print(scenario, results["result"], results["backend"]["notes"])
    assert results["valid"] is True, results.get("validity")
    assert any("staged on the device" in n for n in results["backend"]["notes"]), results["backend"]


def test_samples_that_do_not_fit_are_staged_in_pinned_memory_and_give_the_same_responses(monkeypatch):
    from dummy_harness import catalogue, models
    from dummy_harness.backends.pytorch import PyTorchBackend

    bench = models.load(catalogue.get("resnet50"), "small")
    model = bench.build_model()
    rows = {"inputs": torch.randn(16, 3, 224, 224).numpy()}
    batch = (torch.from_numpy(rows["inputs"][:8]),)

    on_device = PyTorchBackend()
    on_device.load(bench.build_model(), "gpu", "float32", [batch])
    staged = on_device.stage(rows)
    assert staged["inputs"].is_cuda

    pinned = PyTorchBackend()
    pinned.load(model, "gpu", "float32", [batch])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1024, 2 ** 40))   # "no room"
    staged_host = pinned.stage(rows)
    assert not staged_host["inputs"].is_cuda and staged_host["inputs"].is_pinned()
    assert "pinned host memory" in pinned.notes[-1]

    a = on_device.submit((staged["inputs"][:8],)).result()
    b = pinned.submit((staged_host["inputs"][:8],)).result()
    assert not a.is_cuda and torch.equal(a, b)


def test_uint8_on_the_gpu_is_refused_in_one_line(harness, tmp_path):
    r = harness("--device=cuda", "--precision=uint8", f"--output_dir={tmp_path / 'o'}")
    assert r.returncode == 2, r.output[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "uint8 runs on the CPU only" in r.stderr


def test_cmr_cuda_runs_on_the_gpu(cmr, tmp_path):
    out = tmp_path / "o"
    r = cmr("reproduce mlperf inference dummy _resnet50 _cuda _fp16", "--quiet", f"--output_dir={out}", timeout=600)
    assert r.returncode == 0, r.output[-3000:]
    results = json.loads(next(out.glob("*/resnet50/offline/performance/run_1/results.json")).read_text())
    assert results["valid"] is True and results["backend"]["device_name"], results["backend"]


def test_onnxruntime_on_the_gpu_runs_with_the_cuda_provider_or_says_why_not(harness, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "o"
    r = harness("--backend=onnxruntime", "--device=cuda", "--mode=accuracy", f"--output_dir={out}", timeout=600)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        # e.g. the CPU-only `onnxruntime` wheel: refused before anything runs, in one line
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.output[-2000:]
        assert "CUDA" in r.stderr, r.stderr
        print("refused:", r.stderr.strip())
        return
    assert r.returncode == 0, r.output[-3000:]
    run_dir = _run_dir(out, "resnet50", "Offline", "accuracy")
    assert "CUDAExecutionProvider" in str(results_of(run_dir)["backend"])
    assert (run_dir / "accuracy.txt").read_text().splitlines()[-1].startswith("PASS")
