"""The flags of a `cmr` / `mlcr` / `cmind.access` / `mlc.access` call: this script's, the tool's own, or neither.

CM and MLCFlow put every flag into one input dict and ignore the ones nobody reads, so `--scenaro=Server` ran
Offline and exited 0. Here a flag that is neither this script's (options.py) nor the tool's is refused when it
is a small edit away from one of this script's (`did you mean --scenario?`), and named in one warning line
otherwise. The tool's flags are not listed by hand: they are the keys its own code reads from or writes into
that input dict, found by parsing the source of the script automation that is running (and of the tool's
core), so a new CM or MLCFlow flag is known as soon as it is installed.

Used by customize.py's `predeps`, which both tools call with the whole input before any dependency runs.
Importable without torch, LoadGen, cmind or mlcflow.
"""
from __future__ import annotations

import ast
import glob
import hashlib
import json
import os
import re
import sys
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

from .. import host
from ..options import OPTIONS

# How the tools name the input dict in their code: CM and MLCFlow's script automations `i` (`inp` in a few
# helpers), MLCFlow's command line layer `run_args` and its docker helpers `input_params`.
INPUT_NAMES = frozenset({"i", "inp", "run_args", "input_params"})
_GETTERS = frozenset({"get", "pop", "setdefault"})
# A flag at most this many edits (insert, delete, replace, swap two neighbours) from one of ours is a typo.
_MAX_EDITS_SHORT, _MAX_EDITS = 1, 2        # names of up to 4 letters; longer names


# ---- this script's flags ---------------------------------------------------------------------------------------
def script_flags() -> Dict[str, str]:
    """Flag -> option name, for every flag CM and MLCFlow pass to this script (aliases included)."""
    return {flag: o.name for o in OPTIONS if o.cm_flag for flag in (o.name, *o.aliases)}


def cli_only() -> Dict[str, str]:
    """Option -> how to set it under CM, for the options that are flags of `dummy-harness` only."""
    out = {}
    for o in OPTIONS:
        if not o.cm_flag:
            via = re.search(r"\(CM: ([^)]*)\)", o.help)
            out[o.name] = f"use {via.group(1)}" if via else f"use --env.{o.env}=VALUE"
    return out


