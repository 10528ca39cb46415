"""What the batch tells the person who runs it.

One display per run: on a terminal, a live table of quarter x step (inputs, then each section)
with its status and elapsed time, redrawn in place; elsewhere (a log, CI), one line per event.
Warnings (figures withheld, sections skipped, stale builds removed) are printed in every mode;
a summary table (step, status, time, where its page is) ends the run. `quiet` prints only
warnings, errors and where each report is; `verbose` adds the details of each step.

rich draws the live table: it redraws from a timer thread, keeps lines printed meanwhile above
the table, and falls back to plain output when the stream is not a terminal.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text


class Verbosity(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


@dataclass
class Step:
    """One row of the display: a quarter's inputs or one of its sections."""

    quarter: str
    name: str
    status: str = "waiting"
    started: float | None = None
    seconds: float | None = None
    where: str = ""

    def elapsed(self) -> float | None:
        if self.seconds is not None:
            return self.seconds
        return None if self.started is None else time.perf_counter() - self.started


STYLES = {
    "running": "bold cyan",
    "done": "green",
    "withheld": "yellow",
    "skipped": "dim",
    "failed": "bold red",
    "interrupted": "red",
}


class Progress:
    """The batch's progress, safe to report from the threads that run sections."""

    def __init__(self, console: Console | None = None, verbosity: Verbosity = Verbosity.NORMAL):
        self.console = console or Console()
        self.verbosity = verbosity
        self.steps: dict[tuple[str, str], Step] = {}
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._began = time.perf_counter()

    @property
    def live(self) -> bool:
        """Whether a live table is drawn (a terminal, not quiet)."""
        return self.console.is_terminal and self.verbosity >= Verbosity.NORMAL

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(get_renderable=self.table, console=self.console, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            for step in self.steps.values():
                if step.status == "running":
                    step.status, step.seconds = "interrupted", step.elapsed()
        if self._live is not None:
            self._live.stop()  # leaves the final table on screen
            self._live = None
        elif self.verbosity >= Verbosity.NORMAL and self.steps:
            self.console.print(self.table())

    def _say(self, line: str, level: Verbosity = Verbosity.NORMAL, event: bool = True) -> None:
        """Print a line at `level`; an `event` line is left to the live table on a terminal."""
        if self.verbosity < level or (event and self.live):
            return
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _step(self, quarter: str, name: str) -> Step:
        return self.steps.setdefault((quarter, name), Step(quarter, name))

    def plan(self, quarter: str, sections: list[str], skipped: list[dict]) -> None:
        """The steps a quarter will take, and the sections it skips (and why)."""
        with self._lock:
            for name in ["inputs", *sections]:
                self._step(quarter, name)
            for skip in skipped:
                self._step(quarter, skip["name"]).status = "skipped"
                self._say(f"[{quarter}] {skip['name']}: skipped ({skip['reason']})", event=False)

    def started(self, quarter: str, name: str) -> None:
        with self._lock:
            step = self._step(quarter, name)
            step.status, step.started = "running", time.perf_counter()
        self._say(f"[{quarter}] {name}: running")

    def finished(
        self,
        quarter: str,
        name: str,
        withheld: str | None = None,
        peak_mb: float | None = None,
    ) -> None:
        """A step done; `peak_mb`, the peak memory of its kernel, where known."""
        with self._lock:
            step = self._step(quarter, name)
            step.seconds = step.elapsed()
            step.status = "withheld" if withheld else "done"
        if withheld:
            self._say(
                f"[{quarter}] {name}: WARNING figures withheld: {withheld}",
                Verbosity.QUIET,
                event=False,
            )
        memory = f", peak {peak_mb:,.0f} MB" if peak_mb else ""
        self._say(f"[{quarter}] {name}: done ({step.seconds:.1f} s{memory})")

    def failed(self, quarter: str, name: str, where: str = "") -> None:
        with self._lock:
            step = self._step(quarter, name)
            step.status, step.seconds, step.where = "failed", step.elapsed(), where

    def detail(self, quarter: str, message: str, level: Verbosity = Verbosity.VERBOSE) -> None:
        """Something worth knowing about a step: shown at `level` and above."""
        self._say(f"[{quarter}] {message}", level, event=False)

    def published(self, quarter: str, folder: Path, seconds: float) -> None:
        """The quarter's report is in place: each page's address, and where the report is."""
        with self._lock:
            for step in self.steps.values():
                page = folder / f"{step.name}.html"
                if step.quarter == quarter and page.is_file():
                    step.where = str(page)
            report = self._step(quarter, "report")
            report.status, report.seconds = "done", seconds
            report.where = str(folder / "index.html")
        self._say(f"report ({seconds:.1f} s): {folder / 'index.html'}", Verbosity.QUIET, False)

    def table(self) -> Table:
        """Every step: quarter, step, status, time and where its page is."""
        table = Table(title=f"opsreport ({time.perf_counter() - self._began:.0f} s)")
        for column in ("period", "step", "status", "time", "page"):
            table.add_column(column, justify="right" if column == "time" else "left")
        with self._lock:
            for step in self.steps.values():
                elapsed = step.elapsed()
                table.add_row(
                    Text(step.quarter),
                    Text(step.name),
                    Text(step.status, style=STYLES.get(step.status, "")),
                    Text("" if elapsed is None else f"{elapsed:.1f} s"),
                    Text(step.where),
                )
        return table
