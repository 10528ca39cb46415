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


def formatted_kpis(kpis: dict[str, dict], currency: str = "¥") -> list[dict]:
    """Each KPI record as display strings: label, current, previous, year_ago, qoq, yoy,
    target, attainment, plus the raw qoq_change and yoy_change for colouring."""
    rows = []
    for record in kpis.values():
        unit = record["unit"]
        attainment = record.get("attainment")
        rows.append(
            {
                "label": record["label"],
                "current": fmt_value(record.get("current"), unit, currency),
                "previous": fmt_value(record.get("previous"), unit, currency),
                "qoq": fmt_change(record.get("qoq"), unit),
                "year_ago": fmt_value(record.get("year_ago"), unit, currency),
                "yoy": fmt_change(record.get("yoy"), unit),
                "target": fmt_value(record.get("target"), unit, currency),
                "attainment": "—" if attainment is None else f"{attainment:.0%}",
                "qoq_change": record.get("qoq"),
                "yoy_change": record.get("yoy"),
            }
        )
    return rows
