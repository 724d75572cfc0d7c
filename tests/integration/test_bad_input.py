"""Bad input and hostile values through every entry point (cmr, cmind.access, mlcr, mlc.access): a non-zero exit,
one line naming the value and what is accepted, no traceback, and nothing executed: hostile values are refused
before any dependency runs."""
import os

import pytest

from conftest import ENTRY_POINTS

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"

# (tags after TAGS, flags, text the error must contain)
BAD = [
    ("_resnet50 _cpu _cuda", [], "Multiple variation tags"),
    ("_resnet51", [], "no scripts were found"),
    ("_resnet50,_bs.0", [], "--max_batchsize='0' is too small"),
    ("_resnet50,_bs.x", [], "--max_batchsize='x' is not a whole number"),
    ("_resnet50,_-cpu", [], "no device variation (_cpu or _cuda) is selected"),
    ("_resnet50", ["--scenario=Foo"], "--scenario='Foo' is not accepted; use one of: Offline, Server"),
    ("_resnet50", ["--mode=perf"], "--mode='perf' is not accepted; use one of: performance, accuracy, all"),
    ("_resnet50", ["--count=0"], "--count='0' is too small; use an integer >= 1"),
    ("_resnet50", ["--count=-3"], "--count='-3' is too small"),
    ("_resnet50", ["--count=abc"], "--count='abc' is not a whole number"),
    ("_resnet50", ["--target_qps=0"], "--target_qps='0' is not accepted; use a positive, finite number"),
    ("_resnet50", ["--target_qps=nan"], "--target_qps='nan' is not accepted"),
    ("_resnet50", ["--max_batchsize=0"], "--max_batchsize='0' is too small"),
    ("_resnet50,_singlestream", ["--target_latency=-1"], "--target_latency='-1' is not accepted"),
    ("_resnet50", ["--performance_sample_count=100000"], "--performance_sample_count=100000 is larger than the"),
    ("_resnet50", ["--user_conf=/nonexistent/user.conf"], "does not exist"),
    ("_resnet50 _cuda _uint8", [], "uint8 runs on the CPU only"),
    ("_gptj-99 _onnxruntime", [], "the onnxruntime backend runs the fixed-compute benchmarks only; gptj-99 "
                                  "generates token by token: use _pytorch"),
    # A misspelt flag ran Offline and exited 0 (the tools ignore flags nobody reads).
    ("_resnet50", ["--scenaro=Server"], "--scenaro is not a flag of this script or of "),
    ("_resnet50", ["--model=bert-99"], "--model is a flag of dummy-harness, not of this script under "),
]


