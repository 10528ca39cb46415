"""Report periods: calendar quarters ('2024Q4') and years ('2024'), their bounds, and the
periods a report compares; and months ('2024-10'), the finest period a target is set for.

A quarter is compared with the quarter before and the same quarter a year before; a year with
the year before and the year before that (a three-year trend), so every section's
"previous" and "year_ago" columns mean the same thing for both: the period before, and the
comparable period further back."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from helpers.core.errors import ParameterError

_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class _Span:
    """What every calendar period derives from its `label`, `start` and `end`."""

    @property
    def last_day(self) -> pd.Timestamp:
        return self.end - pd.Timedelta(days=1)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, order=True)
class Quarter(_Span):
    """A calendar quarter; `start` is inclusive and `end` exclusive."""

    year: int
    q: int
    grain = "quarter"

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

    def shift(self, quarters: int) -> Quarter:
        index = self.year * 4 + self.q - 1 + quarters
        return Quarter(index // 4, index % 4 + 1)

    @property
    def previous(self) -> Quarter:
        return self.shift(-1)

    @property
    def year_ago(self) -> Quarter:
        return self.shift(-4)

    @property
    def quarters(self) -> list[Quarter]:
        """The quarters the period is made of: itself."""
        return [self]


@dataclass(frozen=True, order=True)
class Year(_Span):
    """A calendar year: a report period like Quarter, made of four quarters."""

    year: int
    grain = "year"

    @property
    def label(self) -> str:
        return str(self.year)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.year, 1, 1)

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.year + 1, 1, 1)

    def shift(self, years: int) -> Year:
        return Year(self.year + years)

    @property
    def previous(self) -> Year:
        return self.shift(-1)

    @property
    def year_ago(self) -> Year:
        """The comparable period before the previous one: two years back."""
        return self.shift(-2)

    @property
    def quarters(self) -> list[Quarter]:
        return [Quarter(self.year, q) for q in range(1, 5)]


@dataclass(frozen=True, order=True)
class Month(_Span):
    """A calendar month ('2025-10'): the finest level a target may be set at."""

    year: int
    month: int
    grain = "month"

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.year, self.month, 1)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=1)


Period = Quarter | Year


def parse_period(text: str | int | Period) -> Period:
    """'2024' (or 2024) as a Year, '2024Q4' as a Quarter; ParameterError on anything else."""
    if isinstance(text, Quarter | Year):
        return text
    if _YEAR.match(str(text).strip()):
        return Year(int(str(text).strip()))
    if "q" not in str(text).lower():  # not meant as a quarter (which says what is wrong)
        raise ParameterError(
            f"malformed period {text!r}: expected a quarter (YYYYQn, e.g. '2025Q4') or a year "
            "(YYYY, e.g. '2025')"
        )
    return Quarter.parse(str(text))


def parse_target_period(text: str | Period | Month) -> Year | Quarter | Month | None:
    """A target's period: '2025', '2025Q4' or '2025-10'; None when it is none of these."""
    if isinstance(text, Quarter | Year | Month):
        return text
    text = str(text).strip()
    month = _MONTH.match(text)
    if month:
        return Month(int(month.group(1)), int(month.group(2)))
    try:
        return parse_period(text)
    except ParameterError:
        return None


def within(part: Year | Quarter | Month, whole: Period) -> bool:
    """Whether period `part` lies inside `whole` (or is it)."""
    return whole.start <= part.start and part.end <= whole.end


def trend_start(period: Period, quarters: int) -> pd.Timestamp:
    """Where a trend of at least `quarters` quarters ending with the period starts (a year's
    trend covers at least the year)."""
    return min(period.start, Quarter.of(period.last_day).shift(1 - quarters).start)


def next_quarter(period: Period) -> Quarter:
    """The quarter after the period's end (what forecasts "next quarter" are about)."""
    return Quarter.of(period.end)


COMPARISONS = ("current", "previous", "year_ago")


def comparison_periods(period: Period) -> pd.DataFrame:
    """One row per compared period (current, previous, year_ago): its label (column
    `quarter`, which holds a year's label in a year report), start, end."""
    compared = {"current": period, "previous": period.previous, "year_ago": period.year_ago}
    return pd.DataFrame(
        [
            {"period": name, "quarter": p.label, "start": p.start, "end": p.end}
            for name, p in compared.items()
        ]
    )
