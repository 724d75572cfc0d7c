"""The ONNX Runtime backend: it answers as the torch stand-in does, exports once per (weights, shapes, precision,
versions) and reuses the file, rebuilds a corrupt one, and refuses what it cannot run in one line."""
import copy
import os
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install '.[onnx]')")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install '.[onnx]')")

from dummy_harness import catalogue, models                               # noqa: E402
from dummy_harness.backends import onnxruntime as ort_backend             # noqa: E402
from dummy_harness.backends.base import BackendError                      # noqa: E402
from dummy_harness.backends.onnxruntime import OnnxRuntimeBackend          # noqa: E402
from dummy_harness.models.decoder import DecoderLM, DecoderSize           # noqa: E402
from dummy_harness.models.resnet50 import synthetic_image                  # noqa: E402


@pytest.fixture(scope="module")
def resnet50():
    """The default resnet50 stand-in and a few of its real input batches (batch sizes 3, 1 and 8)."""
    model = models.load(catalogue.get("resnet50"), "").build_model()
    images = torch.from_numpy(np.stack([synthetic_image(0, i) for i in range(8)]))
    return model, [(images[:3],), (images[3:4],), (images,)]


@pytest.fixture(scope="module")
def exported(resnet50, tmp_path_factory):
    """A backend loaded once into a fresh cache folder (one export, shared by the tests that read it)."""
    model, batches = resnet50
    return loaded(model, batches, tmp_path_factory.mktemp("cache"))


@pytest.fixture
def exports(monkeypatch):
    """The real exporter, counted."""
    calls = []
    real = ort_backend._export

    def counted(module, example, path):
        calls.append(path)
        real(module, example, path)
    monkeypatch.setattr(ort_backend, "_export", counted)
    return calls


def loaded(model, batches, cache_dir, precision="float32"):
    backend = OnnxRuntimeBackend()
    backend.cache_dir = str(cache_dir)
    backend.load(model, "cpu", precision, batches)
    return backend


def test_answers_as_the_torch_stand_in_at_every_batch_size(resnet50, exported):
    model, batches = resnet50
    with torch.inference_mode():
        for batch in batches:
            got = exported.predict(batch)
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
            assert torch.equal(got, model(*batch)), "ONNX Runtime's top-1 differs from torch's"
    info = exported.describe()
    assert info["backend"] == "onnxruntime" and info["providers"] == ["CPUExecutionProvider"]
    assert info["precision_ran"] == "float32" and info["onnx_cache"]["reused"] is False
    assert os.path.dirname(info["onnx_cache"]["file"]) == os.path.join(exported.cache_dir, "onnx")


def test_a_second_load_reuses_the_cached_export(resnet50, exported, exports):
    model, batches = resnet50
    path = exported.cache_file
    stamp = os.stat(path).st_mtime_ns
    second = loaded(model, batches, exported.cache_dir)
    assert exports == [], f"exported again: {exports}"
    assert second.cache_file == path and os.stat(path).st_mtime_ns == stamp
    assert second.describe()["onnx_cache"]["reused"] is True
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)], "a temporary file was left behind"
    assert torch.equal(second.predict(batches[0]), model(*batches[0]))


def test_a_corrupt_cached_export_is_exported_again(resnet50, exported, exports, tmp_path):
    model, batches = resnet50
    whole = open(exported.cache_file, "rb").read()
    path = tmp_path / "onnx" / os.path.basename(exported.cache_file)
    path.parent.mkdir()
    path.write_bytes(whole[: len(whole) // 2])          # e.g. a copy cut short
    again = loaded(model, batches, tmp_path)
    assert again.cache_file == str(path) and len(exports) == 1
    assert again.describe()["onnx_cache"]["reused"] is False
    assert "exported again" in " ".join(again.describe()["notes"])
    assert path.read_bytes() == whole
    assert torch.equal(again.predict(batches[2]), model(*batches[2]))


def test_an_unwritable_cache_folder_is_one_line(resnet50, tmp_path):
    model, batches = resnet50
    (tmp_path / "onnx").write_text("a file where the cache folder would be")
    with pytest.raises(BackendError, match=r"^cannot write the ONNX cache .*/onnx: [^\n]+$"):
        loaded(model, batches, tmp_path)


def test_the_cache_key_names_weights_shapes_precision_and_versions(resnet50, monkeypatch):
    model, batches = resnet50
    example = OnnxRuntimeBackend._example(batches[0], "float32")
    key = ort_backend.cache_key(model, example, "float32")
    assert key == ort_backend.cache_key(model, OnnxRuntimeBackend._example(batches[2], "float32"), "float32")
    assert key != ort_backend.cache_key(model, example, "float16")
    assert key != ort_backend.cache_key(model, (example[0][..., :112],), "float32")
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.fc.bias.add_(1e-3)
    assert key != ort_backend.cache_key(other, example, "float32")
    monkeypatch.setattr(ort_backend, "exporter_versions", lambda: "a newer exporter")
    assert key != ort_backend.cache_key(model, example, "float32")


def test_float16_runs_in_half_precision_and_leaves_the_callers_model_fp32(resnet50, tmp_path):
    model, batches = resnet50
    backend = loaded(model, batches, tmp_path, "float16")
    assert backend.describe()["precision_ran"] == "float16" and "float16" in backend.cache_file
    assert backend.session.get_inputs()[0].type == "tensor(float16)"
    assert next(model.parameters()).dtype == torch.float32
    out = backend.predict(batches[2])
    assert out.shape == (8,) and out.dtype == torch.float32


def test_generative_models_are_refused_in_one_line(tmp_path):
    size = DecoderSize(vocab=64, layers=1, hidden=16, heads=2, ffn=32, max_prompt=8, mean_prompt=4, min_prompt=2,
                       max_new_tokens=4, min_new_tokens=1)
    backend = OnnxRuntimeBackend()
    backend.cache_dir = str(tmp_path)
    with pytest.raises(BackendError) as err:
        backend.load(DecoderLM(size, eos_id=1), "cpu", "float32", [])
    assert "fixed-compute benchmarks only" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "onnx").exists()


def test_uint8_is_refused_in_one_line(resnet50, tmp_path):
    model, batches = resnet50
    with pytest.raises(BackendError, match=r"^the onnxruntime backend runs float32 and float16, not uint8; [^\n]*$"):
        loaded(model, batches, tmp_path, "uint8")


def test_unavailable_reason_names_what_to_install_or_what_is_missing(monkeypatch):
    import onnxruntime

    assert OnnxRuntimeBackend.unavailable_reason("cpu") is None
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        reason = OnnxRuntimeBackend.unavailable_reason("gpu")
        assert "no CUDAExecutionProvider" in reason and "_cpu" in reason and "\n" not in reason
    monkeypatch.setitem(sys.modules, "onnxruntime", None)      # as if it were not installed
    reason = OnnxRuntimeBackend.unavailable_reason("cpu")
    assert reason == ("the onnxruntime backend needs the onnxruntime package: "
                      "pip install 'mlperf-dummy-harness[onnx]'")
    with pytest.raises(BackendError, match="pip install"):
        OnnxRuntimeBackend().load(torch.nn.Identity(), "cpu", "float32", [])
