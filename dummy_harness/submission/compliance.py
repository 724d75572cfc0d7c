"""MLPerf compliance tests (TEST01, TEST04, TEST06): their audit.config files and their official verification.

Both come from a checkout of mlcommons/inference (`--inference_src`): compliance/TEST0x/ (v5.1 on), or
compliance/nvidia/TEST0x/ (v5.0), as the round says. LoadGen reads the audit.config given to StartTest; the
harness copies it into the test's run folder first, so the folder shows what ran.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional

from ..cm import shell_paths
from . import rounds



class ComplianceError(RuntimeError):
    """A compliance test cannot run or be verified here; str() is one line."""


def test_folder(inference_src: str, test: str, round_name: str = "") -> str:
    """The folder of a compliance test: where the round keeps it, or (no round) wherever the checkout has it."""
    if round_name:
        return os.path.join(inference_src, *rounds.get(round_name).compliance_root, test)
    roots = dict.fromkeys(r.compliance_root for r in reversed(list(rounds.ROUNDS.values())))
    found = [os.path.join(inference_src, *root, test) for root in roots]
    return next((f for f in found if os.path.isdir(f)), found[0])


def audit_config(inference_src: str, test: str, loadgen_key: str, round_name: str = "") -> str:
    """The official audit.config of `test` for a benchmark (TEST01 keeps one per benchmark)."""
    folder = test_folder(inference_src, test, round_name)
    if test == "TEST01":
        sub = rounds.TEST01_FOLDER.get(loadgen_key)
        if sub is None:
            raise ComplianceError(f"TEST01 has no audit.config for {loadgen_key}")
        folder = os.path.join(folder, sub)
    path = os.path.join(folder, "audit.config")
    if not os.path.isfile(path):
        raise ComplianceError(f"{path} does not exist: --inference_src must be a checkout of mlcommons/inference "
                              f"with the compliance test {test}")
    return path


def stage_audit_config(inference_src: str, test: str, loadgen_key: str, run_dir: str,
                       round_name: str = "") -> str:
    """Copy the test's audit.config into the run folder; returns the copy LoadGen is given."""
    target = os.path.join(run_dir, "audit.config")
    shutil.copyfile(audit_config(inference_src, test, loadgen_key, round_name), target)
    return target


@dataclass
class Verification:
    test: str
    passed: bool
    checks: dict          # check name -> True/False, as the official script printed them
    output: str           # what the official script printed
    output_dir: str       # where it wrote verify_*.txt and the copied logs


def verify(inference_src: str, test: str, results_dir: str, compliance_dir: str, output_dir: str,
           dtype: str, scenario: str, work_dir: str, round_name: str = "") -> Verification:
    """Run the official compliance/[nvidia/]<test>/run_verification.py of the round.

    results_dir: the scenario folder holding accuracy/ and performance/run_1/ (the reference runs);
    compliance_dir: the test's own LoadGen logs; output_dir: <submission>/compliance/<sut>/<model>/<Scenario>
    (the script adds <test>/). The script writes verify_*.txt into its working folder, so it runs in work_dir.
    """
    script = os.path.join(test_folder(inference_src, test, round_name), "run_verification.py")
    if not os.path.isfile(script):
        raise ComplianceError(f"{script} does not exist")
    # The official scripts paste these folders (and their own) into os.system strings: a shell must see plain
    # names only, so a folder whose name is not plain is given as a plain-named link to it.
    os.makedirs(output_dir, exist_ok=True)
    given_output_dir = output_dir
    try:
        script = os.path.join(shell_paths.plain_path(os.path.dirname(script)), os.path.basename(script))
        results_dir, compliance_dir, output_dir = (shell_paths.plain_path(p)
                                                   for p in (results_dir, compliance_dir, output_dir))
    except shell_paths.ShellPathError as exc:
        raise ComplianceError(str(exc)) from None
    if test == "TEST06":
        argv = ["-c", compliance_dir, "-o", output_dir, "--scenario", scenario, "--dtype", dtype]
    else:
        argv = ["-r", results_dir, "-c", compliance_dir, "-o", output_dir]
        if test == "TEST01":
            argv += ["--dtype", dtype]
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ)
    # The scripts call `python3` by name: make it this interpreter (numpy is there).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, script, *argv], cwd=work_dir, env=env, capture_output=True, text=True,
                          timeout=3600)
    output = proc.stdout + proc.stderr
    checks = parse_checks(output)
    passed = proc.returncode == 0 and bool(checks) and all(checks.values())
    return Verification(test, passed, checks, output, os.path.join(given_output_dir, test))


def parse_checks(output: str) -> dict:
    """'Accuracy check pass: True', 'EOS check pass: True', ... -> {'Accuracy': True, ...}; 'Skipped' is left out."""
    checks = {}
    for line in output.splitlines():
        name, sep, value = line.partition(" check pass: ")
        if not sep:
            continue
        value = value.strip()
        if value in ("True", "False"):
            checks[name.strip()] = value == "True"
    return checks


def tests_for(round_name: str, model: str) -> List[str]:
    benchmark = rounds.get(round_name).benchmarks.get(model)
    return list(benchmark.compliance) if benchmark else []


def missing_source_reason(inference_src: Optional[str]) -> Optional[str]:
    if not inference_src:
        return ("no --inference_src (a checkout of mlcommons/inference, or CM_MLPERF_INFERENCE_SOURCE): compliance "
                "tests and the official checker were not run")
    return None
