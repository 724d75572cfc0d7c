"""Register this repository with CM and MLCFlow: a wrapper repo outside the tree whose script/<alias> points at
the repository root (the root IS the script). Registering the root itself does not work (cm-facts.md).

    python -m dummy_harness.cm_repo [--wrapper DIR] [--tool all|cm|mlc] [--mlperf_automations DIR]
    python -m dummy_harness.cm_repo --export DIR [--torch_wheel FILE | --torch_index URL]
                                         # a clean copy for `cm docker script` / `mlc docker script`

One wrapper serves both tools: CM reads its cmr.yaml, MLCFlow its meta.yaml (the same alias and uid), and in the
script folder CM reads _cm.yaml, MLCFlow meta.yaml (a link to _cm.yaml). By default the repo is registered with
every tool that is installed (cmind -> $CM_REPOS, mlcflow -> $MLC_REPOS). MLCFlow ships no scripts: this one
needs mlperf-automations' detect-os, benchmark-program, ... (`mlc pull repo mlcommons@mlperf-automations` online;
offline, --mlperf_automations DIR registers a local copy in the same command).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from typing import List

REPO_ALIAS = "mlperf-dummy-harness"
REPO_UID = "d3a1f0c2b4e65a97"
SCRIPT_ALIAS = "reproduce-mlperf-inference-dummy"
# The repo meta both tools read: CM as cmr.yaml, MLCFlow as meta.yaml.
REPO_META = f"alias: {REPO_ALIAS}\nuid: {REPO_UID}\ngit: false\nprefix: ''\n"
TOOLS = {"cm": "cmind", "mlc": "mlc"}       # tool -> the Python package that provides it


def project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def installed_tools() -> List[str]:
    return [tool for tool, package in TOOLS.items() if importlib.util.find_spec(package) is not None]


def mlc_repos() -> str:
    return os.environ.get("MLC_REPOS", "").strip() or os.path.join(os.path.expanduser("~"), "MLC", "repos")


def default_wrapper() -> str:
    base = os.environ.get("CM_REPOS")
    if not base:
        # Beside CM's state when cmind is installed (as always), else beside MLCFlow's.
        base = (os.path.join(os.path.expanduser("~"), "CM") if "cm" in installed_tools()
                else os.path.dirname(mlc_repos()))
    return os.path.join(base, "wrappers", REPO_ALIAS)


def make_wrapper(wrapper: str, root: str) -> str:
    os.makedirs(os.path.join(wrapper, "script"), exist_ok=True)
    for name in ("cmr.yaml", "meta.yaml"):
        with open(os.path.join(wrapper, name), "w") as f:
            f.write(REPO_META)
    link = os.path.join(wrapper, "script", SCRIPT_ALIAS)
    if os.path.islink(link) or os.path.exists(link):
        if os.path.realpath(link) == os.path.realpath(root):
            return link
        os.remove(link)
    os.symlink(os.path.realpath(root), link)
    return link


# What an image needs of the project (the docker generators copy the repo folder whole, a .venv too).
EXPORT = ("_cm.yaml", "meta.yaml", "customize.py", "run.sh", "pyproject.toml", "README.md", "dummy_harness",
          "scripts/docker-install.sh")
# The CPU image's torch: the CPU build of the version scripts/setup-env.sh installs (PyPI's default Linux wheel of
# the same version carries CUDA: a 4.9 GB layer). `+cpu` exists on this index only, so no other index can
# substitute the CUDA build.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CPU_SPEC = "torch==2.13.0+cpu"
# Read by scripts/docker-install.sh in the image: a pip requirements file, relative to the copied project.
TORCH_CPU_REQUIREMENTS = "docker-torch-cpu.txt"


def torch_cpu_requirements(torch_wheel: str = "", torch_index: str = "") -> str:
    """The requirements file text that installs the CPU image's torch: a wheel put into the export's wheels/, else
    TORCH_CPU_SPEC from the CPU index."""
    if torch_wheel:
        return f"wheels/{os.path.basename(torch_wheel)}\n"
    return f"--extra-index-url {torch_index or TORCH_CPU_INDEX}\n{TORCH_CPU_SPEC}\n"


def export_for_docker(dest: str, root: str = "", torch_wheel: str = "", torch_index: str = "") -> str:
    """A wrapper repo over a clean copy of the project, to pass as --env.CM_REPO_PATH to `cm docker script` or
    --docker_mlc_repo_path to `mlc docker script` (not registered: the generator copies it into the image).
    torch_wheel: a CPU torch wheel carried into the image (offline); else the CPU image installs TORCH_CPU_SPEC
    from torch_index (default TORCH_CPU_INDEX). Returns the wrapper path."""
    import shutil

    root = root or project_root()
    if torch_wheel and not (os.path.isfile(torch_wheel) and os.path.basename(torch_wheel).startswith("torch-")
                            and torch_wheel.endswith(".whl")):
        raise ValueError(f"--torch_wheel={torch_wheel!r} is not a torch wheel file (torch-*.whl)")
    dest = os.path.abspath(dest)
    copy = os.path.join(dest, "project")
    if os.path.exists(copy):
        shutil.rmtree(copy)
    os.makedirs(copy)
    for name in EXPORT:
        src = os.path.join(root, name)
        os.makedirs(os.path.dirname(os.path.join(copy, name)), exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(copy, name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, os.path.join(copy, name))    # meta.yaml: a copy of _cm.yaml (the link is not copied)
    if torch_wheel:
        os.makedirs(os.path.join(copy, "wheels"))
        shutil.copy2(torch_wheel, os.path.join(copy, "wheels"))
    with open(os.path.join(copy, TORCH_CPU_REQUIREMENTS), "w") as f:
        f.write(torch_cpu_requirements(torch_wheel, torch_index))
    wrapper = os.path.join(dest, "repo")
    make_wrapper(wrapper, copy)
    return wrapper


def register_cm(wrapper: str) -> None:
    import cmind

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
        raise RuntimeError(f"CM: {r['error']}")


def _mlc(code: str, *args: str) -> subprocess.CompletedProcess:
    """Python `code` using mlc, in a fresh process: MLCFlow's in-process index goes stale after `add repo`, and
    `import mlc` writes its log (.mlc-log.txt) into the current folder, here $MLC_REPOS."""
    repos = mlc_repos()
    os.makedirs(repos, exist_ok=True)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=repos, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


ADD_REPO = """
import sys, mlc
r = mlc.access({"action": "add", "target": "repo", "repo": sys.argv[1]})
# A repo of the same uid registered elsewhere is replaced; the same path again is no change.
if r["return"] > 0 and not str(r.get("error", "")).startswith("Repo already exists"):
    sys.exit("cannot register " + sys.argv[1] + ": " + str(r["error"]))
