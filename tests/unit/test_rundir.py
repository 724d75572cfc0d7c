"""The run folder: nothing lost, unusable folders refused before LoadGen starts, one writer at a time."""
import collections
import dataclasses
import json
from pathlib import Path

import pytest

from dummy_harness import rundir
from dummy_harness.config import parse_options
from dummy_harness.results import Results

STORED = Path(__file__).parent / "data" / "results" / "performance.json"   # a results.json as a run writes it


def cfg_in(tmp_path, **extra):
    return parse_options({"output_dir": str(tmp_path / "out"), "hw_name": "box", **extra})


def test_previous_artifacts_are_moved_aside_never_deleted(tmp_path):
    cfg = cfg_in(tmp_path)
    rundir.prepare(cfg)
    (tmp_path / "out").joinpath(cfg.run_dir, "mlperf_log_summary.txt").write_text("old")
    moved = rundir.prepare(cfg)
    assert moved and (tmp_path / "out" / "previous_runs").is_dir()
    assert open(f"{moved}/mlperf_log_summary.txt").read() == "old"


def test_only_a_valid_result_of_the_same_configuration_is_reused(tmp_path):
    cfg = cfg_in(tmp_path)
    rundir.prepare(cfg)
    stored = dataclasses.replace(Results.from_json(json.loads(STORED.read_text())), status="ok", valid=True,
                                 fingerprint=cfg.fingerprint(), run_dir=cfg.run_dir)
    stored.write()
    assert rundir.stored_result(cfg) == stored
    assert rundir.stored_result(cfg_in(tmp_path, count="77")) is None         # another configuration
    dataclasses.replace(stored, status="interrupted").write()
    assert rundir.stored_result(cfg) is None


def test_a_full_disk_is_detected_before_loadgen(tmp_path, monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(rundir.shutil, "disk_usage", lambda path: usage(10 * 2**20, 9 * 2**20, 2**20))
    with pytest.raises(rundir.RunDirError, match="only 1 MiB free"):
        rundir.prepare(cfg_in(tmp_path))


def test_an_unwritable_output_dir_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(rundir.RunDirError, match="cannot write the output folder"):
        rundir.prepare(parse_options({"output_dir": str(tmp_path / "file" / "sub")}))


def test_one_writer_per_run_folder(tmp_path):
    cfg = cfg_in(tmp_path)
    held = rundir.lock(cfg)
    with pytest.raises(rundir.RunDirError, match="another run .* is writing"):
        rundir.check_unlocked(cfg)
    held.close()
    rundir.check_unlocked(cfg)
