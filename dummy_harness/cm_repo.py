"""Register this repository with CM: a wrapper CM repo outside the tree whose script/<alias> points at the
repository root (the root IS the CM script). Registering the root itself does not work (cm-facts.md).

    python -m dummy_harness.cm_repo [--wrapper DIR]      # uses $CM_REPOS like cm itself
    python -m dummy_harness.cm_repo --export DIR         # a clean copy for `cm docker script`
"""
from __future__ import annotations

import argparse
import os
import sys

REPO_ALIAS = "mlperf-dummy-harness"
REPO_UID = "d3a1f0c2b4e65a97"
SCRIPT_ALIAS = "reproduce-mlperf-inference-dummy"


def project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_wrapper() -> str:
    base = os.environ.get("CM_REPOS") or os.path.join(os.path.expanduser("~"), "CM")
    return os.path.join(base, "wrappers", REPO_ALIAS)


def make_wrapper(wrapper: str, root: str) -> str:
    os.makedirs(os.path.join(wrapper, "script"), exist_ok=True)
    with open(os.path.join(wrapper, "cmr.yaml"), "w") as f:
        f.write(f"alias: {REPO_ALIAS}\nuid: {REPO_UID}\ngit: false\nprefix: ''\n")
    link = os.path.join(wrapper, "script", SCRIPT_ALIAS)
    if os.path.islink(link) or os.path.exists(link):
        if os.path.realpath(link) == os.path.realpath(root):
            return link
        os.remove(link)
    os.symlink(os.path.realpath(root), link)
    return link


# What an image needs of the project (`cm docker script` copies the CM_REPO_PATH folder whole, a .venv too).
EXPORT = ("_cm.yaml", "customize.py", "run.sh", "pyproject.toml", "README.md", "dummy_harness")


def export_for_docker(dest: str, root: str = "") -> str:
    """A wrapper CM repo over a clean copy of the project, to pass as --env.CM_REPO_PATH to `cm docker script`
    (not registered: the generator copies it into the image). Returns the wrapper path."""
    import shutil

    root = root or project_root()
    dest = os.path.abspath(dest)
    copy = os.path.join(dest, "project")
    if os.path.exists(copy):
        shutil.rmtree(copy)
    os.makedirs(copy)
    for name in EXPORT:
        src = os.path.join(root, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(copy, name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, os.path.join(copy, name))
    wrapper = os.path.join(dest, "repo")
    make_wrapper(wrapper, copy)
    return wrapper


def register(wrapper: str = "", root: str = "") -> str:
    """Create the wrapper and add it to CM's repos (idempotent). Returns the wrapper path."""
    import cmind

    wrapper = os.path.abspath(wrapper or default_wrapper())
    make_wrapper(wrapper, root or project_root())
    r = cmind.access({"action": "find", "automation": "repo", "artifact": REPO_ALIAS})
    known = [os.path.realpath(x.path) for x in r.get("list", [])] if r["return"] == 0 else []
    if os.path.realpath(wrapper) in known:
        # Already registered: refresh the index in case the script's tags changed.
        r = cmind.access({"action": "reindex", "automation": "repo"})
    else:
        if known:   # registered from another place: replace it
            cmind.access({"action": "rm", "automation": "repo", "artifact": REPO_ALIAS, "force": True})
        r = cmind.access({"action": "add", "automation": "repo", "path": wrapper, "quiet": True})
    if r["return"] > 0:
        raise RuntimeError(r["error"])
    return wrapper


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wrapper", default="", help="wrapper repo folder (default $CM_REPOS/wrappers/...)")
    parser.add_argument("--export", default="", metavar="DIR",
                        help="instead: write a clean export for `cm docker script --env.CM_REPO_PATH=...`")
    args = parser.parse_args(argv)
    if args.export:
        print(export_for_docker(args.export))
        return 0
    try:
        path = register(args.wrapper)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"CM repo {REPO_ALIAS} -> {path} (script {SCRIPT_ALIAS} -> {project_root()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
