"""Readable number formats shared by tables, charts, findings and the index page."""

from __future__ import annotations

import math


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compact(value: float, decimals: int = 1) -> str:
    """1234 -> '1,234'; 1_234_567 -> '1.2M'; 12_345 -> '12.3K'."""
    magnitude = abs(value)
    for threshold, divisor, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "K")):
        if magnitude >= threshold:
            return f"{value / divisor:,.{decimals}f}{suffix}"
    return f"{value:,.0f}"


def fmt_value(value: float | None, unit: str, currency: str = "¥") -> str:
    """Format one value by its unit; missing values print as an em dash."""
    if _missing(value):
        return "—"
    if unit == "currency":
        amount = compact(abs(value)) if abs(value) >= 1e4 else f"{abs(value):,.2f}"
        return f"{'-' if value < 0 else ''}{currency}{amount}"
    if unit == "count":
        return compact(value)
    if unit == "rate":
        return f"{value:.2%}" if abs(value) < 0.1 else f"{value:.1%}"
    if unit == "seconds":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
    if unit == "pct":
        return f"{value:+.1f}%"
    if unit == "pvalue":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if unit == "yesno":
        return "Yes" if value else "No"
    if unit == "pp":
        return f"{value * 100:+.1f} pp"
    return f"{value:,.2f}"


def fmt_change(change: float | None, unit: str) -> str:
    """A period-over-period change: percentage points for rates and percentages, a signed
    difference for ratios, relative % otherwise."""
    if _missing(change):
        return "—"
    if unit == "rate":
        return f"{change * 100:+.2f} pp"
    if unit == "pct":
        return f"{change:+.1f} pp"
    if unit == "ratio":
        return f"{change:+.2f}"
    return f"{change:+.1%}"
