"""The generated parts of _cm.yaml and README.md are what `python -m dummy_harness.generate` writes from the
declarations (options.py, catalogue.py, backends/__init__.py); hand-written parts are kept byte for byte."""
import shutil
import subprocess
import sys

import pytest
import yaml

from dummy_harness.cm import generate
from dummy_harness.options import OPTIONS, Option, whole

from conftest import ROOT


@pytest.fixture
def copy(tmp_path):
    for name in generate.REGIONS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_committed_files_are_what_the_declarations_generate(capsys):
    assert generate.main(["--check"]) == 0, capsys.readouterr().out[-3000:]


def test_the_command_line_check_names_the_stale_file(copy):
    text = (copy / "_cm.yaml").read_text()
    (copy / "_cm.yaml").write_text(text.replace("  rerun: CM_RERUN\n", "  rerun: CM_RERUN_EDITED\n"))
    r = subprocess.run([sys.executable, "-m", "dummy_harness.generate", "--check", "--root", str(copy)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert "-  rerun: CM_RERUN_EDITED" in r.stdout and "+  rerun: CM_RERUN" in r.stdout
    assert "_cm.yaml differ from the declarations; run: python -m dummy_harness.generate" in r.stderr


def test_a_new_option_makes_the_committed_files_stale_until_generated(copy, monkeypatch, capsys):
    flag = Option("extra_flag", "CM_MLPERF_DUMMY_EXTRA", whole(), "a flag added in one place")
    monkeypatch.setattr(generate, "OPTIONS", OPTIONS + (flag,))
    assert generate.main(["--check", "--root", str(copy)]) == 1
    assert "+  extra_flag: CM_MLPERF_DUMMY_EXTRA" in capsys.readouterr().out

    assert generate.main(["--root", str(copy)]) == 0
    meta = yaml.safe_load((copy / "_cm.yaml").read_text())
    assert meta["input_mapping"]["extra_flag"] == "CM_MLPERF_DUMMY_EXTRA"
    assert meta["input_description"]["extra_flag"]["desc"] == "a flag added in one place"
    assert "| `--extra_flag` | `CM_MLPERF_DUMMY_EXTRA` | a flag added in one place |" in \
        (copy / "README.md").read_text()
    assert generate.main(["--check", "--root", str(copy)]) == 0


def test_hand_written_parts_are_kept_byte_for_byte(copy):
    cm = (copy / "_cm.yaml").read_text()
    stale = cm.replace("  seed: CM_MLPERF_DUMMY_SEED\n", "")                       # inside a region
    stale = stale.replace("  - tags: detect,cpu\n", "  - tags: detect,cpu   # a hand edit\n")   # outside
    (copy / "_cm.yaml").write_text(stale)
    assert generate.main(["--root", str(copy)]) == 0
    assert (copy / "_cm.yaml").read_text() == cm.replace("  - tags: detect,cpu\n",
                                                           "  - tags: detect,cpu   # a hand edit\n")


def test_missing_markers_are_an_error_not_a_silent_pass(copy, capsys):
    cm = (copy / "_cm.yaml").read_text()
    (copy / "_cm.yaml").write_text(cm.replace("# END generated flags", "# END of the flags"))
    assert generate.main(["--check", "--root", str(copy)]) == 1
    assert "no 'BEGIN generated flags' ... 'END generated flags' markers" in capsys.readouterr().err


def test_meta_yaml_is_still_the_same_file():
    assert (ROOT / "meta.yaml").is_symlink() and (ROOT / "meta.yaml").resolve() == (ROOT / "_cm.yaml").resolve()


def test_readme_variation_table_lists_every_group_and_variation_of_cm_yaml():
    """README's hand-written variation table names every user-facing group of `_cm.yaml` and each variation in it
    (a new group or variation that README does not mention fails here)."""
    meta = yaml.safe_load((ROOT / "_cm.yaml").read_text())
    groups = {}
    for name, variation in meta["variations"].items():
        if variation.get("group", "*").strip("*") == variation.get("group") and not name.endswith("_") \
                and "#" not in name and not name.startswith("bs."):
            groups.setdefault(variation["group"], []).append(name)
    rows = {line.split("|")[1].strip(): line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") == 4}
    for group, names in groups.items():
        assert group in rows, f"README's variation table has no row for the {group} group"
        missing = [n for n in names if f"`_{n}`" not in rows[group]]
        assert not missing, f"README's {group} row lacks {missing}"
