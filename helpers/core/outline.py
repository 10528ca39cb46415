"""The report's sections: notebook and the input tables each one needs (their titles and
summaries are words: helpers/render/locales)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    name: str
    notebook: str
    requires: tuple[str, ...]
    after: tuple[str, ...] = ()  # sections whose artifacts this one reads, when they run
    reads: tuple[str, ...] = ()  # those artifacts: once all are written, it need not wait
    keeps: tuple[str, ...] = ()  # columns other sections never query, which this one does


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("traffic", "traffic.ipynb", ("traffic",)),
        Section("clv", "clv.ipynb", ("orders",)),
        Section("repurchase", "repurchase.ipynb", ("orders",)),
        Section("regions", "regions.ipynb", ("orders",), keeps=("region",)),
        Section("campaigns", "campaigns.ipynb", ("orders",)),
        Section(
            "merchandise",
            "merchandise.ipynb",
            ("orders", "order_items"),
            keeps=("order_id", "discount"),
        ),
        Section(
            "marketing",
            "marketing.ipynb",
            ("marketing",),
            after=("clv",),
            reads=("clv_by_channel",),
        ),
    )
}


def missing_tables(section: Section, available: set[str]) -> list[str]:
    """The input tables a section needs that are not available."""
    return [table for table in section.requires if table not in available]
