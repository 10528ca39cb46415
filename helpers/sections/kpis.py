"""Headline KPI records: a value per compared period, the QoQ/YoY changes, target attainment,
and, for model-based figures, their uncertainty and whether a change exceeds it."""

from __future__ import annotations

import math

import pandas as pd

from helpers.core.periods import COMPARISONS, Period, Quarter

DIFFERENCE_UNITS = ("rate", "ratio", "pct")  # a change of these is their difference
Z_95 = 1.959964  # two-sided 95% normal quantile
BASE_PERIOD = {"qoq": "previous", "yoy": "year_ago"}  # the period each change compares with
# Which way a KPI should move: up, unless lower is better or neither direction is a success
LOWER_IS_BETTER = frozenset({"traffic.bounce_rate", "marketing.cac", "marketing.blended_cac"})
NO_BETTER_DIRECTION = frozenset({"marketing.spend", "clv.customers", "clv.holdout_error_pct"})
NEAR_TARGET = 0.9  # attainment from here to the target is close, neither good nor bad


def per_period_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (indexed by its keys, then "period") as a row per key and a column per (measure,
    compared period): every compared period, NaN where the frame has no row of it (a shop in
    its first quarter, or less than a year old)."""
    wide = frame.unstack("period")
    return wide.reindex(columns=pd.MultiIndex.from_product([frame.columns, COMPARISONS]))


def better_direction(key: str) -> int:
    """+1 when a rise of KPI `key` is good news, -1 when a fall is, 0 when neither is."""
    if key in NO_BETTER_DIRECTION:
        return 0
    return -1 if key in LOWER_IS_BETTER else 1


def judgement(delta: float | None, better: int, material: bool | None = True) -> str | None:
    """ "good", "bad", or None (no change, no better direction, or within the uncertainty)."""
    if delta is None or delta == 0 or better == 0 or material is False:
        return None
    return "good" if delta * better > 0 else "bad"  # pragma: no mutate (delta, better non-zero)


def attainment_judgement(attainment: float | None, better: int) -> str | None:
    """ "good" at or beyond the target, "bad" short of NEAR_TARGET of it, None between (or
    without a target); for a KPI where lower is better, being under the target is beyond it."""
    if attainment is None or better == 0:
        return None
    lower_is_better = better == -1  # better_direction gives -1, 0 or 1; 0 returned above
    progress = (1 / attainment if attainment else math.inf) if lower_is_better else attainment
    if progress >= 1:
        return "good"
    return "bad" if progress < NEAR_TARGET else None


def change(current: float | None, base: float | None, unit: str) -> float | None:
    """Difference for rates, ratios and percentages (a rate's in rate units: 0.01 = 1 pp);
    relative change otherwise, and only on a positive base (a percent change of a zero or
    negative base means nothing)."""
    if current is None or base is None or any(map(math.isnan, (current, base))):
        return None
    if unit in DIFFERENCE_UNITS:
        return current - base
    return None if base <= 0 else current / base - 1


def is_material(
    delta: float | None, unit: str, material_change_pct: float, material_rate_change_pp: float
) -> bool:
    """Whether a change is large enough to matter: rates in pp, everything else in relative %."""
    if delta is None:
        return False
    threshold = material_rate_change_pp if unit == "rate" else material_change_pct
    return abs(delta) * 100 >= threshold


def comparison_bases(period: Period, seasonal_quarters: list[int]) -> tuple[str, ...]:
    """The one rule for what findings compare with: the previous period first, and also the
    same quarter a year before when the quarter is seasonal (its change on the previous
    quarter is partly the calendar: 618 in Q2, Double 11 in Q4). A year is compared with the
    year before ("qoq": the previous period), which holds the same seasons."""
    if isinstance(period, Quarter) and period.q in seasonal_quarters:
        return ("qoq", "yoy")
    return ("qoq",)


def exceeds_uncertainty(
    values: dict[str, float | None], errors: dict[str, float | None], base: str
) -> bool | None:
    """Whether current - base exceeds 1.96 times the standard error of that difference (the two
    estimates taken as independent); None without both values and errors."""
    parts = [values.get("current"), values.get(base), errors.get("current"), errors.get(base)]
    if any(p is None or pd.isna(p) for p in parts):
        return None
    now, then, se_now, se_then = parts
    return bool(abs(now - then) > Z_95 * math.hypot(se_now, se_then))


def known(value: float | None) -> float | None:
    """A figure as a plain float, or None when it is missing (None or NaN)."""
    return None if value is None or pd.isna(value) else float(value)


def table_records(table: pd.DataFrame) -> list[dict]:
    """A table's rows as dicts, for metrics.json and findings."""
    return table.to_dict("records")  # pragma: no mutate (pandas takes the orient in any case)


def _clean(values: dict) -> dict[str, float | None]:
    return {k: known(v) for k, v in values.items()}


def mark_material(
    kpis: dict[str, dict], material_change_pct: float, material_rate_change_pp: float
) -> dict[str, dict]:
    """Each change marked material or not by the report's thresholds (is_material), where its
    uncertainty has not marked it already: an immaterial change is shown, never coloured."""
    for record in kpis.values():
        for basis in BASE_PERIOD:
            if record.get(f"{basis}_material") is None and record.get(basis) is not None:
                record[f"{basis}_material"] = is_material(
                    record[basis], record["unit"], material_change_pct, material_rate_change_pp
                )
    return kpis


def kpi_record(
    key: str,
    unit: str,
    values: dict[str, float | None],
    target: float | None = None,
    standard_errors: dict[str, float | None] | None = None,
    **details,
) -> dict:
    """A JSON-ready KPI: key (`<section>.<kpi>`, which names its label in the text catalogue),
    unit, current/previous/year_ago, qoq, yoy, target, attainment, and any `details` its label
    quotes; with standard errors, also `se` per period and qoq_material / yoy_material (whether
    the change exceeds the combined uncertainty)."""
    clean = _clean(values)
    current = clean.get("current")
    record = {
        "key": key,
        "unit": unit,
        "better": better_direction(key),
        **details,
        **clean,
        **{key: change(current, clean.get(base), unit) for key, base in BASE_PERIOD.items()},
    }
    if standard_errors is not None:
        record["se"] = _clean(standard_errors)
        for key, base in BASE_PERIOD.items():
            record[f"{key}_material"] = exceeds_uncertainty(clean, record["se"], base)
    if target is not None and not pd.isna(target):
        record["target"] = float(target)
        record["attainment"] = None if not target or current is None else current / target
    return record
