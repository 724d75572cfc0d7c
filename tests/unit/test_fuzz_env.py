"""Any CM env either gives a valid run configuration and a shell-safe command, or one clean ConfigError."""
import shlex

from hypothesis import given, settings, strategies as st

from dummy_harness.cm_env import ENV_TO_OPTION, check_passthrough, config_from_env, render_command
from dummy_harness.config import ConfigError

VALUES = st.one_of(
    st.text(max_size=24),
    st.sampled_from(["Offline", "server", "accuracy", "all", "gpu", "cuda", "float16", "fp16", "uint8", "yes", "no",
                     "0", "-1", "8", "1e3", "nan", "inf", "resnet50", "bert-99.9", "small", "full", "/tmp/x",
                     "$(touch x)", "a b", "a\nb", "'", '"', "`id`"]),
    st.integers(min_value=-5, max_value=100000),
    st.floats(allow_nan=True, allow_infinity=True),
)
ENVS = st.dictionaries(st.sampled_from(sorted(ENV_TO_OPTION) + ["CM_MLPERF_INFERENCE_RESULTS_REPO"]), VALUES,
                       max_size=8)
BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}


@settings(max_examples=400, deadline=None)
@given(ENVS)
def test_any_env_is_a_configuration_or_one_clean_error(env):
    try:
        check_passthrough({**BASE, **env})
        cfg = config_from_env({**BASE, **env})
        command = render_command(cfg, "/usr/bin/python3")
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return
    assert not any(c in command for c in "\"$`\\;|&<>\n'")
    assert shlex.split(command)[:3] == ["/usr/bin/python3", "-m", "dummy_harness"]
    for run in cfg.modes():
        assert run.mode in ("performance", "accuracy") and run.batch_size >= 1 and run.samples >= 1
