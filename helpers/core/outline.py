"""The report's sections: notebook, title and the input tables each one needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    notebook: str
    requires: tuple[str, ...]
    summary: str
    after: tuple[str, ...] = ()  # sections whose artifacts this one reads, when they run
    reads: tuple[str, ...] = ()  # those artifacts: once all are written, it need not wait


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section(
            "traffic",
            "Traffic structure",
            "traffic.ipynb",
            ("traffic",),
            "Channel mix, engagement, conversion and devices",
        ),
        Section(
            "clv",
            "Customer lifetime value",
            "clv.ipynb",
            ("orders",),
            "What customers are worth: holdout-validated purchase and spend models",
        ),
        Section(
            "repurchase",
            "Repurchase and customer tiers",
            "repurchase.ipynb",
            ("orders",),
            "Repeat and returning rates, cohorts, time to second order, RFM tiers and moves",
        ),
        Section(
            "marketing",
            "Marketing ROI",
            "marketing.ipynb",
            ("marketing",),
            "Return on spend by channel and campaign, why it moved, where to put the next budget",
            after=("clv",),
            reads=("clv_by_channel",),
        ),
    )
}


def missing_tables(section: Section, available: set[str]) -> list[str]:
    """The input tables a section needs that are not available."""
    return [table for table in section.requires if table not in available]
