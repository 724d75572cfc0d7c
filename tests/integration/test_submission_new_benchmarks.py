"""Submissions of the v5.1+/v6.0+ benchmarks, one per family, each checked by the v6.1 checker and its compliance
tests run (LoadGen with the official audit.config) and verified by the round's own scripts: llama3.1-8b (TEST06),
gpt-oss-120b (TEST07, TEST09), whisper (TEST01), yolo-95 (TEST01). Short runs of a few samples: the checker may
report only what a short run must (test_submission.SHORT_RUN_ERRORS)."""
import json
from pathlib import Path

import pytest

from conftest import dummy_harness, inference_src
from dummy_harness import catalogue
from dummy_harness.submission import rounds
from test_submission import checker_errors, not_explained_by_run_length

ROUND = "v6.1"
SOURCE = inference_src(ROUND)
pytestmark = pytest.mark.skipif(not (SOURCE / Path(*rounds.get(ROUND).checker.path)).is_file(),
                                reason=f"the {ROUND} checker is not at {SOURCE}")

CASES = {
    "llama3.1-8b": ("TEST06",),
    "gpt-oss-120b": ("TEST07", "TEST09"),
    "whisper": ("TEST01",),
    "yolo-95": ("TEST01",),
}


@pytest.mark.parametrize("model", list(CASES))
def test_a_v61_submission_of_each_new_family_runs_and_verifies_its_compliance_tests(tmp_path, dataset_dir, model):
    p = dummy_harness(f"--submission_dir={tmp_path / 'S'}", "--submitter=Org", "--run_style=test",
                      f"--output_dir={tmp_path / 'out'}", f"--dataset_dir={dataset_dir}", "--hw_name=box",
                      f"--model={model}", "--count=8", "--dataset_size=8", f"--inference_src={SOURCE}",
                      cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert f"Round {ROUND}: the newest round whose checker has {model}" in p.stdout
    scenario = tmp_path / f"out/box-dummy_harness-cpu-pytorch-float32/{model}/offline"
    summary = json.loads((scenario / "submission.json").read_text())
    assert summary["round"] == ROUND and summary["compliance_skipped"] is None
    assert tuple(summary["compliance"]) == CASES[model]
    verdicts = summary["compliance"]
    if model == "llama3.1-8b":
        assert verdicts["TEST06"] == {"passed": True, "checks": {"EOS": True, "Sample length": True}}
    elif model == "gpt-oss-120b":
        # The official scripts, given the stand-in's figures (its accuracy target; +-10% of its reference answers'
        # mean length), pass; the notes say which figures replaced the reference model's.
        assert verdicts["TEST07"]["checks"] == {"Accuracy": True} and verdicts["TEST07"]["passed"]
        assert verdicts["TEST09"]["checks"] == {"Min": True, "Max": True} and verdicts["TEST09"]["passed"]
        assert verdicts["TEST07"]["note"].startswith("threshold 99: the stand-in's accuracy target")
        assert "of the fp32 stand-in's mean answer" in verdicts["TEST09"]["note"]
        assert "TEST07: PASS" in p.stdout and "TEST09: PASS" in p.stdout
    else:
        # TEST01's accuracy check (the logged responses of a performance run are the accuracy run's) must pass;
        # its performance check compares two runs of a second or two, which host noise can move by over 10%.
        assert verdicts["TEST01"]["checks"]["Accuracy"] is True
        assert set(verdicts["TEST01"]["checks"]) == {"Accuracy", "Performance"}
    # Each test ran with the round's official audit.config (compliance/<TEST>[/<benchmark>]/audit.config).
    key = catalogue.get(model).loadgen_key
    for test in CASES[model]:
        folder = SOURCE / "compliance" / test
        official = folder / rounds.AUDIT_FOLDER[test][key] if test in rounds.AUDIT_FOLDER else folder
        assert (scenario / test / "audit.config").read_text() == (official / "audit.config").read_text()
        assert f'"key": "effective_qsl_rng_seed", "value": {rounds.get(ROUND).seeds.qsl_rng_seed}' in \
            (scenario / test / "mlperf_log_detail.txt").read_text()
    results = tmp_path / f"S/open/Org/results/box-dummy_harness-cpu-pytorch-float32/{model}/Offline"
    for test in CASES[model]:
        verdict = {"TEST09": "verify_output_len.txt"}.get(test, "verify_accuracy.txt")
        assert (results / test / verdict).is_file(), sorted(p.name for p in (results / test).iterdir())
    log = (scenario / "submission_checker.log").read_text()
    assert not_explained_by_run_length(checker_errors(log)) == [] and "SUMMARY: submission has errors" in log
    assert summary["unexpected_checker_errors"] == []
