"""Numbers and dates in the report's locale, for tables, charts, findings and the index page.

One module formats every figure a reader sees: compact amounts (15.5K, 2.35M in English;
1.55万, 3.2亿 in Chinese), rates, changes in percentage points (pp, 个百分点), yes/no,
durations, quarters and months. What differs by locale (the compact units, the words around
a number, the date patterns) is in the locale's catalogue under `numbers` and `dates`; dates
are formatted by Babel from the catalogue's CLDR patterns.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
from babel.dates import format_date

from helpers.core.periods import Quarter
from helpers.render.catalogue import DEFAULT_LOCALE, entry

COMPACT_FROM = 1e4  # smaller numbers are written out in full: 7,857


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(locale: str, name: str, **fields) -> str:
    return entry(locale, f"numbers.{name}").format(**fields)


def _trimmed(value: float, decimals: int) -> str:
    """`value` with up to `decimals` decimals and no trailing zeros: 15.0 -> '15'."""
    shown = f"{value:,.{decimals}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def compact(value: float, locale: str = DEFAULT_LOCALE) -> str:
    """A count or amount short enough for a table cell or an axis, with at least three
    significant digits: 7,857; 15.5K, 2.35M (en); 1.55万, 220.5万, 3.2亿 (zh-CN)."""
    magnitude = abs(value)
    if magnitude >= COMPACT_FROM:
        for divisor, suffix in entry(locale, "numbers.compact"):
            if magnitude >= divisor:
                scaled = value / divisor
                return _trimmed(scaled, 2 if abs(scaled) < 10 else 1) + suffix
    return f"{value:,.0f}"


def _amount(value: float, currency: str, locale: str) -> str:
    digits = compact(abs(value), locale) if abs(value) >= COMPACT_FROM else f"{abs(value):,.2f}"
    return f"{'-' if value < 0 else ''}{currency}{digits}"


def _seconds(value: float, locale: str) -> str:
    minutes, seconds = divmod(round(value), 60)
    if minutes:
        return _number(locale, "minutes_seconds", m=minutes, s=seconds)
    return _number(locale, "seconds", s=seconds)


def fmt_value(
    value: float | None, unit: str, currency: str = "¥", locale: str = DEFAULT_LOCALE
) -> str:
    """Format one value by its unit; missing values print as an em dash."""
    if _missing(value):
        return "—"
    if unit == "currency":
        return _amount(value, currency, locale)
    if unit == "count":
        return compact(value, locale)
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


def quarter_label(quarter: str | Quarter, locale: str = DEFAULT_LOCALE) -> str:
    """'2025Q4' as the locale writes it: 2025Q4, 2025年第四季度."""
    quarter = Quarter.parse(quarter)
    return format_date(quarter.start.date(), entry(locale, "dates.quarter"), locale=_babel(locale))


def month_label(month: date | pd.Timestamp, locale: str = DEFAULT_LOCALE) -> str:
    """A month as the locale writes it: Oct 2025, 2025年10月."""
    return format_date(
        pd.Timestamp(month).date(), entry(locale, "dates.month"), locale=_babel(locale)
    )


def day_label(day: date | pd.Timestamp, locale: str = DEFAULT_LOCALE) -> str:
    """A day as the locale writes it: 1 Oct 2025, 2025年10月1日."""
    return format_date(pd.Timestamp(day).date(), entry(locale, "dates.day"), locale=_babel(locale))


def _babel(locale: str) -> str:
    return locale.replace("-", "_")
