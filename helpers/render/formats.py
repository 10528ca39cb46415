"""Numbers and dates in the report's locale, for tables, charts, findings and the index page.

One module formats every figure a reader sees: compact amounts (15.5K, 2.35M in English;
1.55万, 3.2亿 in Chinese), rates, changes in percentage points (pp, 个百分点), yes/no,
durations, quarters and months. What differs by locale (the compact units, the words around
a number, the date patterns) is in the locale's catalogue under `numbers` and `dates`; dates
are formatted by Babel from the catalogue's CLDR patterns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd
from babel.dates import format_date

from helpers.core.periods import Period, parse_period, parse_target_period
from helpers.render.catalogue import DEFAULT_LOCALE, entry

COMPACT_FROM = 1e4  # smaller numbers are written out in full: 7,857


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(locale: str, name: str, **fields) -> str:
    return entry(locale, f"numbers.{name}").format(**fields)


@dataclass(frozen=True)
class Scale:
    """One compact unit for a group of numbers shown together (a table column, a KPI's
    periods, an axis), so that they read alike: ¥2.21M beside ¥1.70M, not ¥1.7M."""

    divisor: float = 1.0
    suffix: str = ""
    decimals: int = 0


def scale_for(values: Iterable[float | None], locale: str = DEFAULT_LOCALE) -> Scale:
    """The unit of the group's largest magnitude (none below COMPACT_FROM), with the decimals
    that give it three significant digits: 15.5K, 2.35M, 807K; 1.55万, 221万, 3.20亿."""
    largest = max((abs(v) for v in values if not _missing(v)), default=0.0)
    if largest >= COMPACT_FROM:
        for divisor, suffix in entry(locale, "numbers.compact"):
            if largest >= divisor:
                scaled = largest / divisor
                return Scale(divisor, suffix, 2 if scaled < 10 else 1 if scaled < 100 else 0)
    return Scale()


def tick_scale(ticks: Sequence[float], locale: str = DEFAULT_LOCALE) -> Scale:
    """The unit of an axis's largest tick, with the fewest decimals (at most 2) that show
    every tick exactly: 2.5K, 5.0K, 7.5K; 5K, 10K, 15K."""
    scale = scale_for(ticks, locale)
    scaled = [t / scale.divisor for t in ticks]
    decimals = next(
        (
            d
            for d in range(3)
            if all(abs(round(v, d) - v) < 1e-9 * max(1.0, abs(v)) for v in scaled)
        ),
        2,
    )
    return replace(scale, decimals=decimals)


def compact(value: float, locale: str = DEFAULT_LOCALE, scale: Scale | None = None) -> str:
    """A count or amount short enough for a table cell or an axis: 7,857; 15.5K, 2.35M (en);
    1.55万, 221万, 3.20亿 (zh-CN); in the unit of `scale` when it is one of a group."""
    scale = scale or scale_for([value], locale)
    if scale.divisor == 1 or value == 0:  # a zero reads 0, not 0.0K
        return f"{value:,.{scale.decimals if value else 0}f}"
    return f"{value / scale.divisor:,.{scale.decimals}f}{scale.suffix}"


def _amount(value: float, currency: str, locale: str, scale: Scale | None) -> str:
    scale = scale or scale_for([value], locale)
    digits = f"{abs(value):,.2f}" if scale.divisor == 1 else compact(abs(value), locale, scale)
    return f"{'-' if value < 0 else ''}{currency}{digits}"


def _seconds(value: float, locale: str) -> str:
    minutes, seconds = divmod(round(value), 60)
    if minutes:
        return _number(locale, "minutes_seconds", m=minutes, s=seconds)
    return _number(locale, "seconds", s=seconds)


def fmt_value(
    value: float | None,
    unit: str,
    currency: str = "¥",
    locale: str = DEFAULT_LOCALE,
    scale: Scale | None = None,
) -> str:
    """Format one value by its unit (counts and amounts in `scale`, the unit of the group it
    is shown with, or their own); missing values print as an em dash."""
    if _missing(value):
        return "—"
    if unit == "currency":
        return _amount(value, currency, locale, scale)
    if unit == "count":
        return compact(value, locale, scale)
    if unit == "rate":
        return f"{value:.2%}" if abs(value) < 0.1 else f"{value:.1%}"
    if unit == "seconds":
        return _seconds(value, locale)
    if unit == "pct":
        return f"{value:+.1f}%"
    if unit == "pvalue":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if unit == "yesno":
        return _number(locale, "yes" if value else "no")
    if unit == "pp":
        return _number(locale, "pp", value=f"{value * 100:+.1f}")
    if unit == "roas":
        return _number(locale, "roas", value=f"{value:,.2f}")
    return f"{value:,.2f}"


def fmt_change(change: float | None, unit: str, locale: str = DEFAULT_LOCALE) -> str:
    """A period-over-period change: percentage points for rates and percentages, a signed
    difference for ratios, relative % otherwise."""
    if _missing(change):
        return "—"
    if unit == "rate":
        return _number(locale, "pp", value=f"{change * 100:+.2f}")
    if unit == "pct":
        return _number(locale, "pp", value=f"{change:+.1f}")
    if unit in ("ratio", "roas"):
        return f"{change:+.2f}"
    return f"{change:+.1%}"


def period_label(period: str | Period, locale: str = DEFAULT_LOCALE) -> str:
    """A year, quarter or month ('2025', '2025Q4', '2025-10') as the locale writes it: 2025,
    2025Q4, Oct 2025; 2025年, 2025年第四季度, 2025年10月."""
    period = parse_target_period(period) or parse_period(period)  # the latter says what is wrong
    pattern = entry(locale, f"dates.{period.grain}")
    return format_date(period.start.date(), pattern, locale=_babel(locale))


def month_label(month: date | pd.Timestamp, locale: str = DEFAULT_LOCALE) -> str:
    """A month as the locale writes it: Oct 2025, 2025年10月."""
    return format_date(
        pd.Timestamp(month).date(), entry(locale, "dates.month"), locale=_babel(locale)
    )


def day_label(day: date | pd.Timestamp, locale: str = DEFAULT_LOCALE) -> str:
    """A day as the locale writes it: 1 Oct 2025, 2025年10月1日."""
    return format_date(pd.Timestamp(day).date(), entry(locale, "dates.day"), locale=_babel(locale))


def _babel(locale: str) -> str:
    return locale.partition("@")[0].replace("-", "_")
