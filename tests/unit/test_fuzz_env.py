"""Any CM env and any path flags either give a valid run configuration, which the options file hands to the
harness unchanged, or one clean ConfigError; a value CM would hand to bash is never shell syntax."""
import json
import os
import shlex

from hypothesis import given, settings, strategies as st

from dummy_harness.cm.env import (ENV_TO_OPTION, check_env_paths, check_passthrough, config_from_env,
                                  render_command)
from dummy_harness.config import ConfigError, parse_options
from dummy_harness.options import PATHS
from dummy_harness.cm.shell_paths import inert_in_double_quotes

TEXTS = st.one_of(
    st.text(max_size=24),
    st.sampled_from(["Offline", "server", "accuracy", "all", "gpu", "cuda", "float16", "fp16", "uint8", "yes", "no",
                     "0", "-1", "8", "1e3", "nan", "inf", "resnet50", "bert-99.9", "small", "full", "/tmp/x",
                     "$(touch x)", "a b", "a\nb", "'", '"', "`id`", "/tmp/résultats ü $HOME 'q' \"dq\" `id`",
                     "~/a b", "a;touch x", "\\"]),
)
VALUES = st.one_of(TEXTS, st.integers(min_value=-5, max_value=100000), st.floats(allow_nan=True, allow_infinity=True))
ENVS = st.dictionaries(st.sampled_from(sorted(ENV_TO_OPTION) + ["CM_MLPERF_INFERENCE_RESULTS_REPO"]), VALUES,
                       max_size=8)
FLAGS = st.dictionaries(st.sampled_from([o.name for o in PATHS if o.cm_flag]), TEXTS, max_size=3)
BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}


@settings(max_examples=400, deadline=None)
@given(ENVS, FLAGS)
def test_any_env_and_path_flags_are_a_configuration_or_one_clean_error(env, flags):
    try:
        check_passthrough({**BASE, **env})
        check_env_paths({**BASE, **env})
        cfg = config_from_env({**BASE, **env}, flags)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return
    # What CM's shell re-reads in every dependency holds no shell syntax; what the flags held is taken as is.
    assert all(inert_in_double_quotes(str(env.get(o.env, ""))) for o in PATHS)
    for name, value in flags.items():
        if value.strip():
            assert getattr(cfg, name) == os.path.abspath(os.path.expanduser(value))
    # The options file (JSON, any characters kept) gives the harness this very configuration.
    assert parse_options(json.loads(json.dumps(cfg.to_options(), ensure_ascii=False))) == cfg
    assert shlex.split(render_command("/usr/bin/python3", "/tmp/x/run_options.json"))[:3] == \
        ["/usr/bin/python3", "-m", "dummy_harness"]
    for run in cfg.modes():
        assert run.mode in ("performance", "accuracy") and run.batch_size >= 1 and run.samples >= 1


PATH_ENVS = st.dictionaries(st.sampled_from(["CM_MLPERF_OUTPUT_DIR", "CM_MLPERF_DUMMY_DATASET_DIR"]), TEXTS,
                            min_size=1, max_size=2)


@settings(max_examples=200, deadline=None)
@given(PATH_ENVS)
def test_a_path_through_env_is_taken_as_is_or_refused_when_bash_would_read_it(env):
    try:
        check_env_paths({**BASE, **env})
        cfg = config_from_env({**BASE, **env})
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    for key, value in env.items():
        assert inert_in_double_quotes(value)
        if value.strip():
            assert getattr(cfg, ENV_TO_OPTION[key]) == os.path.abspath(os.path.expanduser(value))
