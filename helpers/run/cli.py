"""`opsreport`: run the quarterly report batch for one or more quarters."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from helpers.core.errors import ReportError, SectionFailedError
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
    quarters = args.quarter or [None]
    for position, quarter in enumerate(quarters, start=1):
        started = time.perf_counter()
        label = quarter or "default quarter"
        print(f"== {label} ({position}/{len(quarters)})", flush=True)
        try:
            index = run_quarter(
                quarter,
                project,
                reports_dir,
                args.params,
                log=lambda line: print(line, flush=True),
                jobs=args.jobs,
            )
        except SectionFailedError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"interrupted [{label}]; the previous report is kept", file=sys.stderr)
            return INTERRUPTED
        except ReportError as exc:
            print(f"ERROR [{label}] {exc}", file=sys.stderr)
            return 2
        print(f"report ({time.perf_counter() - started:.1f} s): {index}", flush=True)
    return 0


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
