"""Calendar quarters: parsing '2024Q4', their bounds, and the periods a report compares."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from helpers.core.errors import ParameterError

_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter; `start` is inclusive and `end` exclusive."""

    year: int
    q: int

    @classmethod
    def parse(cls, text: str | Quarter) -> Quarter:
        """Parse '2024Q4' (also '2024-Q4'); raise ParameterError on anything else."""
        if isinstance(text, Quarter):
            return text
        match = _QUARTER.match(str(text).strip())
        if not match:
            raise ParameterError(
                f"malformed quarter {text!r}: expected YYYYQn with n in 1-4, e.g. '2024Q4'"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, ts: pd.Timestamp) -> Quarter:
        """The quarter containing a timestamp."""
        return cls(ts.year, (ts.month - 1) // 3 + 1)

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.q}"

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> pd.Timestamp:
        return self.shift(1).start

    @property
    def last_day(self) -> pd.Timestamp:
        return self.end - pd.Timedelta(days=1)

    def shift(self, quarters: int) -> Quarter:
        index = self.year * 4 + self.q - 1 + quarters
        return Quarter(index // 4, index % 4 + 1)

    @property
    def previous(self) -> Quarter:
        return self.shift(-1)

    @property
    def year_ago(self) -> Quarter:
        return self.shift(-4)

    def __str__(self) -> str:
        return self.label


COMPARISONS = ("current", "previous", "year_ago")


def comparison_periods(quarter: Quarter) -> pd.DataFrame:
    """One row per compared period (current, previous, year_ago): quarter label, start, end."""
    quarters = {"current": quarter, "previous": quarter.previous, "year_ago": quarter.year_ago}
    return pd.DataFrame(
        [
            {"period": name, "quarter": q.label, "start": q.start, "end": q.end}
            for name, q in quarters.items()
        ]
    )
