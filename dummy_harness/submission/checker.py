"""Running MLPerf's official submission checker (tools/submission/submission_checker.py of mlcommons/inference)
and reading its verdict."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List

CHECKER = ("tools", "submission", "submission_checker.py")
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


def checker_path(inference_src: str) -> str:
    return os.path.join(inference_src, *CHECKER)


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


def run_checker(inference_src: str, submission_dir: str, submitter: str, version: str, work_dir: str,
                log_path: str) -> CheckerResult:
    script = checker_path(inference_src)
    if not os.path.isfile(script):
        return CheckerResult(ran=False, reason=f"{script} does not exist: --inference_src must be a checkout of "
                                               "mlcommons/inference")
    os.makedirs(work_dir, exist_ok=True)
    # It writes summary.csv into the working folder; run it beside the results, not in the submission.
    proc = subprocess.run([sys.executable, script, "--input", submission_dir, "--version", version,
                           "--submitter", submitter, "--csv", os.path.join(work_dir, "summary.csv")],
                          cwd=work_dir, capture_output=True, text=True, timeout=3600)
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
