"""Bad input and hostile values through `cmr`: a non-zero exit, one line naming the value and what is
accepted, no traceback, and nothing executed."""
import os

import pytest

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
]


def one_error_line(r) -> str:
    lines = [line for line in r.output.splitlines() if "error" in line.lower()]
    assert lines, r.output[-2000:]
    return lines[-1]


@pytest.mark.parametrize("tags,flags,needle", BAD, ids=[f"{t} {' '.join(f)}" for t, f, _ in BAD])
def test_bad_input_is_one_clear_line(cmr, tmp_path, tags, flags, needle):
    r = cmr(f"{TAGS} {tags}", "--quiet", *flags, f"--output_dir={tmp_path / 'out'}")
    assert r.returncode != 0
    assert needle in one_error_line(r), r.output[-2000:]
    assert "Traceback" not in r.output
    assert not list(tmp_path.glob("out/**/mlperf_log_summary.txt"))


def test_unparsable_conf_and_unusable_output_dir(cmr, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("resnet50.Offline.target_qps = fast\n")
    r = cmr(f"{TAGS} _resnet50", "--quiet", f"--user_conf={bad}", f"--output_dir={tmp_path / 'o'}")
    assert r.returncode == 1 and "line 1: value 'fast' is not a number" in r.output
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    r = cmr(f"{TAGS} _resnet50", "--quiet", f"--output_dir={a_file}")
    assert r.returncode == 1 and "exists and is not a folder" in r.output
    r = cmr(f"{TAGS} _resnet50", "--quiet", f"--output_dir={a_file}/sub")
    assert r.returncode == 1 and "cannot write the output folder" in r.output
    assert "Traceback" not in r.output


HOSTILE = ["out$(touch PWNED)", "out`touch PWNED`", "out;touch PWNED", "out' ; touch PWNED '", 'out" ; touch PWNED "',
           "out\ntouch PWNED", "out dir && touch PWNED", "$(touch PWNED)"]


CASES = [("output_dir", value) for value in HOSTILE] + [
    (flag, HOSTILE[0]) for flag in ("user_conf", "mlperf_conf", "hw_name", "results_repo", "dataset_dir")]


@pytest.mark.parametrize("flag,value", CASES)
def test_shell_syntax_in_flags_is_never_executed(cmr, tmp_path, flag, value):
    r = cmr(f"{TAGS} _resnet50", "--quiet", f"--{flag}={value}", with_dataset_dir=flag != "dataset_dir")
    assert r.returncode != 0 and f"--{flag}=" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "PWNED").exists() and not os.path.exists("PWNED")


def test_bad_input_through_cmind_access_is_a_return_value(cm_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CM_REPOS", cm_env["CM_REPOS"])
    monkeypatch.chdir(tmp_path)
    import cmind
    for extra, needle in (({"count": "0"}, "--count='0'"), ({"output_dir": "x$(touch PWNED)"}, "--output_dir="),
                          ({"tags": "reproduce,mlperf,inference,dummy,_resnet50,_cpu,_cuda"}, "Multiple variation")):
        request = {"action": "run", "automation": "script", "tags": "reproduce,mlperf,inference,dummy,_resnet50",
                   "quiet": True, **extra}
        r = cmind.access(request)
        assert r["return"] > 0 and needle in r["error"]
    assert not (tmp_path / "PWNED").exists()
