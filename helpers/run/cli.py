"""`opsreport`: run the quarterly report batch for one or more quarters."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from helpers.core.errors import ReportError, SectionFailedError
from helpers.run.progress import Progress, Verbosity
from helpers.run.runner import run_quarter

INTERRUPTED = 130  # the shell's exit status after Ctrl-C


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="opsreport",
        description="Run the report notebooks for each quarter with papermill, export HTML, and "
        "write reports/<quarter>/index.html.",
    )
    parser.add_argument(
        "--quarter",
        "-q",
        action="append",
        metavar="YYYYQn",
        help="quarter to report on; repeat for several (default: the quarter "
        "in params/default.yaml)",
    )
    parser.add_argument(
        "--params",
        "-p",
        action="append",
        default=[],
        metavar="FILE",
        help="extra parameter file layered over default.yaml and <quarter>.yaml, "
        "e.g. a brand or data set (repeatable)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="project root holding params/ and notebooks/ (default: .)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=None,
        help="where reports go (default: <project>/reports)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "--quiet",
        action="store_true",
        help="print only warnings, errors and where each report is",
    )
    loudness.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=0,
        help="also print the details of each step (input rows, threads per kernel)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="sections run at the same time (default: 2, or 1 on one core)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project = args.project.resolve()
    reports_dir = (args.reports_dir or project / "reports").resolve()
    verbosity = Verbosity.QUIET if args.quiet else Verbosity(min(2, 1 + args.verbose))
    code, failure = 0, ""
    with Progress(Console(), verbosity) as progress:
        for quarter in args.quarter or [None]:
            code, failure = _report(quarter, project, reports_dir, args, progress)
            if code:
                break
    if failure:  # after the summary table, so it is the last thing on screen
        print(failure, file=sys.stderr)
    return code


def _report(
    quarter: str | None,
    project: Path,
    reports_dir: Path,
    args: argparse.Namespace,
    progress: Progress,
) -> tuple[int, str]:
    """One quarter's report: exit status and, on failure, the line that says why."""
    label = quarter or "default quarter"
    try:
        run_quarter(quarter, project, reports_dir, args.params, progress, jobs=args.jobs)
    except SectionFailedError as exc:
        return 1, f"FAILED {exc}"
    except KeyboardInterrupt:
        return INTERRUPTED, f"interrupted [{label}]; the previous report is kept"
    except ReportError as exc:
        return 2, f"ERROR [{label}] {exc}"
    return 0, ""


def run() -> None:
    """The `opsreport` command: main(), and after an interrupt an exit that does not wait for
    the threads of the interrupted sections (their kernels are already stopped)."""
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
