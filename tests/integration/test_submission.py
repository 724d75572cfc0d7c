"""MLPerf submissions from the harness's runs, each checked by its round's own submission checker and compliance
scripts (mlcommons/inference v5.0.1, v5.1.1 and master: ../shared/third_party, or $MLPERF_INFERENCE_SRC_V50 ...,
see conftest.inference_src).

Short (test-style) runs cannot pass the checker: the test proves that the only errors it reports are the ones a
short run must produce, so every layout, system, measurement, seed, accuracy and hash rule is met for real.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import dummy_harness, inference_src
from dummy_harness.submission import rounds

INFERENCE = inference_src("v5.0")
CHECKER = INFERENCE / "tools" / "submission" / "submission_checker.py"
needs_inference = pytest.mark.skipif(
    not CHECKER.is_file(), reason=f"MLPerf's submission checker is not at {CHECKER} (set MLPERF_INFERENCE_SRC_V50 "
                                  "to a checkout of mlcommons/inference v5.0.1)")


def needs_round(round_name: str):
    """Skip, saying why, where the round's checker is not in the checkout its tests use."""
    source = inference_src(round_name) / Path(*rounds.get(round_name).checker.path)
    return pytest.mark.skipif(not source.is_file(), reason=f"the {round_name} checker is not at {source}")

# What a run shorter than the official profile must make the checker say, written from the checkers' messages
# (independently of the harness's own list): duration, sample count, samples per query, an accuracy run over the
# default dataset instead of the official one (v5.1 on; v6 spells it "accurcy"), and their consequences.
SHORT_RUN_ERRORS = [
    r"performance_sample_count, found \d+, needs to be >= \d+$",
    r"Required minimum samples per query not met by user config, Expected=\d+, Found=\d+$",
    r"Test duration less than 600s in user config\. expected=600000, found=\d+$",
    r"/performance/run_1 has issues$",
    r"^NoResults ",
    r"/accuracy(/mlperf_log_detail\.txt)? accura?cy run does not cover all dataset, accuracy samples: \d+, "
    r"dataset size: \d+$",
    r"^Some (performance|accuracy) checks Checks failed for: \S+/(performance/run_1|accuracy)/mlperf_log_detail"
    r"\.txt$",
]
LOG_LINE = re.compile(r"^\[\S+ \S+ \S+ (ERROR|INFO|WARNING)\] (.*)$")


def checker_errors(log_text):
    return [m.group(2) for m in map(LOG_LINE.match, log_text.splitlines())
            if m and m.group(1) == "ERROR" and not m.group(2).startswith("SUMMARY:")]


def not_explained_by_run_length(errors):
    return [e for e in errors if not any(re.search(p, e) for p in SHORT_RUN_ERRORS)]


# The submission and output folders have risky names, as people's folders may (spaces, quotes, `$`, backticks,
# accents): the compliance scripts paste folders into os.system strings, and no part of a name may run.
RISKY = "é $HOME 'q' \"dq\" `touch PWNED` $(touch PWNED); touch PWNED"


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory, dataset_dir):
    """dummy-harness --submission_dir=S --submitter=ORG, short runs, resnet50 Offline."""
    work = tmp_path_factory.mktemp("submission")
    sub, out = work / f"S {RISKY}", work / f"out {RISKY}"
    args = ["--submission_dir=" + str(sub), "--submitter=DummyOrg", "--run_style=test", "--hw_name=box",
            "--submission_round=v5.0", f"--output_dir={out}", f"--dataset_dir={dataset_dir}",
            f"--inference_src={INFERENCE}"]
    p = dummy_harness(*args, cwd=work)
    assert not list(work.rglob("PWNED")) and sorted(p.name for p in work.iterdir()) == sorted([sub.name, out.name])
    scenario = out / "box-dummy_harness-cpu-pytorch-float32" / "resnet50" / "offline"
    return {"proc": p, "work": work, "args": args, "root": sub / "open" / "DummyOrg", "scenario": scenario,
            "sub": sub, "out": out}


