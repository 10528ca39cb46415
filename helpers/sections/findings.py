"""A finding as data: what the report says, without its words.

Sections return findings; `helpers.render.text` turns each into a sentence from the locale's
catalogue, so a finding and the table it summarises share one source and tests can check the
figures without parsing English.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers.core.errors import Reason


@dataclass(frozen=True)
class Finding:
    """One statement of the report.

    kind: its catalogue key (`<section>.<what>`); variant: which wording of it (e.g. over- or
    under-predicted), when it has several; figures: the numbers and names it states; bases:
    the comparisons it names ("qoq", "yoy"); material: whether its change passed the
    materiality threshold, where it states one; stake: the money the story is about (revenue
    a change moved, spend that does not pay back), in the report's currency, where it has one:
    the executive summary ranks findings by it.
    """

    kind: str
    figures: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    bases: tuple[str, ...] = ()
    material: bool | None = None
    stake: float | None = None

    def as_record(self) -> dict:
        """JSON-ready: numpy scalars as Python numbers, NaN as None."""
        return {
            "kind": self.kind,
            "variant": self.variant,
            "figures": _plain(self.figures),
            "bases": list(self.bases),
            "material": self.material,
            "stake": _plain(self.stake),
        }


SUMMARY_SIZE = 6  # stories in the executive summary
PER_SECTION = 2  # at most this many from one section, so one section does not fill it


def headline_stories(records: dict[str, list[dict]]) -> list[tuple[str, int]]:
    """The executive summary: (section, index of its finding) for the quarter's stories, the
    findings with money at stake first, largest first, at most PER_SECTION from a section;
    then the first finding of each section not yet in it; SUMMARY_SIZE at most."""
    staked = sorted(
        (
            (record["stake"], section, index)
            for section, found in records.items()
            for index, record in enumerate(found)
            if record.get("stake")
        ),
        reverse=True,
    )
    chosen: list[tuple[str, int]] = []
    for _, section, index in staked:
        if sum(s == section for s, _ in chosen) < PER_SECTION:
            chosen.append((section, index))
    for section, found in records.items():
        if found and all(s != section for s, _ in chosen):
            chosen.append((section, 0))
    return chosen[:SUMMARY_SIZE]


def _plain(value: Any) -> Any:
    if isinstance(value, Reason):
        return {"reason": value.code, "figures": _plain(value.figures)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
