"""Paths as people have them: a folder whose name holds a space, quotes, `$`, backticks, `;` and letters with
accents, for the output, the dataset, user.conf and mlperf.conf, through every entry point. The run is VALID
(or its accuracy passes), every file lands in exactly that folder, and no part of the name is ever run: a
`touch PWNED` anywhere in it would leave a file behind. The same runs show what --user_conf and --mlperf_conf
do (their own tests before)."""
from pathlib import Path

import pytest

from conftest import detail_records, dummy_harness, results_of

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"
# Each risky character once; `touch PWNED` runs if any part reaches a shell as code (in the folder it runs in).
RISKY = "$HOME 'q' \"dq\" `touch PWNED` $(touch PWNED); touch PWNED & a|b"
NAME = f"résultats ü {RISKY}"
# MLCFlow's command line refuses any argument with a non-ASCII letter (mlc/main.py, before any script runs).
ASCII_NAME = f"results {RISKY}"
USER_CONF = ("resnet50.SingleStream.min_duration = 0\nresnet50.SingleStream.min_query_count = 70\n"
             "resnet50.SingleStream.target_latency = 9\n")
MLPERF_CONF = "*.SingleStream.min_duration = 0\n*.SingleStream.min_query_count = 64\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A folder holding the two risky folders with their conf files; the dataset cache (shared by every run, so
    generated once) is in the ASCII one."""
    base = tmp_path_factory.mktemp("paths")
    for name in (NAME, ASCII_NAME):
        (base / name).mkdir()
        (base / name / "user.conf").write_text(USER_CONF)
        (base / name / "my mlperf.conf").write_text(MLPERF_CONF)
    return base


def no_command_ran(*folders: Path) -> None:
    for folder in {*folders, Path.cwd()}:
        assert not list(Path(folder).rglob("PWNED")), folder


def check_run(base: Path, folder: Path, out: Path, mode: str = "performance") -> Path:
    """The run folder under `out`, checked: VALID (accuracy: PASS), LoadGen's logs, the runner's console.out and
    the options file in it, the risky user.conf and mlperf.conf used, the dataset in the risky cache."""
    found = list(out.glob(f"*/resnet50/singlestream/{'performance/run_1' if mode == 'performance' else 'accuracy'}"))
    assert len(found) == 1, found
    run_dir = found[0]
    results = results_of(run_dir)
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "results.json"):
        assert (run_dir / name).is_file(), name
    assert Path(results["dataset"]["path"]).parent == base / ASCII_NAME / "ds"
    if mode == "accuracy":
        assert results["accuracy"]["passed"] is True
        # --mlperf_conf under the user.conf the harness generates.
        assert (run_dir / "mlperf.conf").read_text() == MLPERF_CONF
        assert "replaces the official conf" in results["loadgen_settings"]["mlperf_conf"]
    else:
        assert results["validity"] == "VALID"
        # --user_conf replaces the generated one (copied into the run folder) and beats mlperf.conf's 64 queries;
        # --mlperf_conf replaces the official conf: its seeds (0 here) are LoadGen's, not the official ones.
        records, settings = detail_records(run_dir), results["loadgen_settings"]
        assert records["requested_min_query_count"] == 70 and records["result_query_count"] == 70
        assert records["requested_qsl_rng_seed"] == 0
        assert (run_dir / "user.conf").read_text() == USER_CONF
        assert (run_dir / "mlperf.conf").read_text() == MLPERF_CONF
        assert settings["user_conf"].startswith(f"--user_conf {folder / 'user.conf'} ")
        assert settings["mlperf_conf"] == f"--mlperf_conf {folder / 'my mlperf.conf'} (replaces the official conf)"
    # Nothing landed beside the risky folder (a name split at a space or a quote would make one).
    assert sorted(p.name for p in base.iterdir()) == sorted([NAME, ASCII_NAME])
    no_command_ran(base)
    return run_dir


def flags(base: Path, folder: Path, out: Path, mode: str = "performance"):
    # A small dataset: it is generated once, into the risky folder.
    given = [f"--output_dir={out}", f"--dataset_dir={base / ASCII_NAME / 'ds'}", "--dataset_size=64",
             f"--mlperf_conf={folder / 'my mlperf.conf'}"]
    if mode == "accuracy":
        return given + ["--mode=accuracy", "--count=32"]
    return given + [f"--user_conf={folder / 'user.conf'}"]


# mlc.access runs what mlcr runs (the same runner) with the same input as cmind.access: left out for time.
@pytest.mark.parametrize("entry,mode", [("cmr", "performance"), ("cmind.access", "accuracy"),
                                        ("mlcr", "performance")])
def test_risky_paths_under_cm_and_mlcflow(script, entry, base, tmp_path, mode):
    folder = base / (ASCII_NAME if entry == "mlcr" else NAME)
    out = folder / f"out {entry}"
    r = script(f"{TAGS} _resnet50 _singlestream", "--quiet", *flags(base, folder, out, mode), with_dataset_dir=False)
    assert r.returncode == 0, r.output[-3000:]
    run_dir = check_run(base, folder, out, mode)
    # The runner (CM's or MLCFlow's benchmark-program) ran in it and teed the console into it.
    assert "Result is" in (run_dir / "console.out").read_text() or mode == "accuracy"
    assert (run_dir / "console.out").is_file() and (run_dir / "run_options.json").is_file()
    # What the script exports to CM names the folder (itself, or a plain-named link to it).
    assert Path(r.json["new_env"]["CM_MLPERF_RUN_DIR"]).resolve() == run_dir.resolve()
    no_command_ran(tmp_path)


def test_risky_paths_through_the_console_script(base, tmp_path):
    folder = base / NAME
    out = folder / "out cli"
    p = dummy_harness("--scenario=SingleStream", *flags(base, folder, out), cwd=tmp_path)
    assert p.returncode == 0, p.output[-3000:]
    check_run(base, folder, out)
    no_command_ran(tmp_path)

