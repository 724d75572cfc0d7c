"""One command from runs to a checked submission:

    dummy-harness --model=resnet50 --submission_dir=S --submitter=ORG [--inference_src=INFERENCE]

1. runs what is missing, each in its own process (LoadGen runs one test per process): accuracy, performance
   and the round's compliance tests for the benchmark, all with the round's seeds (a stored VALID run of the
   same configuration is reused, as for any run);
2. writes the open-division tree (tree.py) with the system description (system.py);
3. verifies the compliance tests with the official run_verification.py scripts (compliance.py);
4. runs the official submission checker (checker.py) and prints its verdict.
Steps 1 (compliance), 3 and 4 need a checkout of mlcommons/inference (--inference_src, or the
CM_MLPERF_INFERENCE_SOURCE that CM's get,mlcommons,inference,src exports); without it they are skipped, saying so.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional

from .. import rundir, scenarios
from ..config import RunConfig
from ..exit_codes import ExitCode
from ..tuning import OFFLINE_ESTIMATE_MARGIN
from ..results import Results, read_results
from . import checker, compliance, rounds, system, tree

SUMMARY_FILE = "submission.json"


class SubmissionError(RuntimeError):
    """The submission cannot be made; str() is one line; `code` is the exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ENVIRONMENT):
        super().__init__(message)
        self.code = code


def official_sizes(cfg: RunConfig) -> RunConfig:
    """Official-length runs need the official performance sample count: the dataset must hold at least that
    many samples (LoadGen's embedded conf says how many). Short runs keep the dataset they have: the checker
    then reports the sample count, as it must."""
    if cfg.run_style == "test":
        return cfg
    from ..loadgen.settings import official

    needed = int(official(cfg.spec.loadgen_key, cfg.scenario).performance_sample_count_override)   # no test here
    if cfg.count:
        raise SubmissionError(f"--count shortens {cfg.run_style}-style runs below the official query counts; drop it "
                              "(or use --run_style=test to check the layout only)", ExitCode.BAD_INPUT)
    if cfg.dataset_size is None and cfg.samples < needed:
        return replace(cfg, dataset_size=needed)
    if cfg.samples < needed:
        raise SubmissionError(f"--dataset_size={cfg.samples} is below {cfg.model}'s official performance sample "
                              f"count ({needed}); a {cfg.run_style}-style submission needs at least that many "
                              "(or use --run_style=test to check the layout only)", ExitCode.BAD_INPUT)
    return cfg


def _single_run(cfg: RunConfig, **changes: Any) -> RunConfig:
    return replace(cfg, submission_dir="", submitter="", system_json="", division="open", **changes)


def _run(sub: RunConfig, log: Callable[[str], None]) -> Results:
    """One LoadGen test in its own process (the CLI), then its results.json."""
    what = sub.compliance_test or sub.mode
    log(f"--- {sub.model} {sub.scenario} {what}: {sub.run_dir}")
    stored = None if sub.rerun else rundir.stored_result(sub)
    if stored:      # decided here, as the run itself would, without starting a process that imports torch
        log(f"A VALID result of this configuration is already in {sub.run_dir}: not repeated (pass --rerun to run "
            "it again; the old logs are kept aside).")
        return stored
    code = subprocess.call([sys.executable, "-m", "dummy_harness"] + sub.to_argv())
    results = read_results(sub.run_dir)
    if code != 0 or results is None or not results.ok:
        reason = (results.failure if results else None) or f"exit code {code}"
        raise SubmissionError(f"the {what} run of the submission failed: {reason}", code or ExitCode.SUT_FAILURE)
    return results


def _offline_retry(perf: RunConfig, results: Results) -> Optional[RunConfig]:
    """An official-length Offline run sized from an estimate that ended INVALID only for its duration: the run
    itself measured the sustained rate, so one more run at that rate (x1.05) lasts its minimum duration."""
    rate = results.result.value if results.result else None
    if not scenarios.get(perf.scenario).one_query or perf.run_style == "test" or not results.targets.get("estimated") or not rate \
            or results.invalid_reason != "min duration not met":
        return None
    return replace(perf, target_qps=float(f"{rate * OFFLINE_ESTIMATE_MARGIN:.6g}"))


def _compliance_targets(cfg: RunConfig, perf_results: Results) -> Dict[str, Any]:
    """A compliance test is compared with the performance run: give it the targets that run used (unless the
    user set them), so LoadGen plans the same test instead of estimating again."""
    targets = perf_results.targets
    changes: Dict[str, Any] = {}
    if cfg.target_qps is None and targets.get("target_qps"):
        changes["target_qps"] = float(f"{targets['target_qps']:.6g}")
    if cfg.target_latency is None and targets.get("target_latency_ms"):
        changes["target_latency"] = float(f"{targets['target_latency_ms']:.6g}")
    return changes