@needs_inference
def test_the_official_checker_reports_only_what_short_runs_must(resnet50):
    p = resnet50["proc"]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    log = (resnet50["scenario"] / "submission_checker.log").read_text()
    errors = checker_errors(log)
    assert any("Test duration less than 600s" in e for e in errors), "the checker did not read the performance run"
    assert not_explained_by_run_length(errors) == [], log
    assert "SUMMARY: submission has errors" in log
    assert "of them are what a test-style run must produce" in p.stdout
    summary = json.loads((resnet50["scenario"] / "submission.json").read_text())
    assert summary["checker"]["ran"] and summary["unexpected_checker_errors"] == []
    assert summary["round"] == "v5.0" and summary["performance_valid"] and summary["accuracy_passed"]


@needs_inference
def test_the_tree_has_exactly_the_files_the_checker_lists(resnet50):
    root = resnet50["root"]
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    sut, bench = "box-dummy_harness-cpu-pytorch-float32", "resnet50/Offline"
    assert files == sorted([
        f"systems/{sut}.json",
        "code/resnet50/dummy_harness/README.md",
        f"measurements/{sut}/{bench}/README.md",
        f"measurements/{sut}/{bench}/user.conf",
        f"measurements/{sut}/{bench}/{sut}_dummy_harness_Offline.json",
        f"results/{sut}/{bench}/performance/run_1/mlperf_log_summary.txt",
        f"results/{sut}/{bench}/performance/run_1/mlperf_log_detail.txt",
        f"results/{sut}/{bench}/accuracy/mlperf_log_summary.txt",
        f"results/{sut}/{bench}/accuracy/mlperf_log_detail.txt",
        f"results/{sut}/{bench}/accuracy/mlperf_log_accuracy.json",
        f"results/{sut}/{bench}/accuracy/accuracy.txt",
        f"compliance/{sut}/{bench}/TEST01/verify_accuracy.txt",
        f"compliance/{sut}/{bench}/TEST01/verify_performance.txt",
        f"compliance/{sut}/{bench}/TEST01/accuracy/mlperf_log_accuracy.json",
        f"compliance/{sut}/{bench}/TEST01/accuracy/accuracy.txt",
        f"compliance/{sut}/{bench}/TEST01/performance/run_1/mlperf_log_summary.txt",
        f"compliance/{sut}/{bench}/TEST01/performance/run_1/mlperf_log_detail.txt",
        f"compliance/{sut}/{bench}/TEST04/verify_performance.txt",
        f"compliance/{sut}/{bench}/TEST04/performance/run_1/mlperf_log_summary.txt",
        f"compliance/{sut}/{bench}/TEST04/performance/run_1/mlperf_log_detail.txt",
    ])
    system = json.loads((root / "systems" / f"{sut}.json").read_text())
    assert system["division"] == "open" and system["submitter"] == "DummyOrg"


@needs_inference
def test_the_accuracy_log_is_truncated_and_hashed_from_the_full_log(resnet50):
    full = resnet50["scenario"] / "accuracy" / "mlperf_log_accuracy.json"
    kept = resnet50["root"].glob("results/*/resnet50/Offline/accuracy")
    acc = next(kept)
    digest = hashlib.sha256(full.read_bytes()).hexdigest()
    assert f"hash={digest}" in (acc / "accuracy.txt").read_text().splitlines()
    assert (acc / "mlperf_log_accuracy.json").stat().st_size <= 10 * 1024 < full.stat().st_size
    assert (acc / "accuracy.txt").read_text().startswith("accuracy=100.000%, good=256, total=256")


