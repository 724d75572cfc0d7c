"""One source of truth: the catalogue and _cm.yaml must agree, and we cover every variation of the stub that
cmx4mlops ships with the same tags (else CM would silently fall back to it)."""
from pathlib import Path

import yaml

from dummy_harness import catalogue
from dummy_harness.cm.env import ENV_TO_OPTION
from dummy_harness.options import OPTION_NAMES, PATHS

from conftest import ROOT
META = yaml.safe_load((ROOT / "_cm.yaml").read_text())
SEED_FLAGS = {"count", "max_batchsize", "mlperf_conf", "mode", "output_dir", "performance_sample_count",
              "scenario", "user_conf", "skip_preprocess", "skip_preprocessing", "target_qps",
              "offline_target_qps", "server_target_qps", "target_latency", "singlestream_target_latency",
              "multistream_target_latency", "rerun", "results_repo"}


def variations_of(group):
    return {name: v for name, v in META["variations"].items() if v.get("group") == group}


BY_VARIATION = {spec.cm_variation: spec for spec in catalogue.CATALOGUE.values()}


def test_model_variations_are_the_catalogue():
    # The variation is spelt as mlperf-automations spells it (_llama3_1-8b); CM_MODEL is the MLPerf name.
    models = variations_of("model")
    assert set(models) == set(BY_VARIATION)
    for name, v in models.items():
        assert v["env"]["CM_MODEL"] == BY_VARIATION[name].name


def test_default_model_is_the_catalogue_default():
    defaults = [n for n, v in variations_of("model").items() if v.get("default")]
    assert defaults == [catalogue.get(catalogue.DEFAULT_MODEL).cm_variation]


def test_every_model_exports_the_accuracy_dtype_of_the_catalogue():
    for name, v in variations_of("model").items():
        key, value = BY_VARIATION[name].accuracy_dtype_env
        assert v["env"][key] == value
        assert key in META["new_env_keys"]


def test_every_model_names_an_existing_stand_in():
    import importlib
    for spec in catalogue.CATALOGUE.values():
        module, cls = spec.implementation.split(":")
        assert getattr(importlib.import_module(module), cls).__name__ == cls


def test_all_seed_flags_are_mapped_and_understood():
    # Path flags are described, not mapped: customize.py reads them from CM's input (CM's shell re-reads env).
    mapping = META["input_mapping"]
    paths = {o.name for o in PATHS}
    assert SEED_FLAGS - paths <= set(mapping) and not paths & set(mapping)
    assert SEED_FLAGS <= set(META["input_description"])
    for flag, key in mapping.items():
        if flag == "results_repo":
            continue
        assert key in ENV_TO_OPTION, f"{flag} -> {key} is not translated into a harness option"
        assert ENV_TO_OPTION[key] in OPTION_NAMES


def test_every_stub_variation_exists_here():
    import cmx4mlops
    stub = yaml.safe_load((Path(cmx4mlops.__file__).parent / "repo/script/app-mlperf-inference-dummy/_cm.yaml")
                          .read_text())
    assert set(stub["variations"]) <= set(META["variations"])
    assert set(stub["tags"]) < set(META["tags"])   # same seven tags plus our unique one
    assert META["sort"] < 0


def test_runner_runs_before_our_postprocess():
    assert any(d["tags"] == "benchmark-mlperf" for d in META["posthook_deps"])
    assert not any("benchmark-mlperf" in d["tags"] for d in META.get("post_deps", []))


def test_online_deps_are_behind_a_switch():
    offline = {"detect,os", "detect,cpu"}
    for dep in META["deps"]:
        if dep["tags"] not in offline:
            assert "enable_if_env" in dep, f"{dep['tags']} would run on every call"


def test_backend_variations_are_the_registry():
    from dummy_harness import backends
    backend_variations = variations_of("backend")
    assert list(backend_variations) == list(backends.REGISTRY)
    for name, v in backend_variations.items():
        assert v["env"]["CM_MLPERF_BACKEND"] == name
    assert [n for n, v in backend_variations.items() if v.get("default")] == [backends.DEFAULT]