"""
COUNT_SCRIPTS = """
import sys, mlc
r = mlc.access({"action": "search", "target": "script", "tags": sys.argv[1]})
print(len(r.get("list") or []))
"""


def register_mlc(wrapper: str, automations: str = "") -> str:
    """Add the wrapper (and a local mlperf-automations copy, if given) to MLCFlow's repos. Returns a note to print
    when MLCFlow still lacks the upstream scripts this one needs, else ''."""
    paths = [wrapper]
    if automations:
        if not os.path.isfile(os.path.join(automations, "meta.yaml")):
            raise RuntimeError(f"--mlperf_automations={automations!r} is not an MLCFlow repository (no meta.yaml)")
        paths.insert(0, os.path.abspath(automations))
    for path in paths:
        p = _mlc(ADD_REPO, path)
        if p.returncode != 0:
            raise RuntimeError(f"MLCFlow: {(p.stderr.strip().splitlines() or ['failed'])[-1]}")
    p = _mlc(COUNT_SCRIPTS, "benchmark-mlperf")
    if p.returncode != 0 or p.stdout.strip().splitlines()[-1:] == ["0"]:
        return ("MLCFlow has no mlperf-automations scripts (detect-os, benchmark-program, ...): run "
                "`mlc pull repo mlcommons@mlperf-automations`, or pass --mlperf_automations DIR for a local copy")
    return ""


def register(wrapper: str = "", root: str = "", tools: List[str] = (), automations: str = "") -> str:
    """Create the wrapper and register it with `tools` (default: every installed one; idempotent). Returns the
    wrapper path; a tool that is not installed or fails raises RuntimeError."""
    tools = list(tools) or installed_tools()
    if not tools:
        raise RuntimeError("neither CM (pip install cmind) nor MLCFlow (pip install mlcflow) is installed")
    missing = [tool for tool in tools if tool not in installed_tools()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} is not installed (pip install "
                           f"{' '.join('mlcflow' if t == 'mlc' else TOOLS[t] for t in missing)})")
    wrapper = os.path.abspath(wrapper or default_wrapper())
    make_wrapper(wrapper, root or project_root())
    if "cm" in tools:
        register_cm(wrapper)
    if "mlc" in tools:
        note = register_mlc(wrapper, automations)
        if note:
            print(f"note: {note}", file=sys.stderr)
    return wrapper


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wrapper", default="", help="wrapper repo folder (default $CM_REPOS/wrappers/...)")
    parser.add_argument("--tool", choices=["all", "cm", "mlc"], default="all",
                        help="register with CM, MLCFlow or every installed one (default)")
    parser.add_argument("--mlperf_automations", default="", metavar="DIR",
                        help="also register this local copy of mlcommons/mlperf-automations with MLCFlow (offline)")
    parser.add_argument("--export", default="", metavar="DIR",
                        help="instead: write a clean export for `cm docker script` / `mlc docker script`")
    parser.add_argument("--torch_wheel", default="", metavar="FILE",
                        help="with --export: the CPU image installs torch from this wheel, carried in (offline)")
    parser.add_argument("--torch_index", default="", metavar="URL",
                        help=f"with --export: the CPU image installs {TORCH_CPU_SPEC} from this index "
                             f"(default {TORCH_CPU_INDEX})")
    args = parser.parse_args(argv)
    if args.export:
        try:
            print(export_for_docker(args.export, torch_wheel=args.torch_wheel, torch_index=args.torch_index))
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.torch_wheel or args.torch_index:
        print("error: --torch_wheel and --torch_index go with --export", file=sys.stderr)
        return 1
    tools = [] if args.tool == "all" else [args.tool]
    try:
        path = register(args.wrapper, tools=tools, automations=args.mlperf_automations)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    names = {"cm": "CM", "mlc": "MLCFlow"}
    print(f"{' and '.join(names[t] for t in (tools or installed_tools()))} repo {REPO_ALIAS} -> {path} "
          f"(script {SCRIPT_ALIAS} -> {project_root()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
