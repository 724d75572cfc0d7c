"""MLCFlow runs the same folder as CM: `mlcr` and `mlc.access` read meta.yaml (the same file as _cm.yaml), use
mlperf-automations' runner chain, prepare the same command and leave the same tree as `cmr`, and report the results
under both state keys. The flag, bad-input and hostile-value tests of the other files take the entry point as a
parameter (conftest.ENTRY_POINTS); this file holds what only concerns the second tool.

The MLCFlow tests need mlcflow and a copy of mlcommons/mlperf-automations (conftest.mlperf_automations()); they
skip, saying why, without them.
"""
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, results_of
from dummy_harness import catalogue

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"
SCRIPT_ID = "reproduce-mlperf-inference-dummy,81c88d9114a993c2"
# Each model variation once (as mlperf-automations spells it), each scenario at least twice: what `mlcr` prepares
# must be what CM prepares.
MODEL_SCENARIOS = [("resnet50", "offline"), ("retinanet", "singlestream"), ("bert-99", "server"),
                   ("bert-99.9", "multistream"), ("gptj-99", "singlestream"), ("gptj-99.9", "offline"),
                   ("llama2-70b-99", "multistream"), ("llama2-70b-99.9", "server"), ("llama3_1-8b", "server"),
                   ("llama3_1-8b-edge", "singlestream"), ("deepseek-r1", "offline"), ("gpt-oss-120b", "server"),
                   ("whisper", "offline"), ("yolo-95", "multistream"), ("yolo-99", "singlestream")]
BY_VARIATION = {spec.cm_variation: spec for spec in catalogue.CATALOGUE.values()}


def test_meta_yaml_is_the_same_file_as_cm_yaml():
    # cmind reads only _cm.*, MLCFlow only meta.*: one declaration, two names.
    meta, cm = ROOT / "meta.yaml", ROOT / "_cm.yaml"
    assert meta.is_symlink() and meta.resolve() == cm.resolve(), "meta.yaml must link to _cm.yaml"
    assert not (ROOT / "_cm.json").exists() and not (ROOT / "meta.json").exists()


def test_one_wrapper_serves_both_tools_and_the_export_holds_meta_yaml_as_a_file(tmp_path):
    from dummy_harness.cm import repo as cm_repo

    wrapper = Path(cm_repo.export_for_docker(str(tmp_path)))
    assert (wrapper / "cmr.yaml").read_text() == (wrapper / "meta.yaml").read_text()       # CM's and MLCFlow's
    assert yaml.safe_load((wrapper / "meta.yaml").read_text())["uid"] == cm_repo.REPO_UID
    # A file, not the link: build-dockerfile's copytree(ignore_dangling_symlinks=True) drops a relative link.
    meta = wrapper / "script" / cm_repo.SCRIPT_ALIAS / "meta.yaml"
    assert not meta.is_symlink() and meta.read_text() == (ROOT / "_cm.yaml").read_text()


# Keys MLCFlow's schema does not know: CM's docker keys and two docker keys MLCFlow's docker automation reads
# although its schema omits them.
NOT_IN_MLC_SCHEMA = {"docker_os", "docker_os_version", "skip_cm_sys_upgrade", "docker_run_final_cmds",
                     "mlc_repo_path", "mlc_repos"}


def test_mlcflow_schema_check_finds_no_error():
    if importlib.util.find_spec("mlc") is None:
        pytest.skip("MLCFlow is not installed (pip install mlcflow; scripts/setup-env.sh does)")
    from automation.script.meta_schema import validate_meta    # shipped with mlcflow

    errors, warnings = validate_meta(yaml.safe_load((ROOT / "meta.yaml").read_text()), "meta.yaml")
    assert errors == []
    unknown = {re.search(r"key '([^']+)'", w).group(1) for w in warnings}
    assert unknown <= NOT_IN_MLC_SCHEMA, warnings


def prepared(r):
    """Run folder (relative to --output_dir) and options (as dummy-harness flags) a prepare-only run printed."""
    assert r.returncode == 0, r.output[-3000:]
    out = re.search(r"--output_dir=(\S+)", r.stdout).group(1)
    folder = re.search(r"^Run folder: (.*)$", r.stdout, re.M).group(1)
    command = re.search(r"^Options: (.*)$", r.stdout, re.M).group(1)
    return str(Path(folder).relative_to(out)), command.replace(out, "<out>")


@pytest.mark.parametrize("model,scenario", MODEL_SCENARIOS)
def test_every_model_and_scenario_prepares_what_cm_prepares(script_via, tmp_path, model, scenario):
    runs = {}
    for entry in ("cmind.access", "mlcr"):
        runs[entry] = script_via(entry)(f"{TAGS} _{model},_{scenario}", "--quiet", "--env.CM_MLPERF_SKIP_RUN=yes",
                                        f"--output_dir={tmp_path / entry.replace('.', '_')}")
    assert prepared(runs["mlcr"]) == prepared(runs["cmind.access"])
    folder, command = prepared(runs["mlcr"])
    spec = BY_VARIATION[model]       # the results folder and --model say the MLPerf name (llama3.1-8b)
    assert folder.split("/")[1:] == [spec.name, scenario, "performance", "run_1"]
    assert f"--model={spec.name}" in command.split() or model == "resnet50"
    env = runs["mlcr"].json["new_env"]
    key, dtype = spec.accuracy_dtype_env
    assert env[key] == dtype and env["CM_MLPERF_LOADGEN_SCENARIO"].lower() == scenario


