"""Headline KPI records: a value per compared period, the QoQ/YoY changes, target attainment."""

from __future__ import annotations

import math

import pandas as pd

from helpers.formatting import fmt_change, fmt_value


def change(current: float | None, base: float | None, unit: str) -> float | None:
    """Difference for rates (in rate units: 0.01 = 1 pp), relative change otherwise."""
    if current is None or base is None or any(map(math.isnan, (current, base))):
        return None
    if unit == "rate":
        return current - base
    return None if base == 0 else current / base - 1


def is_material(
    delta: float | None, unit: str, material_change_pct: float, material_rate_change_pp: float
) -> bool:
    """Whether a change is large enough to matter: rates in pp, everything else in relative %."""
    if delta is None:
        return False
    threshold = material_rate_change_pp if unit == "rate" else material_change_pct
    return abs(delta) * 100 >= threshold


def kpi_record(
    label: str, unit: str, values: dict[str, float | None], target: float | None = None
) -> dict:
    """A JSON-ready KPI: label, unit, current/previous/year_ago, qoq, yoy, target, attainment."""
    clean = {k: (None if v is None or pd.isna(v) else float(v)) for k, v in values.items()}
    current = clean.get("current")
    record = {
        "label": label,
        "unit": unit,
        **clean,
        "qoq": change(current, clean.get("previous"), unit),
        "yoy": change(current, clean.get("year_ago"), unit),
    }
    if target is not None and not pd.isna(target):
        record["target"] = float(target)
        record["attainment"] = None if not target or current is None else current / target
    return record


def kpi_table(kpis: dict[str, dict], currency: str = "¥") -> pd.DataFrame:
    """Formatted rows for display: KPI, this quarter, previous, QoQ, year ago, YoY, target."""
    rows = []
    for record in kpis.values():
        unit = record["unit"]
        rows.append(
            {
                "KPI": record["label"],
                "This quarter": fmt_value(record.get("current"), unit, currency),
                "Previous quarter": fmt_value(record.get("previous"), unit, currency),
                "QoQ": fmt_change(record.get("qoq"), unit),
                "Year ago": fmt_value(record.get("year_ago"), unit, currency),
                "YoY": fmt_change(record.get("yoy"), unit),
                "Target": fmt_value(record.get("target"), unit, currency),
                "Attainment": "—"
                if record.get("attainment") is None
                else f"{record['attainment']:.0%}",
            }
        )
    return pd.DataFrame(rows)
