"""Bad input and hostile values through every entry point (cmr, cmind.access, mlcr, mlc.access): a non-zero exit,
one line naming the value and what is accepted, no traceback, and nothing executed: hostile values are refused
before any dependency runs."""
import os

import pytest

from conftest import ENTRY_POINTS

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"

# Two cases per entry point: a value the script refuses, and a hostile one that must never reach a shell. The
# catalogue of bad and hostile values is checked where the script checks them: tests/unit/test_bad_values.py.


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_bad_value_is_one_clear_line_and_nothing_runs(script, tmp_path):
    r = script(f"{TAGS} _resnet50", "--quiet", "--scenario=Foo", f"--output_dir={tmp_path / 'out'}")
    assert r.returncode != 0
    assert r.error == "--scenario='Foo' is not accepted; use one of: Offline, Server, Interactive, SingleStream, MultiStream", \
        r.output[-2000:]
    assert "Traceback" not in r.output
    assert not list(tmp_path.glob("out/**/mlperf_log_summary.txt"))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_shell_syntax_in_a_flag_is_never_executed(script, entry, tmp_path):
    r = script(f"{TAGS} _resnet50", "--quiet", "--hw_name=out$(touch PWNED)")
    assert r.returncode != 0 and r.error.startswith("--hw_name=") and "\n" not in r.error
    assert "Traceback" not in r.output
    if entry in ("cmr", "mlcr"):
        assert not r.ran_dependency, r.output[-2000:]     # refused in predeps, before detect,os
    assert not (tmp_path / "PWNED").exists() and not os.path.exists("PWNED")


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