@needs_inference
def test_every_loadgen_run_used_the_rounds_seeds(resnet50):
    runs = json.loads((resnet50["scenario"] / "submission.json").read_text())["runs"]
    assert set(runs) == {"accuracy", "performance", "TEST01", "TEST04"}
    for run_dir in runs.values():
        detail = Path(run_dir, "mlperf_log_detail.txt").read_text()
        assert '"key": "effective_qsl_rng_seed", "value": 6023615788873153749' in detail, run_dir
        assert json.loads(Path(run_dir, "results.json").read_text())["loadgen_settings"]["seeds"]["round"] == "v5.0"


@needs_inference
def test_compliance_tests_ran_with_the_official_audit_config_and_were_verified(resnet50):
    summary = json.loads((resnet50["scenario"] / "submission.json").read_text())
    # TEST01's accuracy check (the responses logged in a performance run are the accuracy run's) is a property of
    # the harness and must pass. The performance checks (within 10% of the reference run) compare two runs of
    # about a second here, which host noise alone can move by more: they must run and give a verdict; at the
    # official length they are measured in README's submission section.
    assert summary["compliance"]["TEST01"]["checks"]["Accuracy"] is True
    assert set(summary["compliance"]["TEST01"]["checks"]) == {"Accuracy", "Performance"}
    assert set(summary["compliance"]["TEST04"]["checks"]) == {"Performance"}
    for test in ("TEST01", "TEST04"):
        verdict = next(resnet50["root"].glob(f"compliance/*/resnet50/Offline/{test}/verify_performance.txt"))
        assert re.search(r"reference score = [\d.]+\ntest score = [\d.]+\nTEST (PASS|FAIL)", verdict.read_text())
    audit = resnet50["scenario"] / "TEST01" / "audit.config"
    assert audit.read_text() == (INFERENCE / "compliance/nvidia/TEST01/resnet50/audit.config").read_text()
    detail = (resnet50["scenario"] / "TEST01" / "mlperf_log_detail.txt").read_text()
    assert '"key": "effective_accuracy_log_sampling_target", "value": 4096' in detail


