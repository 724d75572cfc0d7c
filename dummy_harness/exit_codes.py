"""Every exit code of the harness's processes (the CLI, and the command CM and MLCFlow run), declared once."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0                      # the run completed with no LoadGen error (results.json: VALID/INVALID, PASS/FAIL)
    LOADGEN_ERRORS = 1          # LoadGen logged errors
    BAD_INPUT = 2               # an option, a conf file or a combination was refused
    ENVIRONMENT = 3             # this machine cannot run it (device, disk, dataset, runtime)
    SUT_FAILURE = 4             # the model or a worker failed mid-run
    WATCHDOG = 5                # no response came for the watchdog's bound
    SUBMISSION_REJECTED = 6     # the official submission checker rejected the submission
    INTERNAL_ERROR = 70         # a bug in the harness (sysexits' EX_SOFTWARE); traceback in harness-traceback.txt
    INTERRUPTED = 130           # SIGINT or SIGTERM

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "run completed, no LoadGen error (see results.json for VALID/INVALID and PASS/FAIL)",
    ExitCode.LOADGEN_ERRORS: "LoadGen logged errors",
    ExitCode.BAD_INPUT: "bad input",
    ExitCode.ENVIRONMENT: "this machine cannot run it (device, disk, dataset)",
    ExitCode.SUT_FAILURE: "the model or a worker failed mid-run",
    ExitCode.WATCHDOG: "watchdog: no response within its bound",
    ExitCode.SUBMISSION_REJECTED: "the official checker rejected the submission",
    ExitCode.INTERNAL_ERROR: "internal error (a bug; traceback in harness-traceback.txt)",
    ExitCode.INTERRUPTED: "interrupted (SIGINT/SIGTERM)",
}


class RunError(RuntimeError):
    """A run cannot go on (device, disk, dataset, a refused setting); str() is one line, `code` the exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ENVIRONMENT):
        super().__init__(message)
        self.code = code
