"""The CM env -> configuration table and the command CM runs."""
import shlex

import pytest

from dummy_harness.cm_env import config_from_env, options_from_env, render_command
from dummy_harness.config import ConfigError

BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}


def test_env_keys_become_options():
    cfg = config_from_env({**BASE, "CM_MLPERF_LOADGEN_SCENARIO": "Server", "CM_MLPERF_LOADGEN_MAX_BATCHSIZE": "4",
                           "CM_MLPERF_LOADGEN_QUERY_COUNT": "500", "CM_MLPERF_MODEL_PRECISION": "float16",
                           "CM_RERUN": "yes", "CM_SKIP_PREPROCESS_DATASET": "no"})
    assert (cfg.scenario, cfg.max_batchsize, cfg.count, cfg.precision, cfg.rerun, cfg.skip_preprocess) == \
        ("Server", 4, 500, "float16", True, False)


def test_python_api_values_keep_their_type():
    assert config_from_env({**BASE, "CM_MLPERF_LOADGEN_QUERY_COUNT": 7}).count == 7


@pytest.mark.parametrize("missing", ["CM_MODEL", "CM_MLPERF_DEVICE", "CM_MLPERF_BACKEND"])
def test_a_removed_group_default_is_named(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match="is selected; add one to the tags"):
        options_from_env(env)


def test_command_is_one_shell_safe_line(tmp_path):
    cfg = config_from_env({**BASE, "CM_MLPERF_OUTPUT_DIR": str(tmp_path / "out"),
                           "CM_MLPERF_LOADGEN_SCENARIO": "SingleStream"})
    command = render_command(cfg, "/usr/bin/python3")
    assert not any(c in command for c in "\"$`\\;|&\n'")
    assert shlex.split(command)[:3] == ["/usr/bin/python3", "-m", "dummy_harness"]
    assert f"--output_dir={tmp_path / 'out'}" in command


def test_an_interpreter_path_with_shell_syntax_is_refused():
    cfg = config_from_env(BASE)
    with pytest.raises(ConfigError):
        render_command(cfg, "/opt/py$(id)/python")
