"""run() in process, with the zero-compute backend, through each way a step can fail: results.json says "failed"
(never "running") with the one-line reason and the exit code, the backend is closed and the run folder's lock is
released, whatever the step. (Runs that reach LoadGen are the integration tests': one LoadGen test per process.)"""
import json

import pytest

from dummy_harness import rundir, run as run_module
from dummy_harness.config import parse_options
from dummy_harness.exit_codes import ExitCode, RunError


@pytest.fixture
def closed(monkeypatch):
    """The workers run() prepared, each with a flag set when it is closed."""
    made = []
    prepare = run_module.prepare

    def watched(cfg, log=print, **kwargs):
        worker = prepare(cfg, log, **kwargs)
        close = worker.close
        worker.closed = False

        def close_and_note():
            close()
            worker.closed = True
        worker.close = close_and_note
        made.append(worker)
        return worker
    monkeypatch.setattr(run_module, "prepare", watched)
    return made


def config(tmp_path, dataset_dir, **options):
    return parse_options({"backend": "null", "output_dir": str(tmp_path / "o"), "dataset_dir": str(dataset_dir),
                          "progress": "off", **options})


def stored(cfg):
    with open(f"{cfg.run_dir}/results.json") as f:
        return json.load(f)


def ended(cfg, status, failure, code):
    results = stored(cfg)
    assert (results["status"], results["exit_code"], results["valid"]) == (status, int(code), False)
    assert results["failure"] == failure
    rundir.check_unlocked(cfg)                       # raises while a run holds the folder


def test_prepare_failing_records_its_reason(tmp_path, closed):
    cfg = config(tmp_path, tmp_path / "empty-cache", skip_preprocess="yes")
    with pytest.raises(RunError) as failed:
        run_module.run(cfg, log=lambda line: None)
    assert failed.value.code == ExitCode.ENVIRONMENT and "run once without --skip_preprocess" in str(failed.value)
    ended(cfg, "failed", str(failed.value), ExitCode.ENVIRONMENT)
    assert closed == []                              # nothing was prepared, nothing to close


def test_tune_failing_records_its_reason_and_closes_the_backend(tmp_path, dataset_dir, closed, monkeypatch):
    def refused(*args, **kwargs):
        raise run_module.lg_settings.SettingsError("LoadGen rejected user.conf (code 1)")
    monkeypatch.setattr(run_module.lg_settings, "build", refused)
    cfg = config(tmp_path, dataset_dir)
    with pytest.raises(RunError) as failed:
        run_module.run(cfg, log=lambda line: None)
    assert failed.value.code == ExitCode.BAD_INPUT
    ended(cfg, "failed", "LoadGen rejected user.conf (code 1)", ExitCode.BAD_INPUT)
    assert [w.closed for w in closed] == [True]


def test_execute_failing_records_its_reason_and_closes_the_backend(tmp_path, dataset_dir, closed):
    source = tmp_path / "inference"
    source.mkdir()                                   # no compliance tests in it
    cfg = config(tmp_path, dataset_dir, compliance_test="TEST01", inference_src=str(source))
    with pytest.raises(RunError) as failed:
        run_module.run(cfg, log=lambda line: None)
    assert failed.value.code == ExitCode.BAD_INPUT and "TEST01" in str(failed.value)
    ended(cfg, "failed", str(failed.value), ExitCode.BAD_INPUT)
    assert [w.closed for w in closed] == [True]


def test_a_test_that_left_no_log_is_a_failed_run(tmp_path, dataset_dir, closed, monkeypatch):
    monkeypatch.setattr(run_module, "execute", lambda *args: None)
    cfg = config(tmp_path, dataset_dir)
    results = run_module.run(cfg, log=lambda line: None)
    assert not results.ok and results.exit_code == ExitCode.LOADGEN_ERRORS
    ended(cfg, "failed", "LoadGen wrote no mlperf_log_detail.txt", ExitCode.LOADGEN_ERRORS)
    assert [w.closed for w in closed] == [True]


def test_an_internal_error_is_its_own_exit_code(tmp_path, dataset_dir, closed, monkeypatch):
    def broken(*args):
        raise ValueError("a bug")
    monkeypatch.setattr(run_module, "execute", lambda *args: None)
    monkeypatch.setattr(run_module, "collect", broken)
    cfg = config(tmp_path, dataset_dir)
    with pytest.raises(ValueError):
        run_module.run(cfg, log=lambda line: None)
    ended(cfg, "failed", "internal error: ValueError: a bug", ExitCode.INTERNAL_ERROR)
    assert [w.closed for w in closed] == [True]