# The tools' own errors (variation resolution) may run over several lines; the script's are one line.
TOOL_ERRORS = ("Multiple variation tags", "no scripts were found")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("tags,flags,needle", BAD, ids=[f"{t} {' '.join(f)}" for t, f, _ in BAD])
def test_bad_input_is_one_clear_line(script, tmp_path, tags, flags, needle):
    r = script(f"{TAGS} {tags}", "--quiet", *flags, f"--output_dir={tmp_path / 'out'}")
    assert r.returncode != 0
    assert needle in r.error, r.output[-2000:]
    assert needle in TOOL_ERRORS or "\n" not in r.error, r.error
    assert "Traceback" not in r.output
    assert not list(tmp_path.glob("out/**/mlperf_log_summary.txt"))


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_unparsable_conf_and_unusable_output_dir(script, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("resnet50.Offline.target_qps = fast\n")
    r = script(f"{TAGS} _resnet50", "--quiet", f"--user_conf={bad}", f"--output_dir={tmp_path / 'o'}")
    assert r.returncode == 1 and "line 1: value 'fast' is not a number" in r.error
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    r = script(f"{TAGS} _resnet50", "--quiet", f"--output_dir={a_file}")
    assert r.returncode == 1 and "exists and is not a folder" in r.error
    r = script(f"{TAGS} _resnet50", "--quiet", f"--output_dir={a_file}/sub")
    assert r.returncode == 1 and "cannot write the output folder" in r.error
    assert "Traceback" not in r.output


HOSTILE = ["out$(touch PWNED)", "out`touch PWNED`", "out;touch PWNED", "out' ; touch PWNED '", 'out" ; touch PWNED "',
           "out\ntouch PWNED", "out dir && touch PWNED", "$(touch PWNED)"]
# What CM puts into env (and so into every dependency's bash script) must hold no shell syntax: values of the
# other flags, and paths set through --env. A path flag takes any path but a control character (test_paths.py
# runs such paths); `export K="V"` keeps `;`, `'`, `&&` as they are, so those are accepted through env.
CASES = [("output_dir", HOSTILE[5]), ("hw_name", HOSTILE[0]), ("results_repo", HOSTILE[0])] + [
    ("env.CM_MLPERF_OUTPUT_DIR", value) for value in HOSTILE if any(c in value for c in "$`\"\n")] + [
    ("env.CM_MLPERF_DUMMY_DATASET_DIR", HOSTILE[1]), ("env.CM_MLPERF_USER_CONF", HOSTILE[0])]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("flag,value", CASES)
def test_shell_syntax_in_flags_is_never_executed(script, entry, tmp_path, flag, value):
    r = script(f"{TAGS} _resnet50", "--quiet", f"--{flag}={value}")
    assert r.returncode != 0 and r.error.startswith(f"--{flag}=") and "\n" not in r.error
    assert "Traceback" not in r.output
    if entry in ("cmr", "mlcr"):
        assert not r.ran_dependency, r.output[-2000:]     # refused in predeps, before detect,os
    assert not (tmp_path / "PWNED").exists() and not os.path.exists("PWNED")


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_a_combination_the_backend_does_not_run_is_refused_before_any_dependency(script, tmp_path):
    # What the backend runs is declared in its registry entry, so the refusal needs neither its runtime nor deps.
    r = script(f"{TAGS} _gptj-99 _onnxruntime", "--quiet", f"--output_dir={tmp_path / 'out'}")
    assert r.returncode != 0 and "the onnxruntime backend runs the fixed-compute benchmarks only" in r.error
    assert "\n" not in r.error and "Traceback" not in r.output
    assert not r.ran_dependency, r.output[-2000:]


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_valid_input_does_run_the_dependencies(script, tmp_path):
    # What makes `not r.ran_dependency` above meaningful: the same call with a plain value does log detect,os.
    r = script(f"{TAGS} _resnet50", "--quiet", "--env.CM_MLPERF_SKIP_RUN=yes", f"--output_dir={tmp_path / 'out'}")
    assert r.returncode == 0 and r.ran_dependency, r.output[-2000:]


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_a_misspelt_flag_names_the_flag_meant_before_any_dependency_runs(script, entry, tmp_path):
    r = script(f"{TAGS} _resnet50", "--quiet", "--scenaro=Server", f"--output_dir={tmp_path / 'out'}")
    tool = "CM" if entry == "cmr" else "MLCFlow"
    assert r.returncode != 0
    assert r.error == f"--scenaro is not a flag of this script or of {tool}: did you mean --scenario?"
    assert not r.ran_dependency, r.output[-2000:]


# The tools' own flags, as their code reads them (dummy_harness/cm/flags.py derives the list from it).
TOOL_FLAGS = {"cmr": ["--v", "--print_env", "--print_deps", "--const.CM_DUMMY_UNUSED=1", "--adr.runner.env.X=1",
                      "--docker_os=ubuntu", "--dirty", "--time", "--silent", "--skip_sys_utils"],
              "mlcr": ["--v", "--print_env", "--print_deps", "--const.MLC_DUMMY_UNUSED=1", "--adr.runner.env.X=1",
                       "--docker_os=ubuntu", "--dirty", "--time", "--silent", "--skip_sys_utils"]}


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_an_unknown_flag_gets_one_warning_and_the_tools_own_flags_pass(script, entry, tmp_path):
    r = script(f"{TAGS} _resnet50", "--quiet", "--env.CM_MLPERF_SKIP_RUN=yes", f"--output_dir={tmp_path / 'out'}",
               "--nonexistent_flag=1", *TOOL_FLAGS[entry])
    assert r.returncode == 0, r.output[-3000:]
    tool = "CM" if entry == "cmr" else "MLCFlow"
    warned = [line for line in r.output.splitlines() if "is not a flag of this script" in line]
    assert warned == [f"WARNING: --nonexistent_flag is not a flag of this script or of {tool}: ignored"]
    assert "Run folder: " in r.stdout          # preprocess ran: after the dependencies (--silent hides their log)
