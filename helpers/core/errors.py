"""Exception classes: one per kind of failure, each with a message a user can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ReportError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class Reason:
    """Why a model or a figure is not there, as data a report words in its own language:
    `code` names the text under `reasons.` in every catalogue, `figures` fill it (a figure
    may itself be a Reason, e.g. the cause of a withheld CLV)."""

    code: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # for logs and tracebacks; reports use the catalogue's words
        shown = ", ".join(f"{k}={v}" for k, v in self.figures.items())
        return f"{self.code}({shown})"


class ParameterError(ReportError):
    """A parameter file or value is invalid (unknown name, wrong type, malformed quarter)."""


class InputFileError(ReportError):
    """An input file cannot be found, read or decoded."""


@dataclass(frozen=True)
class Violation:
    """One broken rule of the data contract, with enough detail to find the rows."""

    file: str
    column: str
    rule: str
    count: int
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        rows = f" e.g. {'; '.join(self.examples)}" if self.examples else ""
        return f"{self.file} [{self.column}]: {self.rule} ({self.count:,} rows){rows}"


class DataContractError(ReportError):
    """Input tables break the data contract; carries every violation found, not just the first."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"{len(violations)} data-contract violation(s):\n{lines}")


class ChartError(ReportError):
    """A chart cannot be drawn as a reader would need it (a character no font has)."""


class KernelStartError(ReportError):
    """A section kernel could not start, or could not import the helpers."""


class SectionFailedError(ReportError):
    """A section notebook failed while the batch executed it."""

    def __init__(self, quarter: str, section: str, cell: str, notebook: str, detail: str):
        self.quarter, self.section, self.cell, self.notebook = quarter, section, cell, notebook
        super().__init__(
            f"[{quarter}] section '{section}' failed in {cell}: {detail}\n"
            f"  executed notebook kept for debugging: {notebook}"
        )
