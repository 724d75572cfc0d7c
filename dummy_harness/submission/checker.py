"""Running a round's official submission checker (from a checkout of mlcommons/inference: the single file of
v5.x, the submission_checker package of v6.x, as rounds.Round.checker says) and reading its verdict."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List

# The errors a run shorter than the official profile must produce (run_style test or fast): the only ones a
# short submission may show. Matched against the checker's ERROR lines.
SHORT_RUN_ERRORS = {
    "duration": re.compile(r"Test duration less than 600s in user config"),
    "sample count": re.compile(r"performance_sample_count, found \d+, needs to be >= \d+"),
    "samples per query": re.compile(r"Required minimum samples per query not met by user config"),
    "query count": re.compile(r"Required minimum Query Count not met by user config"),
    # the consequences of the above: the run folder "has issues", so the benchmark has no result
    "performance run": re.compile(r"/performance/run_1 has issues$"),
    "no result": re.compile(r"^NoResults "),
    # a test-style accuracy run scores the default dataset, not the official one (v5.1's checker on; v6's
    # spells it "accurcy")
    "dataset size": re.compile(r"acc\w* run does not cover all dataset, accuracy samples: \d+, dataset size: \d+"),
    # v6's checker sums each failed check of a log up in one more line
    "checks failed": re.compile(r"^Some (performance|accuracy) checks Checks failed for: .*/(performance/run_1|"
                                r"accuracy)/mlperf_log_detail\.txt$"),
}


@dataclass
class CheckerResult:
    ran: bool
    passed: bool = False
    summary: str = ""
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    log_path: str = ""
    reason: str = ""          # why it did not run

    def unexpected_errors(self, short_run: bool) -> List[str]:
        """Errors a run of this style should not cause (all of them for an official-length submission)."""
        if not short_run:
            return list(self.errors)
        return [e for e in self.errors if not any(p.search(e) for p in SHORT_RUN_ERRORS.values())]

    def to_json(self) -> dict:
        return {"ran": self.ran, "passed": self.passed, "summary": self.summary, "errors": self.errors,
                "warning_count": len(self.warnings), "log": self.log_path, "reason": self.reason}


def checker_path(inference_src: str, checker) -> str:
    return os.path.join(inference_src, *checker.path)


_LINE = re.compile(r"^\[\S+ \S+ \S+ (?P<level>[A-Z]+)\] (?P<message>.*)$")


def parse_log(text: str) -> CheckerResult:
    """The checker logs '[<date> <time> <file>:<line> <LEVEL>] <message>' and ends with
    'SUMMARY: submission looks OK' (INFO) or 'SUMMARY: submission has errors' (ERROR)."""
    result = CheckerResult(ran=True)
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        level, message = m.group("level"), m.group("message").strip()
        if message.startswith("SUMMARY:"):
            result.summary = message
        elif level == "ERROR":
            result.errors.append(message)
        elif level == "WARNING":
            result.warnings.append(message)
    result.passed = result.summary == "SUMMARY: submission looks OK"
    return result


def run_checker(inference_src: str, submission_dir: str, submitter: str, checker, work_dir: str,
                log_path: str) -> CheckerResult:
    """Run `checker` (rounds.Checker) of the checkout `inference_src` on the submission."""
    script = checker_path(inference_src, checker)
    if not os.path.isfile(script):
        return CheckerResult(ran=False, reason=f"{script} does not exist: --inference_src must be a checkout of "
                                               f"mlcommons/inference with the {checker.version} checker")
    missing = [name for name in checker.needs if importlib.util.find_spec(name) is None]
    if missing:
        return CheckerResult(ran=False, reason=f"the {checker.version} checker needs the Python package(s) "
                                               f"{', '.join(missing)}: {sys.executable} -m pip install pyyaml")
    os.makedirs(work_dir, exist_ok=True)
    args = ["--input", submission_dir, "--version", checker.version, "--submitter", submitter,
            "--csv", os.path.join(work_dir, "summary.csv")]
    env = dict(os.environ)
    if checker.module:      # a package: `python -m` from the folder that holds it
        package_parent = os.path.dirname(os.path.dirname(script))
        command = [sys.executable, "-m", checker.module, *args]
        env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    else:
        command = [sys.executable, script, *args]
    # It writes summary.csv (and more) into the working folder; run it beside the results, not in the submission.
    proc = subprocess.run(command, cwd=work_dir, env=env, capture_output=True, text=True, timeout=3600)
    text = proc.stdout + proc.stderr
    with open(log_path, "w") as f:
        f.write(text)
    result = parse_log(text)
    result.log_path = log_path
    if not result.summary:
        result.passed = False
        last = (text.strip().splitlines() or ["no output"])[-1]
        result.reason = f"the checker ended without a SUMMARY line (exit {proc.returncode}): {last}"
    return result
