"""`opsreport`: run the report batch for one or more quarters, and for whole years."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from rich.console import Console

from helpers.core.errors import ReportError, SectionFailedError
from helpers.core.periods import Quarter
from helpers.run.progress import Progress, Verbosity
from helpers.run.runner import run_period

INTERRUPTED = 130  # the shell's exit status after Ctrl-C


def _year(text: str) -> str:
    """A --year value: four digits."""
    if not re.fullmatch(r"\d{4}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a year like 2025, not {text!r}")
    return text.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="opsreport",
        description="Run the report notebooks for each quarter (or year) with papermill, export "
        "HTML, and write reports/<quarter>/index.html (reports/<year>/index.html).",
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
        "--year",
        "-y",
        action="append",
        type=_year,
        metavar="YYYY",
        help="year to report on as a whole (every section over the year, its quarters side by "
        "side); repeat for several; runs after the quarters given",
    )
    parser.add_argument(
        "--params",
        "-p",
        action="append",
        default=[],
        metavar="FILE",
        help="extra parameter file layered over default.yaml and <period>.yaml, "
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
    try:  # a --quarter must be one: --quarter 2025 is not the year's report
        periods = [Quarter.parse(q).label for q in args.quarter or []] + (args.year or [])
    except ReportError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    code, failure = 0, ""
    with Progress(Console(), verbosity) as progress:
        for period in periods or [None]:
            code, failure = _report(period, project, reports_dir, args, progress)
            if code:
                break
    if failure:  # after the summary table, so it is the last thing on screen
        print(failure, file=sys.stderr)
    return code


def _report(
    period: str | None,
    project: Path,
    reports_dir: Path,
    args: argparse.Namespace,
    progress: Progress,
) -> tuple[int, str]:
    """One period's report: exit status and, on failure, the line that says why."""
    label = period or "default period"
    try:
        run_period(period, project, reports_dir, args.params, progress, jobs=args.jobs)
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