@needs_inference
def test_a_broken_tree_fails_the_check(resnet50, tmp_path):
    """The negative control: a tree without the accuracy hash and with another round's seeds shows errors that
    no run length explains, so the assertion above would catch them."""
    broken = tmp_path / "S"
    shutil.copytree(resnet50["sub"], broken)
    acc = next(broken.glob("open/DummyOrg/results/*/resnet50/Offline/accuracy"))
    text = (acc / "accuracy.txt").read_text()
    (acc / "accuracy.txt").write_text("\n".join(l for l in text.splitlines() if not l.startswith("hash=")))
    detail = next(broken.glob("open/DummyOrg/results/*/resnet50/Offline/performance/run_1/mlperf_log_detail.txt"))
    detail.write_text(detail.read_text().replace("6023615788873153749", "2085463073848966840"))
    p = subprocess.run([sys.executable, str(CHECKER), "--input", str(broken), "--version", "v5.0", "--submitter",
                        "DummyOrg", "--csv", str(tmp_path / "summary.csv")], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    left = not_explained_by_run_length(checker_errors(p.stdout + p.stderr))
    assert any("not hash value" in e for e in left) and any("qsl_rng_seed is wrong" in e for e in left), left


def test_without_an_inference_source_the_tree_is_written_and_the_checks_are_skipped(resnet50, tmp_path,
                                                                                    dataset_dir):
    # The resnet50 runs are reused (same output folder): only the tree is new.
    p = dummy_harness(f"--submission_dir={tmp_path / 'S'}", "--submitter=Org", "--run_style=test",
                      f"--output_dir={resnet50['out']}", f"--dataset_dir={dataset_dir}", "--hw_name=box",
                      "--submission_round=v5.0", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Checker: not run: no --inference_src" in p.stdout
    assert (tmp_path / "S/open/Org/results/box-dummy_harness-cpu-pytorch-float32/resnet50/Offline/accuracy/"
            "accuracy.txt").read_text().count("hash=") == 1
    assert not list(tmp_path.glob("S/open/Org/compliance/*"))


@needs_round("v6.1")
def test_llama2_submission_of_a_v6_round_runs_test06_and_passes_it(tmp_path, dataset_dir):
    source = inference_src("v6.1")
    p = dummy_harness(f"--submission_dir={tmp_path / 'S'}", "--submitter=Org", "--run_style=test",
                      f"--output_dir={tmp_path / 'out'}", f"--dataset_dir={dataset_dir}", "--hw_name=box",
                      "--model=llama2-70b-99.9", "--count=64", f"--inference_src={source}", cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "Round v6.1: the newest round whose checker has llama2-70b-99.9" in p.stdout
    scenario = tmp_path / "out/box-dummy_harness-cpu-pytorch-float32/llama2-70b-99.9/offline"
    summary = json.loads((scenario / "submission.json").read_text())
    assert summary["round"] == "v6.1"
    assert summary["compliance"] == {"TEST06": {"passed": True, "checks": {"EOS": True, "Sample length": True}}}
    log = (scenario / "submission_checker.log").read_text()
    assert not_explained_by_run_length(checker_errors(log)) == [] and "SUMMARY: submission has errors" in log
    # The v6 layout: TEST06 beside the runs; the official script was the round's (compliance/, no nvidia/).
    results = tmp_path / "S/open/Org/results/box-dummy_harness-cpu-pytorch-float32/llama2-70b-99.9/Offline"
    assert (results / "TEST06" / "verify_accuracy.txt").is_file() or list((results / "TEST06").iterdir())
    assert (scenario / "TEST06" / "audit.config").read_text() == \
        (source / "compliance/TEST06/audit.config").read_text()
    # Equal-issue mode, as the round's conf has it for the LLMs.
    detail = (scenario / "performance/run_1/mlperf_log_detail.txt").read_text()
    assert '"key": "effective_sample_concatenate_permutation", "value": true' in detail


@pytest.mark.parametrize("round_name", ["v5.1", "v6.0", "v6.1"])
def test_each_round_checks_a_resnet50_submission_in_its_own_layout(tmp_path, dataset_dir, round_name):
    if not (inference_src(round_name) / Path(*rounds.get(round_name).checker.path)).is_file():
        pytest.skip(f"the {round_name} checker is not at {inference_src(round_name)}")
    rnd = rounds.get(round_name)
    p = dummy_harness(f"--submission_dir={tmp_path / 'S'}", "--submitter=Org", "--run_style=test",
                      f"--output_dir={tmp_path / 'out'}", f"--dataset_dir={dataset_dir}", "--hw_name=box",
                      f"--submission_round={round_name}", f"--inference_src={inference_src(round_name)}",
                      cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    scenario = tmp_path / "out/box-dummy_harness-cpu-pytorch-float32/resnet50/offline"
    summary = json.loads((scenario / "submission.json").read_text())
    assert summary["round"] == round_name and summary["unexpected_checker_errors"] == []
    log = (scenario / "submission_checker.log").read_text()
    errors = checker_errors(log)
    assert any("Test duration less than 600s" in e for e in errors), "the checker did not read the performance run"
    assert not_explained_by_run_length(errors) == [], log
    # Every run used the round's seeds.
    for run_dir in summary["runs"].values():
        assert f'"key": "effective_qsl_rng_seed", "value": {rnd.seeds.qsl_rng_seed}' in \
            Path(run_dir, "mlperf_log_detail.txt").read_text(), run_dir
    root = tmp_path / "S/open/Org"
    files = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file())
    sut, bench = "box-dummy_harness-cpu-pytorch-float32", "resnet50/Offline"
    runs = [f"{bench}/performance/run_1/mlperf_log_summary.txt", f"{bench}/performance/run_1/mlperf_log_detail.txt",
            f"{bench}/accuracy/mlperf_log_summary.txt", f"{bench}/accuracy/mlperf_log_detail.txt",
            f"{bench}/accuracy/mlperf_log_accuracy.json", f"{bench}/accuracy/accuracy.txt"]
    tests = [f"{bench}/TEST01/{f}" for f in ("verify_accuracy.txt", "verify_performance.txt",
                                               "accuracy/mlperf_log_accuracy.json", "accuracy/accuracy.txt",
                                               "performance/run_1/mlperf_log_summary.txt",
                                               "performance/run_1/mlperf_log_detail.txt")] + \
        [f"{bench}/TEST04/{f}" for f in ("verify_performance.txt", "performance/run_1/mlperf_log_summary.txt",
                                         "performance/run_1/mlperf_log_detail.txt")]
    if rnd.layout == "v5.0":
        expected = [f"systems/{sut}.json", "code/resnet50/dummy_harness/README.md",
                    f"measurements/{sut}/{bench}/README.md", f"measurements/{sut}/{bench}/user.conf",
                    f"measurements/{sut}/{bench}/{sut}_dummy_harness_Offline.json"] + \
            [f"results/{sut}/{f}" for f in runs] + [f"compliance/{sut}/{f}" for f in tests]
    else:
        expected = [f"systems/{sut}.json", "src/resnet50/README.md", f"results/{sut}/{bench}/README.md",
                    f"results/{sut}/{bench}/user.conf", f"results/{sut}/{bench}/measurements.json"] + \
            [f"results/{sut}/{f}" for f in runs + tests]
    assert files == sorted(expected)


def test_the_closed_division_is_refused_with_the_reason(tmp_path):
    p = dummy_harness(f"--submission_dir={tmp_path / 'S'}", "--submitter=Org", "--division=closed", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: --division=closed is refused: the stand-ins are not the reference models, so their results can only "
        "be submitted to the open division; use --division=open"]
    assert not (tmp_path / "S").exists()


@needs_inference
@pytest.mark.cm
def test_cmr_makes_the_submission_and_puts_the_verdict_in_the_state(cmr, resnet50):
    r = cmr("reproduce mlperf inference dummy _resnet50", "--quiet", *[a for a in resnet50["args"]
                                                                       if not a.startswith("--dataset_dir")])
    assert r.returncode == 0, r.output[-3000:]
    state = r.json["new_state"]
    submission = state["cm-mlperf-inference-submission"]
    assert submission["checker"]["summary"] == "SUMMARY: submission has errors"
    assert submission["unexpected_checker_errors"] == []
    assert state["cm-mlperf-inference-results"]["box-dummy_harness-cpu-pytorch-float32"]["resnet50"]["Offline"][
        "performance_valid"] is True
    assert r.json["new_env"]["CM_MLPERF_SUBMISSION_CHECKER_SUMMARY"] == "SUMMARY: submission has errors"


@needs_inference
def test_a_second_call_reuses_the_runs_keeps_the_old_tree_and_takes_system_fields(resnet50, tmp_path):
    own = tmp_path / "system.json"
    own.write_text(json.dumps({"cooling": "liquid", "status": "available"}))
    previous = resnet50["out"] / "previous_runs"
    kept_before = list(previous.glob("*/submission/open/DummyOrg/results/*/resnet50/Offline"))
    p = dummy_harness(*resnet50["args"], f"--system_json={own}", cwd=resnet50["work"])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("not repeated") == 4          # accuracy, performance, TEST01, TEST04
    kept = list(previous.glob("*/submission/open/DummyOrg/results/*/resnet50/Offline"))
    assert len(kept) == len(kept_before) + 1, "the previous submission files were not kept aside"
    system_file = next(resnet50["root"].glob("systems/*.json"))
    assert json.loads(system_file.read_text())["cooling"] == "liquid"
    # Without --system_json a later call keeps the file as it is (with the user's fields).
    assert dummy_harness(*resnet50["args"], cwd=resnet50["work"]).returncode == 0
    assert json.loads(system_file.read_text())["status"] == "available"
