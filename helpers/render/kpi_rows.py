"""Headline KPI records as display strings, for the section tables and the index page."""

from __future__ import annotations

from helpers.render import text
from helpers.render.formats import fmt_change, fmt_value
from helpers.sections.kpis import Z_95, comparison_bases


def basis_sentence(quarter_number: int, seasonal_quarters: list[int]) -> str:
    """How findings compare, in one sentence for the reader."""
    seasonal = "yoy" in comparison_bases(quarter_number, seasonal_quarters)
    variant = "seasonal" if seasonal else "quarterly"
    return text.render(f"notes.basis.{variant}", quarter_number=quarter_number)


def _value(record: dict, period: str, currency: str) -> str:
    text = fmt_value(record.get(period), record["unit"], currency)
    se = record.get("se", {}).get(period)
    if se is not None and record.get(period) is not None:
        text += f" ± {fmt_value(Z_95 * se, record['unit'], currency)}"
    return text


def _change(record: dict, key: str) -> tuple[str, float | None]:
    """A change as shown, and the value that colours it (None: neutral)."""
    delta = record.get(key)
    shown = fmt_change(delta, record["unit"])
    if record.get(f"{key}_material") is False:
        return text.render("words.within_uncertainty", change=shown), None
    return shown, delta


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
            "label": text.kpi_label(record),
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
            row.update(
                current=text.render("words.not_available", reason=record["withheld"]),
                previous="—",
                year_ago="—",
            )
        rows.append(row)
    return rows
