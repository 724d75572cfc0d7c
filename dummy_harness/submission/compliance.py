"""MLPerf compliance tests (TEST01, TEST04, TEST06, TEST07, TEST09): their audit.config files and their official
verification.

Both come from a checkout of mlcommons/inference (`--inference_src`): compliance/TEST0x/ (v5.1 on), or
compliance/nvidia/TEST0x/ (v5.0), as the round says. LoadGen reads the audit.config given to StartTest; the
harness copies it into the test's run folder first, so the folder shows what ran.

TEST07 (accuracy in performance mode) and TEST09 (mean output length in performance mode) compare a run of
gpt-oss-120b with thresholds of the reference model: GPQA's exact_match 60.698, a mean answer of 1150.38-1406.02
tokens. The stand-in scores agreement with its own fp32 answers and plans answers of its own lengths, so the
official scripts are given its figures instead, through their own overrides (--accuracy-threshold, --min/
--max-output-tokens), and the verdict says so (Verification.note).
"""
from __future__ import annotations

import json
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
    if test in rounds.AUDIT_FOLDER:
        sub = rounds.AUDIT_FOLDER[test].get(loadgen_key)
        if sub is None:
            raise ComplianceError(f"{test} has no audit.config for {loadgen_key}")
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
    note: str = ""        # how the stand-in's thresholds replaced the reference model's (TEST07, TEST09)


def verify(inference_src: str, test: str, results_dir: str, compliance_dir: str, output_dir: str,
           dtype: str, scenario: str, work_dir: str, round_name: str = "", model: str = "") -> Verification:
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
    note = ""
    if test == "TEST06":
        # Not --eos_token_id: the script parses it as a string, which no token id equals (the EOS check would
        # then always pass); its default, 2, is compared as a number.
        argv = ["-c", compliance_dir, "-o", output_dir, "--scenario", scenario, "--dtype", dtype]
    elif test in ("TEST07", "TEST09"):
        audit = os.path.join(compliance_dir, "audit.config")     # the copy the run read (stage_audit_config)
        overrides, note = stand_in_thresholds(test, compliance_dir, model)
        argv = ["-c", compliance_dir, "-o", output_dir, "--audit-config", audit, *overrides]
        if test == "TEST07":
            # The stand-in's own evaluator scores the run's log and prints `'exact_match': X` as the reference's
            # eval_mlperf_accuracy.py does (the folder is plain: the script runs the command in a shell).
            argv += ["--accuracy-script", f"python3 -m dummy_harness.evaluate {compliance_dir}"]
    else:
        argv = ["-r", results_dir, "-c", compliance_dir, "-o", output_dir]
        if test == "TEST01":
            argv += ["--dtype", dtype]
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ)
    # The scripts call `python3` by name: make it this interpreter (numpy is there).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    # ... and TEST07's accuracy command imports this harness, the copy running now.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, script, *argv], cwd=work_dir, env=env, capture_output=True, text=True,
                          timeout=3600)
    output = proc.stdout + proc.stderr
    checks = parse_checks(output)
    if test == "TEST09":    # it prints its checks into verify_output_len.txt only ("Min check pass: True", ...)
        verdict = os.path.join(work_dir, "verify_output_len.txt")
        if os.path.isfile(verdict):
            with open(verdict) as f:
                checks = parse_checks(f.read())
    passed = proc.returncode == 0 and bool(checks) and all(checks.values())
    return Verification(test, passed, checks, output, os.path.join(given_output_dir, test), note)


# TEST09's bounds are the reference mean output length +-10% (its audit.config and README).
TEST09_MARGIN = 0.10


def stand_in_thresholds(test: str, compliance_dir: str, model: str):
    """The official script's overrides that put the stand-in's figures in place of the reference model's, and a
    one-line note saying so: TEST07, the benchmark's accuracy target (its exact_match is the share of answers
    equal to the fp32 stand-in's, 100 for a faithful run); TEST09, +-10% of the mean length of the fp32
    stand-in's answers (the dataset's reference outputs) over the samples the run logged."""
    from .. import catalogue

    spec = catalogue.get(model)
    if test == "TEST07":
        threshold = round(100.0 * spec.accuracy_target, 3)
        return (["--accuracy-threshold", f"{threshold:g}"],
                f"threshold {threshold:g}: the stand-in's accuracy target (its exact_match is agreement with the fp32 "
                "stand-in, on its own dataset, not the reference model's GPQA score that audit.config's applies to)")
    from ..results import read_results

    results = read_results(compliance_dir)
    try:
        with open(os.path.join(compliance_dir, "mlperf_log_accuracy.json")) as f:
            logged = [int(entry["qsl_idx"]) for entry in json.load(f)]
        import numpy as np

        lengths = np.load(os.path.join(results.dataset["path"], "output_lengths.npy"), mmap_mode="r")
        reference = float(np.mean([int(lengths[i]) for i in logged]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ComplianceError(f"{test}: cannot read the reference answer lengths of {compliance_dir}: {exc}") \
            from None
    low, high = round(reference * (1 - TEST09_MARGIN), 2), round(reference * (1 + TEST09_MARGIN), 2)
    return (["--min-output-tokens", f"{low:g}", "--max-output-tokens", f"{high:g}"],
            f"bounds {low:g}-{high:g}: +-10% of the fp32 stand-in's mean answer ({reference:.2f} tokens over the "
            f"{len(logged)} samples run), as audit.config's are of the reference model's")


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