@pytest.mark.parametrize("tags,batch", [("_retinanet", 1), ("_retinanet,_bs.4", 4), ("_retinanet,_bs.8,_server", 8)])
def test_retinanet_batch_defaults_to_1_and_bs_overrides_it_under_mlcr(script_via, tmp_path, tags, batch):
    # `base: [bs.1]` made MLCFlow resolve the dynamic bs.# without a number (KeyError: 'bs.#').
    r = script_via("mlcr")(f"{TAGS} {tags}", "--quiet", "--env.CM_MLPERF_SKIP_RUN=yes", f"--output_dir={tmp_path}")
    assert f"--max_batchsize={batch} " in prepared(r)[1] + " "


def test_mlcr_runs_through_the_upstream_runner_and_leaves_cms_tree(script_via, tmp_path):
    runs = {}
    for entry in ("cmr", "mlcr"):
        out = tmp_path / entry
        r = script_via(entry)(f"{TAGS} _resnet50,_offline", "--quiet", "--count=256", f"--output_dir={out}")
        assert r.returncode == 0, r.output[-4000:]
        runs[entry] = (r, sorted(str(p.relative_to(out)) for p in out.rglob("*")))
    # A stored VALID result is returned, not run again, under mlcr too (preprocess turns the runner off).
    again = script_via("mlcr")(f"{TAGS} _resnet50,_offline", "--quiet", "--count=256",
                               f"--output_dir={tmp_path / 'mlcr'}")
    assert again.returncode == 0 and "not repeated" in again.stdout and "mlcr benchmark-program" not in again.stderr
    assert again.json["new_state"] == runs["mlcr"][0].json["new_state"]
    r, tree = runs["mlcr"]
    assert tree == runs["cmr"][1]
    # mlperf-automations' benchmark-mlperf -> benchmark-program ran the command and tee'd its console.
    assert "mlcr benchmark-mlperf" in r.stderr and "mlcr benchmark-program" in r.stderr
    run_dir = Path(r.json["new_env"]["CM_MLPERF_RUN_DIR"])
    assert "Result is : VALID" in (run_dir / "mlperf_log_summary.txt").read_text()
    assert "Result is : VALID" in (run_dir / "console.out").read_text()
    assert results_of(run_dir)["status"] == "ok" and r.json["new_env"]["CM_MLPERF_RESULT_VALID"] == "yes"

    # The results under MLCFlow's state key as well as CM's, through both tools.
    sut = r.json["new_env"]["CM_MLPERF_SUT_NAME"]
    for tool_run, _ in runs.values():
        state = tool_run.json["new_state"]
        assert state["mlc-mlperf-inference-results"] == state["cm-mlperf-inference-results"]
        entry = state["mlc-mlperf-inference-results"][sut]["resnet50"]["Offline"]
        assert entry["performance_valid"] is True and entry["performance"] > 0
        assert state["mlperf-inference-implementation"]["script_id"].startswith(SCRIPT_ID)


def test_a_v6_benchmark_runs_under_mlcr_by_its_mlperf_automations_variation(script_via, tmp_path):
    r = script_via("mlcr")(f"{TAGS} _llama3_1-8b-edge,_singlestream", "--quiet", "--count=8", "--mode=accuracy",
                           f"--output_dir={tmp_path}")
    assert r.returncode == 0, r.output[-4000:]
    sut = r.json["new_env"]["CM_MLPERF_SUT_NAME"]
    entry = r.json["new_state"]["mlc-mlperf-inference-results"][sut]["llama3.1-8b-edge"]["SingleStream"]
    assert entry == {"accuracy": 100.0, "accuracy_valid": True}
    assert r.json["new_env"]["CM_CNNDM_LLAMA3_ACCURACY_DTYPE"] == "int64"


def test_an_llm_runs_through_mlc_access(script_via, tmp_path):
    r = script_via("mlc.access")(f"{TAGS} _llama2-70b-99.9,_singlestream", "--quiet", "--count=8",
                                 f"--output_dir={tmp_path}")
    assert r.returncode == 0, r.output[-4000:]
    sut = r.json["new_env"]["CM_MLPERF_SUT_NAME"]
    entry = r.json["new_state"]["mlc-mlperf-inference-results"][sut]["llama2-70b-99.9"]["SingleStream"]
    assert entry["performance_valid"] is True
    results = results_of(r.json["new_env"]["CM_MLPERF_RUN_DIR"])
    assert results["valid"] and results["sut"]["kind"] == "GenerationSUT"
    assert r.json["new_env"]["CM_OPENORCA_ACCURACY_DTYPE"] == "int32"
