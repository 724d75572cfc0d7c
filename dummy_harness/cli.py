"""`dummy-harness`: the harness without CM, with the CM script's flags.

    dummy-harness --model=resnet50 --scenario=Offline --mode=accuracy --output_dir=results
    dummy-harness --options_file=run_options.json      # the options as a JSON object (what CM runs)

Exit codes: see exit_codes.ExitCode (`dummy-harness --help` lists them).
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .config import ConfigError, parse_options, read_options_file
from .exit_codes import ExitCode, RunError
from .options import OPTIONS

# Not an option of the run: where the options are. The CM adapter writes them there, so that no value passes
# through a command line a shell reads (paths may hold spaces, quotes, `$`).
OPTIONS_FILE_FLAG = "options_file"


def make_parser() -> argparse.ArgumentParser:
    """One --flag per option of options.py, with its help text; values are checked by parse_options."""
    codes = "\n".join(f"  {int(code):>3}  {code.meaning}" for code in ExitCode)
    parser = argparse.ArgumentParser(prog="dummy-harness", description=__doc__.split("\n\n")[0],
                                     epilog=f"exit codes:\n{codes}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for option in OPTIONS:
        if not option.harness:
            continue
        help_text = option.describe(choices=True).replace("%", "%%")    # argparse formats help with %
        if option.switch:       # --flag, or --flag=yes|no as under CM
            parser.add_argument(f"--{option.name}", nargs="?", const=True, default=None, metavar="yes|no",
                                help=help_text)
        else:
            parser.add_argument(f"--{option.name}", default=None, metavar="V", help=help_text)
    parser.add_argument(f"--{OPTIONS_FILE_FLAG}", default=None, metavar="FILE",
                        help="a JSON object of options (name: value); flags given beside it beat its values")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .run import run, summary

    given = {k: v for k, v in vars(make_parser().parse_args(argv)).items() if v is not None}
    try:
        options_file = given.pop(OPTIONS_FILE_FLAG, None)
        cfg = parse_options({**(read_options_file(options_file) if options_file else {}), **given})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if cfg.submission_dir:
        from .submission.make import SubmissionError, make
        try:
            return make(cfg)
        except SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.code
        except Exception as exc:   # noqa: BLE001 - a bug: one line for the user, the traceback kept for us
            return internal_error(cfg, exc)
    if cfg.report:
        missing = report_unavailable()
        if missing:
            print(f"error: {missing}", file=sys.stderr)
            return ExitCode.ENVIRONMENT
    if cfg.mode == "all":
        return run_each_mode(cfg)
    try:
        results = run(cfg)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("error: run interrupted: stopped by SIGINT", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:   # noqa: BLE001 - a bug: one line for the user, the traceback kept for us
        return internal_error(cfg, exc)
    print()
    print(summary(results))
    if cfg.report:
        write_run_report(results.run_dir)
    if not results.ok:
        print(f"error: {results.failure or 'run failed'}", file=sys.stderr)
    return results.exit_code or ExitCode.OK


def report_unavailable() -> str:
    """Why --report=yes cannot be honoured here ('' when it can), said before the run rather than after."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return f"--report=yes needs matplotlib: {sys.executable} -m pip install matplotlib"
    return ""


def write_run_report(run_dir: str) -> None:
    """report.html (and report_png/) in the run folder; one line says where. The run's verdict stands whatever
    happens here: a report that cannot be written is one error line."""
    import os

    from .report import write_report
    try:
        print(f"report: {write_report(run_dir, os.path.join(run_dir, 'report.html'))}")
    except Exception as exc:   # noqa: BLE001 - the run is done; the report is an extra
        print(f"error: report not written: {type(exc).__name__}: {exc}", file=sys.stderr)


def internal_error(cfg, exc: BaseException) -> int:
    import os
    import tempfile
    import traceback

    folder = cfg.run_dir if os.path.isdir(cfg.run_dir) else tempfile.gettempdir()
    path = os.path.join(folder, "harness-traceback.txt")
    try:
        with open(path, "w") as f:
            f.write(traceback.format_exc())
    except OSError:
        path = "(could not be written)"
    print(f"error: internal error {type(exc).__name__}: {exc} (traceback in {path})", file=sys.stderr)
    return ExitCode.INTERNAL_ERROR


def run_each_mode(cfg) -> int:
    """--mode=all: accuracy, then performance, each in its own process (one LoadGen test per process)."""
    import subprocess

    from .report import format_table
    from .results import read_results

    code = 0
    for sub in cfg.modes():
        rc = subprocess.call([sys.executable, "-m", "dummy_harness"] + sub.to_argv())
        code = code or rc
        if rc != 0:
            break
    print()
    for sub in cfg.modes():
        results = read_results(sub.run_dir)
        if results:
            print(format_table(results))
    return code


if __name__ == "__main__":
    sys.exit(main())
