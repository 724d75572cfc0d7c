"""The CM env -> configuration table and the command CM runs."""
import shlex
import sys
from pathlib import Path

import pytest

from dummy_harness.cm.env import (availability_check, check_interpreter, config_from_env, deprecated_env,
                                  needs_availability_check, options_from_env, runner_env)
from dummy_harness.config import ConfigError, parse_options, read_options_file

BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}


def test_env_keys_become_options():
    cfg = config_from_env({**BASE, "CM_MLPERF_LOADGEN_SCENARIO": "Server", "CM_MLPERF_LOADGEN_MAX_BATCHSIZE": "4",
                           "CM_MLPERF_LOADGEN_QUERY_COUNT": "500", "CM_MLPERF_MODEL_PRECISION": "float16",
                           "CM_RERUN": "yes", "CM_SKIP_PREPROCESS_DATASET": "no"})
    assert (cfg.scenario, cfg.max_batchsize, cfg.count, cfg.precision, cfg.rerun, cfg.skip_preprocess) == \
        ("Server", 4, 500, "float16", True, False)


def test_env_keys_follow_one_rule_and_the_old_ones_still_work_with_a_note():
    from dummy_harness.options import OPTIONS
    upstream = {"CM_MODEL", "CM_MLPERF_DEVICE", "CM_MLPERF_MODEL_PRECISION", "CM_MLPERF_BACKEND", "CM_RERUN",
                "CM_HW_NAME", "CM_SKIP_PREPROCESS_DATASET", "CM_MLPERF_CONF", "CM_MLPERF_USER_CONF",
                "CM_MLPERF_OUTPUT_DIR", "CM_MLPERF_RUN_STYLE", "CM_MLPERF_SUBMITTER", "CM_MLPERF_SUBMISSION_DIVISION",
                "CM_MLPERF_INFERENCE_SOURCE", "CM_MLPERF_INFERENCE_SUBMISSION_DIR", "CM_MLPERF_INFERENCE_VERSION",
                "CM_MLPERF_INFERENCE_RESULTS_REPO", "CM_MLPERF_INFERENCE_IMPLEMENTATION_REPO"}
    for option in OPTIONS:      # the upstream name (CM's MLPerf scripts), else CM_MLPERF_DUMMY_<FLAG>
        assert option.env in upstream or option.env.startswith("CM_MLPERF_LOADGEN_") or \
            option.env == f"CM_MLPERF_DUMMY_{option.name.upper()}", option
    old = {**BASE, "CM_MLPERF_REPORT": "yes", "CM_MLPERF_SUBMISSION_ROUND": "v5.0"}
    cfg = config_from_env(old)
    assert cfg.report is True and cfg.submission_round == "v5.0"
    assert deprecated_env(old) == [
        "note: CM_MLPERF_REPORT is deprecated and will stop working in the next release; use CM_MLPERF_DUMMY_REPORT "
        "(or --report)",
        "note: CM_MLPERF_SUBMISSION_ROUND is deprecated and will stop working in the next release; use "
        "CM_MLPERF_INFERENCE_VERSION (or --submission_round)"]
    assert config_from_env({**BASE, "CM_MLPERF_INFERENCE_VERSION": "5.0"}).submission_round == "v5.0"   # upstream's
    both = config_from_env({**old, "CM_MLPERF_DUMMY_REPORT": "no"})
    assert both.report is False                                    # the new key wins
    assert deprecated_env(BASE) == []


def test_python_api_values_keep_their_type():
    assert config_from_env({**BASE, "CM_MLPERF_LOADGEN_QUERY_COUNT": 7}).count == 7


@pytest.mark.parametrize("missing", ["CM_MODEL", "CM_MLPERF_DEVICE", "CM_MLPERF_BACKEND"])
def test_a_removed_group_default_is_named(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match="is selected; add one to the tags"):
        options_from_env(env)


def test_the_command_names_the_interpreter_and_the_options_file_only(tmp_path):
    cfg = config_from_env({**BASE, "CM_MLPERF_LOADGEN_SCENARIO": "SingleStream"},
                          {"output_dir": str(tmp_path / "out"), "count": "ignored: not a path flag"})
    env = runner_env(cfg, "/usr/bin/python3")
    command = env["CM_RUN_CMD"]
    assert not any(c in command for c in "\"$`\\;|&\n'")
    options_file = Path(cfg.run_dir) / "run_options.json"
    assert shlex.split(command) == ["/usr/bin/python3", "-m", "dummy_harness", f"--options_file={options_file}"]
    assert env["CM_RUN_DIR"] == env["MLC_RUN_DIR"] == cfg.run_dir and env["MLC_RUN_CMD"] == command
    # The file gives the harness this very configuration, as the CLI reads it.
    assert parse_options(read_options_file(str(options_file))) == cfg
    assert cfg.count is None


def test_a_path_flag_beats_the_same_path_set_through_env(tmp_path):
    cfg = config_from_env({**BASE, "CM_MLPERF_OUTPUT_DIR": str(tmp_path / "env")}, {"output_dir": str(tmp_path / "f")})
    assert cfg.output_dir == str(tmp_path / "f")
    assert config_from_env({**BASE, "CM_MLPERF_OUTPUT_DIR": str(tmp_path / "env")}).output_dir == str(tmp_path / "env")


def test_an_interpreter_path_with_shell_syntax_is_refused():
    check_interpreter("/opt/my python/bin/python3")           # a space is quoted
    for python in ("/opt/py$(id)/python", "/opt/py`id`/python", '/opt/py"/python', "/opt/it's/python"):
        with pytest.raises(ConfigError, match="the Python interpreter"):
            check_interpreter(python)


def test_the_backend_variation_message_names_every_backend():
    from dummy_harness import backends
    with pytest.raises(ConfigError) as err:
        options_from_env({k: v for k, v in BASE.items() if k != "CM_MLPERF_BACKEND"})
    assert all(f"_{name}" in str(err.value) for name in backends.REGISTRY)


def test_availability_is_asked_only_where_something_may_be_missing():
    assert not needs_availability_check(config_from_env(BASE))
    assert needs_availability_check(config_from_env({**BASE, "CM_MLPERF_DEVICE": "gpu"}))
    assert needs_availability_check(config_from_env({**BASE, "CM_MLPERF_BACKEND": "onnxruntime"}))


def test_the_availability_probe_gives_the_backends_own_answer():
    # Through the harness's interpreter, as customize.py asks it: the same answer as the backend in process.
    from dummy_harness.backends.pytorch import PyTorchBackend
    assert availability_check(sys.executable, "pytorch", "cpu") is None
    reason = availability_check(sys.executable, "pytorch", "gpu")
    assert reason == PyTorchBackend.unavailable_reason("gpu")
    import torch
    if torch.version.cuda is None:        # this machine's torch: the CUDA check is the backend's, and it says no
        assert reason.startswith("CUDA was requested but the installed torch") and "CPU-only build" in reason


def test_a_runtime_that_is_not_installed_is_named(monkeypatch):
    from dummy_harness import backends
    info = backends.REGISTRY["onnxruntime"]
    monkeypatch.setitem(backends.REGISTRY, "onnxruntime",
                        backends.BackendInfo(info.implementation, info.precisions, info.generative,
                                             requirement="no_such_runtime_package"))
    reason = backends.unavailable_reason("onnxruntime", "cpu")
    assert reason.startswith("the onnxruntime backend needs the no_such_runtime_package package")
    with pytest.raises(backends.PluginError, match="pip install no_such_runtime_package"):
        backends.load("onnxruntime")
