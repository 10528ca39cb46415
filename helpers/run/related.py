"""Links between the reports of one year: the year's report and its quarters' reports, found
side by side in the reports folder (reports/[<subdir>/]2025, 2025Q1 ... 2025Q4). Once a report
is published, the index pages of the others are rendered again from their metrics.json, so a
Q4 report generated before its year's report links to it as well."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers.core.periods import Period, Year, parse_period
from helpers.render.index_page import render_index


def related_periods(folder: Path, period: Period) -> list[str]:
    """The labels of the other published reports of the period's year beside `folder`: the
    year's first, then its quarters'."""
    year = Year(period.year)
    return [
        other.label
        for other in (year, *year.quarters)
        if other != period and (folder.parent / other.label / "index.html").is_file()
    ]


def write_index(folder: Path, metrics: dict) -> None:
    """Write the report's index page, linked to the reports now beside it; whole or not at
    all (a reader never opens a half-written page)."""
    related = related_periods(folder, parse_period(metrics["period"]))
    partial = folder / ".index.html.partial"
    partial.write_text(render_index(metrics, related), encoding="utf-8")
    os.replace(partial, folder / "index.html")


def refresh_related(folder: Path) -> list[str]:
    """Render again the index page of every other report of the year of the report in
    `folder`, so each links to it; return the reports that could not be (an unreadable or
    older metrics.json: made before index pages were rendered from it alone), left as they
    are."""
    left = []
    for label in related_periods(folder, parse_period(folder.name)):
        other = folder.parent / label
        try:
            metrics = json.loads((other / "metrics.json").read_text(encoding="utf-8"))
            if "page" in metrics:
                write_index(other, metrics)
                continue
        except (OSError, ValueError):  # unreadable, or not JSON; or its folder not writable
            pass
        left.append(label)
    return left
