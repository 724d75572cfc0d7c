"""Write the generated parts of `_cm.yaml` and README.md from the declarations they restate.

    python -m dummy_harness.generate           # rewrite the generated regions in place
    python -m dummy_harness.generate --check   # exit 1 and show the difference when a region is stale

A generated region sits between a `BEGIN generated <name>` and an `END generated <name>` comment; everything
outside the markers (deps, docker, comments, the device/precision/scenario groups) is hand-written and kept
byte for byte. Sources: options.OPTIONS (flags), catalogue.CATALOGUE (model variations, accuracy env keys),
backends.REGISTRY (backend variations), options.EXECUTORS (executor variations).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from typing import Callable, Dict, List, Optional

import yaml

from .. import backends, catalogue
from ..options import BY_NAME, EXECUTORS, OPTIONS, Option

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND = "python -m dummy_harness.generate"


class StaleError(RuntimeError):
    """A file's markers are missing or out of order; str() is one line."""


# ---- YAML text ------------------------------------------------------------------------------------------------
def _scalar(value) -> str:
    """A YAML scalar that reads back as `value`: plain where YAML would keep it a string, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)      # a JSON string is a YAML double-quoted scalar


def _flow(mapping: Dict[str, object]) -> str:
    parts = []
    for key, value in mapping.items():
        shown = "[" + ", ".join(_scalar(v) for v in value) + "]" if isinstance(value, (list, tuple)) else \
            _scalar(value)
        parts.append(f"{key}: {shown}")
    return "{" + ", ".join(parts) + "}"


def _cm_flags() -> List[tuple]:
    """(flag name, option) for every CM flag, in GUI order; an alias follows its option."""
    return [(name, o) for o in OPTIONS if o.cm_flag for name in (o.name, *o.aliases)]


def _gui_entry(flag: str, option: Option, sort: int) -> Dict[str, object]:
    if flag != option.name:
        return {"desc": f"same as {option.name}", "boolean": True, "default": False, "sort": sort} \
            if option.switch else {"desc": f"same as {option.name}", "sort": sort}
    entry: Dict[str, object] = {"desc": option.describe()}
    if option.switch:
        entry.update(boolean=True, default=False)       # a true default would be on every GUI command
    elif option.choices and option.gui_preselect:
        entry.update(default=option.default, choices=list(option.choices))
    elif option.choices:
        entry["choices"] = [""] + list(option.choices)   # '' = nothing emitted: the variation or default decides
    entry["sort"] = sort
    return entry


def render_flags() -> str:
    flags = _cm_flags()
    # Path flags stay out of input_mapping: CM would put them into env, which its shell re-reads (cm/env.py).
    lines = ["input_mapping:"] + [f"  {flag}: {option.env}" for flag, option in flags if not option.is_path]
    lines.append("input_description:")
    lines += [f"  {flag}: {_flow(_gui_entry(flag, option, 10 * (i + 1)))}" for i, (flag, option) in enumerate(flags)]
    return "\n".join(lines) + "\n"


def render_accuracy_env_keys() -> str:
    keys = dict.fromkeys(spec.accuracy_dtype_env[0] for spec in catalogue.CATALOGUE.values())
    return "".join(f"  - {key}\n" for key in keys)


def render_backends() -> str:
    env = BY_NAME["backend"].env
    out = []
    for name, info in backends.REGISTRY.items():
        if info.summary:
            out.append(f"  # {info.summary}")
        out += [f"  {_scalar(name)}:", "    group: backend"]
        if name == backends.DEFAULT:
            out.append("    default: true")
        out += ["    env:", f"      {env}: {_scalar(name)}"]
    return "\n".join(out) + "\n"


# What each executor variation is, for the comment above it.
EXECUTOR_SUMMARY = {"local": "this process: the executor the scenario calls for (inline, threads, queued, ...)",
                    "ray": "Ray workers, one backend each (--workers=N, --ray_address, --ship_samples; needs the "
                           "`ray` extra)"}


def render_executors() -> str:
    option = BY_NAME["executor"]
    out = []
    for name in EXECUTORS:
        if name in EXECUTOR_SUMMARY:
            out.append(f"  # {EXECUTOR_SUMMARY[name]}")
        out += [f"  {_scalar(name)}:", "    group: executor"]
        if name == option.default:
            out.append("    default: true")
        out += ["    env:", f"      {option.env}: {_scalar(name)}"]
    return "\n".join(out) + "\n"


def render_models() -> str:
    env = BY_NAME["model"].env
    families: Dict[str, int] = {}
    for spec in catalogue.CATALOGUE.values():
        families[spec.loadgen_key] = families.get(spec.loadgen_key, 0) + 1
    out: List[str] = []
    based = set()
    for name, spec in catalogue.CATALOGUE.items():
        family = f"{spec.loadgen_key}_" if families[spec.loadgen_key] > 1 else None
        if family and family not in based:     # the variants of one benchmark share a hidden base variation
            based.add(family)
            out += [f"  {_scalar(family)}:", "    {}", ""]
        out += [f"  {_scalar(spec.cm_variation)}:", "    group: model"]
        if name == catalogue.DEFAULT_MODEL:
            out.append("    default: true")
        if family:
            out += ["    base:", f"      - {_scalar(family)}"]
        if spec.default_batch_size == 1:
            out += ["    default_variations:", "      batch-size: bs.1"]
        key, value = spec.accuracy_dtype_env
        out += ["    env:", f"      {env}: {_scalar(name)}", f"      {key}: {_scalar(value)}", ""]
    return "\n".join(out[:-1]) + "\n"


# ---- the README's flag table -----------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def render_flag_table() -> str:
    rows = ["| flag | CM env | what it does |", "| --- | --- | --- |"]
    for o in OPTIONS:
        flags = ", ".join(f"`--{n}`" for n in (o.name, *o.aliases))
        if not o.harness:
            flags += " (CM only)"
        elif not o.cm_flag:
            flags += " (CLI; CM: variation or `--env`)"
        rows.append(f"| {flags} | `{o.env}` | {_md(o.describe(choices=True))} |")
    return "\n".join(rows) + "\n"


def render_submission_rounds() -> str:
    """docs/submission.md: each benchmark, the rounds whose checker has it, and its compliance tests in each."""
    from ..submission import rounds

    rows = ["| benchmark (checker name) | rounds | compliance tests |", "| --- | --- | --- |"]
    for model in catalogue.CATALOGUE:
        have = rounds.with_benchmark(model)
        names = sorted({rounds.get(r).benchmarks[model].checker_name for r in have})
        label = model if names == [model] else f"{model} ({', '.join(names)})"
        tests: Dict[tuple, List[str]] = {}
        for r in have:
            tests.setdefault(rounds.get(r).benchmarks[model].compliance, []).append(r)
        cells = "; ".join(f"{', '.join(t) or 'none'} ({', '.join(rs)})" if len(tests) > 1 else
                          (', '.join(t) or 'none') for t, rs in tests.items())
        rows.append(f"| {label} | {', '.join(have) or '-'} | {cells} |")
    return "\n".join(rows) + "\n"


# ---- regions ---------------------------------------------------------------------------------------------------
# file -> region name -> renderer
REGIONS: Dict[str, Dict[str, Callable[[], str]]] = {
    "_cm.yaml": {"flags": render_flags, "accuracy-env-keys": render_accuracy_env_keys,
                 "backend-variations": render_backends, "executor-variations": render_executors,
                 "model-variations": render_models},
    "README.md": {"flag-table": render_flag_table},
    "docs/submission.md": {"benchmark-rounds": render_submission_rounds},
}


def regenerate(text: str, renderers: Dict[str, Callable[[], str]], filename: str) -> str:
    """`text` with each region's body replaced by what its renderer gives now."""
    for name, render in renderers.items():
        begin = re.search(rf"^.*BEGIN generated {re.escape(name)}\b.*\n", text, re.M)
        end = re.search(rf"^.*END generated {re.escape(name)}\b.*$", text, re.M)
        if not begin or not end or end.start() < begin.end():
            raise StaleError(f"{filename}: no 'BEGIN generated {name}' ... 'END generated {name}' markers")
        text = text[:begin.end()] + render() + text[end.start():]
    return text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a region is stale")
    parser.add_argument("--root", default=ROOT, help="the repository root (default: this checkout)")
    args = parser.parse_args(argv)
    stale = []
    for filename, renderers in REGIONS.items():
        path = os.path.join(args.root, filename)
        with open(path) as f:
            current = f.read()
        try:
            wanted = regenerate(current, renderers, filename)
        except StaleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if wanted == current:
            continue
        stale.append(filename)
        if args.check:
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(), f"{filename} (committed)",
                                        f"{filename} (generated)", lineterm="", n=1)
            print("\n".join(list(diff)[:60]))
        else:
            with open(os.path.realpath(path), "w") as f:      # _cm.yaml through meta.yaml stays one file
                f.write(wanted)
    if stale and args.check:
        print(f"error: {', '.join(stale)} differ from the declarations; run: {COMMAND}", file=sys.stderr)
        return 1
    for filename in stale:
        print(f"rewrote the generated parts of {filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
