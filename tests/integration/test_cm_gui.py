"""The CM GUI page of this script, as users meet it: README's GUI command opens it, its selectors and flag widgets are
_cm.yaml's, and the commands it prints run: accepted, or refused with the one line its help text announced.

The page is the intact CM GUI's (tests/integration/cm_gui_page.py: Streamlit's AppTest, no browser). Each printed
command runs as a user pastes it, in bash, with `--env.CM_MLPERF_SKIP_RUN=yes` appended: CM runs the deps and
customize.py (validation, run folder, the harness command it prints) and stops before the benchmark (the runner
dependency is skipped and postprocess reads no results).
"""
import re
from pathlib import Path

import pytest
import yaml

from cm_gui_page import one_line, printed_command, readme_gui_tags, render, widget
from conftest import BIN, Completed, ROOT, run_tree

pytestmark = pytest.mark.cm

META = yaml.safe_load((ROOT / "_cm.yaml").read_text())
SKIP_RUN = "--env.CM_MLPERF_SKIP_RUN=yes"


@pytest.fixture(scope="module")
def tags() -> str:
    return readme_gui_tags()


@pytest.fixture(scope="module")
def default_page(cm_env, tags):
    return render(tags, cm_env["CM_REPOS"])


def run_printed(command: str, cm_env, cwd: Path) -> Completed:
    """The printed command as a user runs it (bash, this environment's `cm` first on PATH), prepare-only."""
    env = {**cm_env, "PATH": f"{BIN}:{cm_env.get('PATH', '')}"}
    p = run_tree(["bash", "-c", f"{command.rstrip()} {SKIP_RUN}"], 120, env=env, cwd=cwd)
    return Completed(p.returncode, p.stdout, p.stderr, None, "cmr")


def prepared(r: Completed):
    """(run folder, the harness options as dummy-harness flags) of an accepted prepare-only run (the command
    reads them from the run folder's run_options.json; preprocess prints them)."""
    assert r.returncode == 0, r.output[-3000:]
    folder = re.search(r"^Run folder: (.*)$", r.stdout, re.M).group(1)
    command = re.search(r"^Options: ?(.*)$", r.stdout, re.M).group(1)
    assert not list(Path(folder).glob("mlperf_log_*")), "the benchmark ran although CM_MLPERF_SKIP_RUN=yes"
    return Path(folder), command


def test_readme_gui_command_opens_this_scripts_page(default_page, tags):
    labels = [t.label for t in default_page.toggle]
    assert any(f'CM script "[{META["alias"]}]' in label for label in labels), labels
    assert printed_command(default_page).startswith(f"cm run script --tags={tags.replace(' ', ',')},_")
    # The GUI shows a script only when its tags find exactly one: cmx4mlops' stub shares the seven common tags.
    assert "loadgen-dummy" in tags.split()
    # The alias (above) is all the page shows to name the script: no title or header.
    assert not (default_page.title or default_page.header or default_page.subheader)


def shown_variations():
    """group -> variations the page offers (a variation with an alias, or ending in `_`, is not offered)."""
    groups = {}
    for name, v in META["variations"].items():
        v = v or {}
        if not str(v.get("alias", "")).strip() and not name.endswith("_") and v.get("group"):
            groups.setdefault(v["group"], []).append(name)
    return groups


def test_selectors_and_flag_widgets_follow_cm_yaml(default_page):
    at = default_page
    groups = shown_variations()
    # One selectbox per group of variation_groups_order ('' first, then the variations sorted), preselecting
    # the group's default variation; groups starting with * (combinations) are not shown.
    selectors = sorted(s.key for s in at.selectbox if s.key.startswith("~~"))
    assert selectors == sorted(f"~~{g}" for g in META["variation_groups_order"])
    for group in META["variation_groups_order"]:
        box = widget(at, f"~~{group}")
        assert box.options == [""] + sorted(groups[group]), group
        defaults = [n for n in groups[group] if META["variations"][n].get("default")]
        assert box.value == (defaults[0] if defaults else ""), group
    assert not [c.key for c in at.checkbox if c.key.startswith("~")], "no variation is offered as a checkbox"

    # One widget per input_description key, labelled with its desc, holding its default.
    described = META["input_description"]
    flag_widgets = [w.key for kind in (at.selectbox, at.text_input, at.checkbox) for w in kind if w.key[:1] == "@"]
    assert sorted(flag_widgets) == sorted(f"@{k}" for k in described)
    for flag, d in described.items():
        w = widget(at, f"@{flag}")
        assert w.label == d["desc"], flag
        if d.get("boolean"):
            assert type(w).__name__ == "Checkbox" and w.value is bool(d.get("default", False)), flag
        elif "choices" in d:
            assert type(w).__name__ == "Selectbox" and w.options == d["choices"], flag
            assert w.value == d.get("default", d["choices"][0]), flag
        else:
            assert type(w).__name__ == "TextInput" and w.value == str(d.get("default", "")), flag


# case -> (variations chosen, flags set, the harness command's options, the run folder below --output_dir)
CASES = {
    "defaults": ({}, {}, "", "*-cpu-pytorch-float32/resnet50/offline/performance/run_1"),
    "retinanet-server-fp16-bs8-accuracy": (
        {"model": "retinanet", "loadgen-scenario": "server", "precision": "fp16", "batch-size": "bs.8"},
        {"mode": "accuracy"},
        "--model=retinanet --scenario=Server --mode=accuracy --precision=float16 --max_batchsize=8",
        "*-cpu-pytorch-float16/retinanet/server/accuracy"),
    "output-path-with-a-space": ({}, {"output_dir": "<tmp>/my results"}, "'--output_dir=<tmp>/my results'",
                                 "*-cpu-pytorch-float32/resnet50/offline/performance/run_1"),
}


@pytest.mark.parametrize("case", [
    "defaults",
    "retinanet-server-fp16-bs8-accuracy",
    "output-path-with-a-space",
])
def test_the_command_the_page_prints_is_accepted(cm_env, tags, tmp_path, case):
    variations, flags, options, run_folder = CASES[case]
    flags = {k: v.replace("<tmp>", str(tmp_path)) for k, v in flags.items()}
    command = printed_command(render(tags, cm_env["CM_REPOS"], variations, flags))
    shown = one_line(command)
    assert shown.startswith("cm run script --tags=")
    if case == "defaults":
        assert shown == (f"cm run script --tags={tags.replace(' ', ',')},_resnet50,_cpu,_fp32,_pytorch,_local "
                         "--mode=performance --run_style=test")
    folder, harness = prepared(run_printed(command, cm_env, tmp_path))
    assert harness == options.replace("<tmp>", str(tmp_path))
    out = Path(flags.get("output_dir", tmp_path / "test_results"))
    assert folder.is_dir() and folder in out.glob(run_folder), folder


def test_a_refused_command_says_what_the_help_announced(cm_env, tags, tmp_path):
    # The page's own example of a count: 100 samples of retinanet in accuracy mode; its dataset holds 64.
    at = render(tags, cm_env["CM_REPOS"], {"model": "retinanet"}, {"mode": "accuracy", "count": "100"})
    help_text = widget(at, "@count").label
    assert "accuracy: samples evaluated, at most --dataset_size" in help_text and "64 for retinanet" in help_text
    r = run_printed(printed_command(at), cm_env, tmp_path)
    assert r.returncode == 1
    assert r.error == ("--count=100 is larger than the dataset (64 samples) in accuracy mode; use at most 64 or "
                       "raise --dataset_size")
    assert not r.ran_dependency, "refused before any dependency ran"