# ---- the tool's flags, from its code ---------------------------------------------------------------------------
class _InputKeys(ast.NodeVisitor):
    """The string keys read from or written into a dict named like the input (INPUT_NAMES): `i['k']`,
    `i.get('k')`, `'k' in i`, `i.get('docker_' + x)` and `i.get(f'docker_{x}')` (a prefix), `i.get(k)` in
    `for k in [...]` loops over a literal list or one assigned to a name (`self.input_flags = [...]`), and
    `k.startswith('docker_')` in `for k in i` loops (a prefix)."""

    def __init__(self, lists: Mapping[str, List[str]]):
        self.lists = lists
        self.loops: List[Dict[str, Optional[List[str]]]] = []
        self.keys: Set[str] = set()
        self.prefixes: Set[str] = set()

    def _bound(self, name: str) -> Optional[List[str]]:
        """The strings a loop variable runs over (None: not such a variable, or one over the input's keys)."""
        for frame in reversed(self.loops):
            if name in frame:
                return frame[name]
        return None

    def _key(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.keys.add(node.value)
        elif isinstance(node, ast.Name) and self._bound(node.id) is not None:
            self.keys.update(self._bound(node.id))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str):
            bound = self._bound(node.right.id) if isinstance(node.right, ast.Name) else None
            if bound is not None:
                self.keys.update(node.left.value + v for v in bound)
            else:
                self.prefixes.add(node.left.value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            self.prefixes.add(node.values[0].value)

    @staticmethod
    def _is_input(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in INPUT_NAMES

    def _iterates_input(self, node: ast.AST) -> bool:
        """`i`, `i.keys()` or `i.items()`."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("keys", "items"):
            node = node.func.value
        return self._is_input(node)

    def _input_key_variable(self, node: ast.AST) -> bool:
        """A loop variable bound to the input's keys (`for k in i`)."""
        if not isinstance(node, ast.Name):
            return False
        for frame in reversed(self.loops):
            if node.id in frame:
                return frame[node.id] is None
        return False

    def visit_For(self, node: ast.For) -> None:
        if isinstance(node.target, ast.Name) and self._iterates_input(node.iter):
            self.loops.append({node.target.id: None})
            self.generic_visit(node)
            self.loops.pop()
            return
        values = _str_list(node.iter, self.lists)
        if isinstance(node.target, ast.Name) and values is not None:
            self.loops.append({node.target.id: values})
            self.generic_visit(node)
            self.loops.pop()
        else:
            self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._is_input(node.value):
            self._key(node.slice)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _GETTERS and self._is_input(func.value) and node.args:
            self._key(node.args[0])
        if isinstance(func, ast.Attribute) and func.attr == "startswith" and self._input_key_variable(func.value) \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self.prefixes.add(node.args[0].value)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) and self._is_input(node.comparators[0]):
            self._key(node.left)
        self.generic_visit(node)


def _str_list(node: ast.AST, lists: Mapping[str, List[str]]) -> Optional[List[str]]:
    """The strings of a literal list/tuple, or of the list a name or `self.name` was assigned."""
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return items if len(items) == len(node.elts) else None
    if isinstance(node, ast.Name):
        return lists.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return lists.get(node.attr)
    return None


def keys_in_source(source: str) -> Tuple[Set[str], Set[str]]:
    """(keys, key prefixes) the code in `source` reads from or writes into its input dict."""
    tree = ast.parse(source)
    lists: Dict[str, List[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            name = target.id if isinstance(target, ast.Name) else \
                target.attr if isinstance(target, ast.Attribute) else None
            values = _str_list(node.value, {})
            if name and values is not None:
                lists[name] = values
    visitor = _InputKeys(lists)
    visitor.visit(tree)
    return visitor.keys, visitor.prefixes


def tool_sources(automation: Any) -> List[str]:
    """The source files of the script automation that is running (`i['automation']` in customize.py) and of the
    tool's core package: cmind for CM, mlc for MLCFlow."""
    folders = [os.path.dirname(type(automation).run.__code__.co_filename)]
    for attr in ("cmind", "action_object"):          # CM's core object; MLCFlow's script action
        core = getattr(automation, attr, None)
        module = sys.modules.get(type(core).__module__) if core is not None else None
        if module is not None and getattr(module, "__file__", None):
            folders.append(os.path.dirname(module.__file__))
    return sorted({f for folder in folders for f in glob.glob(os.path.join(folder, "*.py"))})


def tool_name(automation: Any) -> str:
    return "CM" if hasattr(automation, "cmind") else "MLCFlow"


def tool_flags(automation: Any) -> Tuple[FrozenSet[str], Tuple[str, ...]]:
    """(flags, flag prefixes) the running tool knows. Parsing its ~15k lines takes ~0.2 s, so the answer is kept
    in the user cache, keyed by the files' sizes and times."""
    files = tool_sources(automation)
    stamp = hashlib.sha256(json.dumps([(f, os.stat(f).st_size, os.stat(f).st_mtime_ns)
                                       for f in (*files, __file__)]).encode()).hexdigest()[:24]
    cache_dir = host.user_cache()
    prefix = os.path.join(cache_dir, f"tool-flags-{tool_name(automation)}-")
    cache = prefix + stamp + ".json"
    try:
        with open(cache) as f:
            data = json.load(f)
        return frozenset(data["keys"]), tuple(data["prefixes"])
    except (OSError, ValueError, KeyError):
        pass
    keys: Set[str] = set()
    prefixes: Set[str] = set()
    for path in files:
        try:
            with open(path, encoding="utf-8-sig") as f:
                found, starts = keys_in_source(f.read())
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        keys |= found
        prefixes |= {p for p in starts if p}
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache + f".{os.getpid()}", "w") as f:
            json.dump({"keys": sorted(keys), "prefixes": sorted(prefixes)}, f)
        os.replace(cache + f".{os.getpid()}", cache)
        for stale in set(glob.glob(prefix + "*.json")) - {cache}:     # the tool's files before an upgrade
            os.remove(stale)
    except OSError:
        pass                                             # no cache: parsed again next time
    return frozenset(keys), tuple(sorted(prefixes))


# ---- the check -------------------------------------------------------------------------------------------------
def edits(a: str, b: str) -> int:
    """Optimal string alignment distance: inserts, deletes, replacements and swaps of neighbours."""
    previous2: List[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def closest(flag: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate a few edits from `flag` (the nearest; the first declared among equals), or None."""
    limit = _MAX_EDITS_SHORT if len(flag) <= 4 else _MAX_EDITS
    best: Optional[Tuple[int, str]] = None
    for candidate in candidates:
        d = edits(flag.lower(), candidate)
        if d <= limit and (best is None or d < best[0]):
            best = (d, candidate)
    return best[1] if best else None


def check(inputs: Mapping[str, Any], automation: Any) -> Tuple[Optional[str], List[str]]:
    """(error, warnings) for the flags in a tool's input: the error is one line (a misspelt flag of this script,
    or one that only `dummy-harness` has), each warning one line naming a flag nobody reads. A call as another
    script's dependency is not checked: its input holds the caller's dependency entry, not flags a person typed."""
    if inputs.get("recursion"):
        return None, []
    ours, only_cli = script_flags(), cli_only()
    tool = tool_name(automation)
    try:
        known, prefixes = tool_flags(automation)
    except (AttributeError, OSError, TypeError, ValueError) as exc:
        # Without the tool's own flags a near miss cannot be told from them (--const is near --count): no check.
        return None, [f"WARNING: flags not checked: {tool}'s own flags could not be read from its code ({exc})"]
    warnings = []
    for flag in inputs:
        if flag in ours or flag in known or flag.startswith(prefixes):
            continue
        if flag in only_cli:
            return f"--{flag} is a flag of dummy-harness, not of this script under {tool}: {only_cli[flag]}", warnings
        near = closest(flag, [*ours, *only_cli])
        if near in only_cli:
            return (f"--{flag} is not a flag of this script or of {tool}: did you mean --{near}? (under {tool}: "
                    f"{only_cli[near]})", warnings)
        if near:
            return f"--{flag} is not a flag of this script or of {tool}: did you mean --{near}?", warnings
        warnings.append(f"WARNING: --{flag} is not a flag of this script or of {tool}: ignored")
    return None, warnings
