"""This script's page in the CM GUI as users meet it: the intact GUI (mlcommons/cm4mlops script/gui, commit 7cd929d)
run by scripts/cm_gui_app.py under Streamlit's headless AppTest: the real page code, no server, no browser.

The GUI comes from $CM_GUI_PATH, else from the copy CI keeps beside the checkout
(../shared/third_party/cm4mlops-gui; for a git worktree, beside its main checkout). Tests skip, saying why, where
it or streamlit is missing. The widget keys are the GUI's own: `~~<group>` a variation group's selectbox,
`@<flag>` a flag's widget, `run_via_docker` the "Use Docker" toggle.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "scripts" / "cm_gui_app.py"
GUI_ENV = "CM_GUI_PATH"
BESIDE = Path("shared") / "third_party" / "cm4mlops-gui"
# README's GUI command: cmr "cm gui" --script="<tags>"
README_GUI_COMMAND = re.compile(r'cmr "cm gui" --script="([^"]+)"')


def gui_path() -> Path:
    if os.environ.get(GUI_ENV):
        return Path(os.environ[GUI_ENV])
    beside = ROOT.parent / BESIDE
    if (beside / "script" / "gui" / "app.py").is_file():
        return beside
    # A git worktree keeps its files elsewhere: look beside the main checkout.
    p = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                       capture_output=True, text=True)
    return Path(p.stdout.strip()).parent.parent / BESIDE if p.returncode == 0 and p.stdout.strip() else beside


def gui_unavailable() -> Optional[str]:
    """Why the page cannot be rendered here, or None."""
    if importlib.util.find_spec("streamlit") is None:
        return "streamlit is not installed (pip install -e '.[gui]'; scripts/setup-env.sh does)"
    if not (gui_path() / "script" / "gui" / "app.py").is_file():
        return (f"no copy of the CM GUI (mlcommons/cm4mlops script/gui, commit 7cd929d) at {gui_path()}: set "
                f"{GUI_ENV} to a folder holding it as script/gui")
    return None


def readme_gui_tags() -> str:
    """The tags of README's GUI command (one command, however often README shows it)."""
    found = set(README_GUI_COMMAND.findall((ROOT / "README.md").read_text()))
    assert len(found) == 1, f"README should show one GUI command, found {sorted(found)}"
    return found.pop()


def widget(at, key: str):
    """The page's widget with this key (a selectbox, text box, checkbox or toggle)."""
    for kind in (at.selectbox, at.text_input, at.checkbox, at.toggle):
        for w in kind:
            if w.key == key:
                return w
    raise KeyError(f"the page has no widget {key!r}")


def render(tags: str, cm_repos: str, variations: Optional[Dict[str, str]] = None,
           flags: Optional[Dict[str, Any]] = None, docker: bool = False):
    """The page of the script CM_GUI_SCRIPT_TAGS=`tags` finds in `cm_repos`, after choosing `variations`
    (group -> variation) and `flags` (flag -> value) and, with `docker`, switching "Use Docker" on: an AppTest."""
    if gui_unavailable():
        pytest.skip(gui_unavailable())
    from streamlit.testing.v1 import AppTest

    # The GUI puts its folder first on sys.path and imports its modules by plain names (`script`, `app`, ...):
    # afterwards this process gets both back as they were, so MLCFlow's own `script` package (test_mlcflow, in
    # the same pytest worker) is not shadowed by the GUI's script.py.
    path, modules = list(sys.path), set(sys.modules)
    try:
        return _render(AppTest, tags, cm_repos, variations, flags, docker)
    finally:
        sys.path[:] = path
        gui = (gui_path() / "script" / "gui").resolve()
        for name in set(sys.modules) - modules:
            if Path(getattr(sys.modules[name], "__file__", "") or "/").resolve().parent == gui:
                del sys.modules[name]


def _render(AppTest, tags, cm_repos, variations, flags, docker):
    with pytest.MonkeyPatch.context() as env:
        # cmind (in this process) reads CM_REPOS when first used: the session's registered repos
        env.setenv("CM_REPOS", cm_repos)
        env.setenv(GUI_ENV, str(gui_path()))
        env.setenv("CM_GUI_SCRIPT_TAGS", tags)
        env.setenv("CM_GUI_NO_RUN", "yes")          # no "Run in the new terminal" button
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        assert not at.exception, at.exception
        choices = {**{f"~~{g}": v for g, v in (variations or {}).items()},
                   **{f"@{f}": v for f, v in (flags or {}).items()}}
        for key, value in choices.items():
            widget(at, key).set_value(value)
        if docker:
            widget(at, "run_via_docker").set_value(True)
        if choices or docker:
            at.run()
            assert not at.exception, at.exception
    return at


def printed_command(at) -> str:
    """The command the page prints ("Run from the command line"), as the page shows it."""
    (area,) = at.text_area
    return area.value


def one_line(command: str) -> str:
    """The printed command on one line, as bash reads it (a backslash-newline continues the line)."""
    return " ".join(command.replace("\\\n", " ").split())
