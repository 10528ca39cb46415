"""Headline KPI records: a value per compared period, the QoQ/YoY changes, target attainment,
and, for model-based figures, their uncertainty and whether a change exceeds it."""

from __future__ import annotations

import math

import pandas as pd

from helpers.render.formats import fmt_change, fmt_value

DIFFERENCE_UNITS = ("rate", "ratio", "pct")  # a change of these is their difference
Z_95 = 1.959964  # two-sided 95% normal quantile
BASE_PERIOD = {"qoq": "previous", "yoy": "year_ago"}  # the period each change compares with


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


BASIS_WORDS = {"qoq": "on the previous quarter", "yoy": "on a year ago"}


def comparison_bases(quarter_number: int, seasonal_quarters: list[int]) -> tuple[str, ...]:
    """The one rule for what findings compare with: the previous quarter first, and also the
    same quarter a year before when the quarter is seasonal (its change on the previous
    quarter is partly the calendar: 618 in Q2, Double 11 in Q4)."""
    return ("qoq", "yoy") if quarter_number in seasonal_quarters else ("qoq",)


def basis_sentence(quarter_number: int, seasonal_quarters: list[int]) -> str:
    """How findings compare, in one sentence for the reader."""
    if "yoy" in comparison_bases(quarter_number, seasonal_quarters):
        return (
            f"Findings compare with the previous quarter and, since Q{quarter_number} is a "
            "seasonal quarter, with the same quarter a year before."
        )
    return "Findings compare with the previous quarter."


def changes_text(record: dict, bases: tuple[str, ...]) -> str:
    """A record's changes on each basis that has one, named: '+4.1% on the previous quarter
    and -2.0% on a year ago'."""
    shown = [basis for basis in bases if record.get(basis) is not None]
    if not shown:
        return "with nothing to compare against"
    return " and ".join(
        f"{fmt_change(record[basis], record['unit'])} {BASIS_WORDS[basis]}" for basis in shown
    )


def exceeds_uncertainty(
    values: dict[str, float | None], errors: dict[str, float | None], base: str
) -> bool | None:
    """Whether current - base exceeds 1.96 times the standard error of that difference (the two
    estimates taken as independent); None without both values and errors."""
    parts = [values.get("current"), values.get(base), errors.get("current"), errors.get(base)]
    if any(p is None or pd.isna(p) for p in parts):
        return None
    now, then, se_now, se_then = parts
    return abs(now - then) > Z_95 * math.hypot(se_now, se_then)


def _clean(values: dict) -> dict[str, float | None]:
    return {k: (None if v is None or pd.isna(v) else float(v)) for k, v in values.items()}


def kpi_record(
    label: str,
    unit: str,
    values: dict[str, float | None],
    target: float | None = None,
    standard_errors: dict[str, float | None] | None = None,
) -> dict:
    """A JSON-ready KPI: label, unit, current/previous/year_ago, qoq, yoy, target, attainment;
    with standard errors, also `se` per period and qoq_material / yoy_material (whether the
    change exceeds the combined uncertainty)."""
    clean = _clean(values)
    current = clean.get("current")
    record = {
        "label": label,
        "unit": unit,
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


def _value(record: dict, period: str, currency: str) -> str:
    text = fmt_value(record.get(period), record["unit"], currency)
    se = record.get("se", {}).get(period)
    if se is not None and record.get(period) is not None:
        text += f" ± {fmt_value(Z_95 * se, record['unit'], currency)}"
    return text


def _change(record: dict, key: str) -> tuple[str, float | None]:
    """A change as shown, and the value that colours it (None: neutral)."""
    delta = record.get(key)
    text = fmt_change(delta, record["unit"])
    if record.get(f"{key}_material") is False:
        return f"{text} (within uncertainty)", None
    return text, delta


def formatted_kpis(kpis: dict[str, dict], currency: str = "¥") -> list[dict]:
    """Each KPI record as display strings: label, current, previous, year_ago, qoq, yoy,
    target, attainment, plus the raw qoq_change and yoy_change for colouring (None when the
    change is within the figures' uncertainty). A withheld figure reads "not available" with
    its reason."""
    rows = []
    for record in kpis.values():
        unit = record["unit"]
        attainment = record.get("attainment")
        qoq, qoq_change = _change(record, "qoq")
        yoy, yoy_change = _change(record, "yoy")
        row = {
            "label": record["label"],
            "current": _value(record, "current", currency),
            "previous": _value(record, "previous", currency),
            "qoq": qoq,
            "year_ago": _value(record, "year_ago", currency),
            "yoy": yoy,
            "target": fmt_value(record.get("target"), unit, currency),
            "attainment": "—" if attainment is None else f"{attainment:.0%}",
            "qoq_change": qoq_change,
            "yoy_change": yoy_change,
        }
        if record.get("withheld"):
            row.update(current=f"not available: {record['withheld']}", previous="—", year_ago="—")
        rows.append(row)
    return rows