def make(cfg: RunConfig, log: Callable[[str], None] = print) -> int:
    rnd = rounds.get(cfg.submission_round)
    newest = rounds.default_round(cfg.model)
    log(f"Round {rnd.name}: " + (f"the newest round whose checker has {cfg.model}" if rnd.name == newest else
                                  f"as asked (the newest with {cfg.model} is {newest})") +
        f"; its seeds, checker ({rnd.checker.version}), layout and compliance tests")
    short = cfg.run_style != "valid"
    cfg = official_sizes(cfg)
    layout = tree.Layout(cfg, rnd.layout)
    skipped = compliance.missing_source_reason(cfg.inference_src)

    # 1. the runs: the accuracy run covers the round's whole dataset, but in a short (test-style) submission
    accuracy = _single_run(cfg, mode="accuracy",
                           **({} if cfg.run_style == "test" else
                              {"dataset_size": rnd.benchmarks[cfg.model].dataset_size}))
    performance = _single_run(cfg, mode="performance")
    acc_results = _run(accuracy, log)
    perf_results = _run(performance, log)
    retry = _offline_retry(performance, perf_results)
    if retry is not None:
        log(f"The Offline run ended before min_duration at {perf_results.result.value:.4g} samples/s, faster "
            f"than the capacity estimate (host load moved): running it again at target_qps={retry.target_qps:.6g}")
        performance = retry
        perf_results = _run(performance, log)
    tests = [] if skipped else compliance.tests_for(rnd.name, cfg.model)
    test_runs = {}
    for test in tests:
        sub = _single_run(cfg, mode="performance", compliance_test=test,
                          **_compliance_targets(cfg, perf_results))
        _run(sub, log)
        test_runs[test] = sub

    # 2. the tree
    log(f"--- writing {layout.root}")
    moved = tree.keep_aside(layout, cfg.base_dir)
    for path in moved:
        log(f"Previous submission files kept in {path}")
    # The system file is shared by every benchmark of the SUT: kept as it is (the user may have edited it)
    # unless --system_json brings new fields.
    if cfg.system_json or not os.path.isfile(layout.system_file):
        overrides = system.load_overrides(cfg.system_json) if cfg.system_json else None
        description = system.describe(cfg.division, cfg.submitter, cfg.sut_name, cfg.device, cfg.base_dir,
                                      overrides)
        kept = tree.write_system(layout, description, cfg.base_dir)
        if kept:
            log(f"Previous system description kept in {kept}")
    tree.write_code_readme(layout)
    hashed = tree.write_results(layout, performance.run_dir, accuracy.run_dir)
    command = shlex.join(["dummy-harness", *cfg.to_argv()])     # quoted: a path may hold spaces, quotes, $
    tree.write_measurements(layout, performance.run_dir, perf_results.precision_ran, command)

    # 3. compliance
    scenario_dir = os.path.dirname(accuracy.run_dir)
    verified: Dict[str, Any] = {}
    for test, sub in test_runs.items():
        try:
            result = compliance.verify(cfg.inference_src, test, scenario_dir, sub.run_dir, layout.compliance,
                                       cfg.spec.response_dtype, cfg.scenario,
                                       os.path.join(sub.run_dir, "verification"), rnd.name, cfg.model)
        except compliance.ComplianceError as exc:
            raise SubmissionError(str(exc)) from None
        tree.truncate_compliance(layout, test)
        verified[test] = {"passed": result.passed, "checks": result.checks,
                          **({"note": result.note} if result.note else {})}
        note = ""
        if short and result.checks.get("Performance") is False:
            note = (f" (the performance check compares two {cfg.run_style}-style runs of a few seconds: host noise "
                    "alone can exceed its 10% window)")
        log(f"{test}: {'PASS' if result.passed else 'FAIL'} "
            + ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in result.checks.items()) + note
            + (f" ({result.note})" if result.note else ""))
    empty = tree.empty_folders(layout.root)
    if empty:
        raise SubmissionError(f"the submission has an empty folder {empty[0]}", ExitCode.INTERNAL_ERROR)

    # 4. the official checker
    if skipped:
        checked = checker.CheckerResult(ran=False, reason=skipped)
        log(f"note: {skipped}")
    else:
        checked = checker.run_checker(cfg.inference_src, cfg.submission_dir, cfg.submitter, rnd.checker,
                                      os.path.join(scenario_dir, "checker"),
                                      os.path.join(scenario_dir, "submission_checker.log"))
    unexpected = checked.unexpected_errors(short) if checked.ran else []
    summary = {
        "submission_dir": cfg.submission_dir, "root": layout.root, "division": cfg.division,
        "submitter": cfg.submitter, "round": rnd.name, "run_style": cfg.run_style, "sut": cfg.sut_name,
        "benchmark": cfg.model, "scenario": cfg.scenario,
        "runs": {"accuracy": accuracy.run_dir, "performance": performance.run_dir,
                 **{t: s.run_dir for t, s in test_runs.items()}},
        "performance_valid": perf_results.valid, "accuracy_passed": acc_results.valid,
        "accuracy_log": hashed, "compliance": verified, "compliance_skipped": skipped,
        "checker": checked.to_json(), "unexpected_checker_errors": unexpected,
    }
    with open(os.path.join(scenario_dir, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(report(summary))
    return ExitCode.SUBMISSION_REJECTED if unexpected or (checked.ran and not checked.summary) else ExitCode.OK


def report(summary: Dict[str, Any]) -> str:
    lines = [f"Submission: {summary['root']} ({summary['round']}, {summary['run_style']}-style runs)"]
    checked = summary["checker"]
    if checked["ran"]:
        lines.append(f"Checker: {checked['summary'] or checked['reason']} ({len(checked['errors'])} error(s); "
                     f"log: {checked['log']})")
        expected = len(checked["errors"]) - len(summary["unexpected_checker_errors"])
        if expected and summary["run_style"] != "valid":
            lines.append(f"  {expected} of them are what a {summary['run_style']}-style run must produce "
                         "(duration, sample counts): only official-length runs can pass")
        for error in summary["unexpected_checker_errors"][:5]:
            lines.append(f"  error: {error}")
    else:
        lines.append(f"Checker: not run: {checked['reason']}")
    return "\n".join(lines)


def read_summary(scenario_dir: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(scenario_dir, SUMMARY_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


__all__: List[str] = ["make", "read_summary", "SubmissionError"]
