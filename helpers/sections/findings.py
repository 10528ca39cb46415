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
    materiality threshold, where it states one.
    """

    kind: str
    figures: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    bases: tuple[str, ...] = ()
    material: bool | None = None

    def as_record(self) -> dict:
        """JSON-ready: numpy scalars as Python numbers, NaN as None."""
        return {
            "kind": self.kind,
            "variant": self.variant,
            "figures": _plain(self.figures),
            "bases": list(self.bases),
            "material": self.material,
        }


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
