"""The second real backend end to end: `dummy-harness --backend=onnxruntime` runs the fixed-compute benchmarks
and, at fp32, its accuracy log scores exactly what pytorch's does: the metric's maximum, since the ground truth is
the fp32 torch stand-in's own output (pytorch's 100% is checked for every benchmark by test_cm_benchmarks.py)."""
import pytest

from conftest import only_run_dir, results_of

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install '.[onnx]')")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install '.[onnx]')")

# Samples evaluated: the whole default dataset, but 16 of retinanet's 800x800 images (each is drawn when loaded).
COUNT = {"resnet50": [], "bert-99": [], "retinanet": ["--count=16"]}


def accuracy_run(harness, out, model, backend, *extra):
    r = harness(f"--model={model}", f"--backend={backend}", "--mode=accuracy", f"--output_dir={out}",
                *COUNT[model], *extra)
    assert r.returncode == 0, r.output[-3000:]
    return results_of(only_run_dir(out, "Offline", "accuracy"))


@pytest.mark.parametrize("model", list(COUNT))
def test_fp32_accuracy_equals_pytorchs(harness, tmp_path, model):
    ort = accuracy_run(harness, tmp_path / "ort", model, "onnxruntime")
    assert ort["sut_name"].endswith("-onnxruntime-float32")
    assert ort["backend"]["backend"] == "onnxruntime" and ort["backend"]["providers"] == ["CPUExecutionProvider"]
    assert ort["backend"]["host_postprocessing"] is (model == "retinanet")     # its NMS stays in torch
    assert ort["accuracy"]["value"] == ort["accuracy"]["reference"] == 100.0 and ort["validity"] == "PASS", \
        ort["accuracy_lines"]
    assert ort["accuracy"]["missing"] == 0


def test_a_second_run_reuses_the_export_cached_beside_the_dataset(harness, tmp_path, dataset_dir):
    first = accuracy_run(harness, tmp_path, "resnet50", "onnxruntime", "--count=8")["backend"]["onnx_cache"]
    again = accuracy_run(harness, tmp_path, "resnet50", "onnxruntime", "--count=8", "--rerun")["backend"]["onnx_cache"]
    assert again == {"file": first["file"], "reused": True}
    assert first["file"].startswith(str(dataset_dir / "onnx") + "/")
