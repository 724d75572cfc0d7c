"""The catalogue of bad and hostile values, checked where the script checks them (customize.py's predeps and
preprocess call these): one line naming the value and what is accepted, and nothing a shell would read. The
entry points themselves (cmr, cmind.access, mlcr, mlc.access) are run with two of these in
tests/integration/test_bad_input.py."""
import pytest

from dummy_harness.cm.env import check_env_paths, check_passthrough, config_from_env
from dummy_harness.config import ConfigError
from dummy_harness.options import BY_NAME

BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}

# (env the variations set, flags as typed, text the error must contain)
BAD = [
    ({"CM_MLPERF_LOADGEN_MAX_BATCHSIZE": "0"}, {}, "--max_batchsize='0' is too small"),          # _bs.0
    ({"CM_MLPERF_LOADGEN_MAX_BATCHSIZE": "x"}, {}, "--max_batchsize='x' is not a whole number"),  # _bs.x
    ({"CM_MLPERF_DEVICE": ""}, {}, "no device variation (_cpu or _cuda) is selected"),            # _-cpu
    ({}, {"scenario": "Foo"}, "--scenario='Foo' is not accepted; use one of: Offline, Server"),
    ({}, {"mode": "perf"}, "--mode='perf' is not accepted; use one of: performance, accuracy, all"),
    ({}, {"count": "0"}, "--count='0' is too small; use an integer >= 1"),
    ({}, {"count": "-3"}, "--count='-3' is too small"),
    ({}, {"count": "abc"}, "--count='abc' is not a whole number"),
    ({}, {"target_qps": "0"}, "--target_qps='0' is not accepted; use a positive, finite number"),
    ({}, {"target_qps": "nan"}, "--target_qps='nan' is not accepted"),
    ({}, {"max_batchsize": "0"}, "--max_batchsize='0' is too small"),
    ({"CM_MLPERF_LOADGEN_SCENARIO": "SingleStream"}, {"target_latency": "-1"}, "--target_latency='-1' is not accepted"),
    ({}, {"performance_sample_count": "100000"}, "--performance_sample_count=100000 is larger than the"),
    ({}, {"user_conf": "/nonexistent/user.conf"}, "does not exist"),
    ({"CM_MLPERF_DEVICE": "gpu", "CM_MLPERF_MODEL_PRECISION": "uint8"}, {}, "uint8 runs on the CPU only"),
    ({"CM_MODEL": "gptj-99", "CM_MLPERF_BACKEND": "onnxruntime"}, {},
     "the onnxruntime backend runs the fixed-compute benchmarks only; gptj-99 generates token by token: use _pytorch"),
]


def configure(env, flags):
    """What customize.py builds: flags mapped to their env keys (input_mapping), path flags read from the input."""
    mapped = {BY_NAME[k].env: v for k, v in flags.items() if not BY_NAME[k].is_path}
    paths = {k: v for k, v in flags.items() if BY_NAME[k].is_path}
    full = {**BASE, **env, **mapped}
    check_passthrough(full)
    check_env_paths(full)
    return config_from_env(full, paths)


@pytest.mark.parametrize("env,flags,needle", BAD, ids=[str({**e, **f}) for e, f, _ in BAD])
def test_bad_input_is_one_clear_line(env, flags, needle):
    with pytest.raises(ConfigError) as refused:
        configure(env, flags)
    assert needle in str(refused.value) and "\n" not in str(refused.value)


HOSTILE = ["out$(touch PWNED)", "out`touch PWNED`", "out;touch PWNED", "out' ; touch PWNED '", 'out" ; touch PWNED "',
           "out\ntouch PWNED", "out dir && touch PWNED", "$(touch PWNED)"]
# What CM puts into env (and so into every dependency's bash script) must hold no shell syntax: values of the
# other flags, and paths set through --env. A path flag takes any path but a control character (test_paths.py
# runs such paths); `export K="V"` keeps `;`, `'`, `&&` as they are, so those are accepted through env.
REFUSED = [({}, {"output_dir": HOSTILE[5]}, "--output_dir="), ({}, {"hw_name": HOSTILE[0]}, "--hw_name="),
           ({"CM_MLPERF_INFERENCE_RESULTS_REPO": HOSTILE[0]}, {}, "--results_repo=")] + [
    ({"CM_MLPERF_OUTPUT_DIR": value}, {}, "--env.CM_MLPERF_OUTPUT_DIR=") for value in HOSTILE
    if any(c in value for c in "$`\"\n")] + [
    ({"CM_MLPERF_DUMMY_DATASET_DIR": HOSTILE[1]}, {}, "--env.CM_MLPERF_DUMMY_DATASET_DIR="),
    ({"CM_MLPERF_USER_CONF": HOSTILE[0]}, {}, "--env.CM_MLPERF_USER_CONF=")]


@pytest.mark.parametrize("env,flags,start", REFUSED, ids=[str({**e, **f}) for e, f, _ in REFUSED])
def test_shell_syntax_in_what_cm_hands_to_bash_is_refused(env, flags, start):
    with pytest.raises(ConfigError) as refused:
        configure(env, flags)
    assert str(refused.value).startswith(start) and "\n" not in str(refused.value)


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\n" not in v])
def test_a_path_flag_takes_any_path_but_a_control_character(tmp_path, value):
    assert configure({}, {"output_dir": str(tmp_path / value)}).output_dir == str(tmp_path / value)
