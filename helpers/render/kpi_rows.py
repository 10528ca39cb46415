"""Headline KPI records as display strings, for the section tables and the index page."""

from __future__ import annotations

from helpers.render.locale import Locale
from helpers.sections.kpis import Z_95, comparison_bases


def basis_sentence(quarter_number: int, seasonal_quarters: list[int], locale: Locale) -> str:
    """How findings compare, in one sentence for the reader."""
    seasonal = "yoy" in comparison_bases(quarter_number, seasonal_quarters)
    variant = "seasonal" if seasonal else "quarterly"
    return locale.text(f"notes.basis.{variant}", quarter_number=quarter_number)


def kpi_label(record: dict, locale: Locale) -> str:
    """A KPI record's label: the catalogue's `kpis.<key>`, filled with the record's details."""
    return locale.text(f"kpis.{record['key']}", **record)


def labelled(kpis: dict[str, dict], locale: Locale) -> dict[str, dict]:
    """KPI records with their labels (and a withheld figure's reason) in words, as
    metrics.json publishes them."""
    return {
        name: locale.plain({**record, "label": kpi_label(record, locale)})
        for name, record in kpis.items()
    }


def _value(record: dict, period: str, locale: Locale) -> str:
    shown = locale.value(record.get(period), record["unit"])
    se = record.get("se", {}).get(period)
    if se is not None and record.get(period) is not None:
        shown += f" ± {locale.value(Z_95 * se, record['unit'])}"
    return shown


def _change(record: dict, key: str, locale: Locale) -> tuple[str, float | None]:
    """A change as shown, and the value that colours it (None: neutral)."""
    delta = record.get(key)
    shown = locale.change(delta, record["unit"])
    if record.get(f"{key}_material") is False:
        return locale.text("words.within_uncertainty", change=shown), None
    return shown, delta


def formatted_kpis(kpis: dict[str, dict], locale: Locale) -> list[dict]:
    """Each KPI record as display strings: label, current, previous, year_ago, qoq, yoy,
    target, attainment, plus the raw qoq_change and yoy_change for colouring (None when the
    change is within the figures' uncertainty). A withheld figure reads "not available" with
    its reason."""
    rows = []
    for record in kpis.values():
        unit = record["unit"]
        attainment = record.get("attainment")
        qoq, qoq_change = _change(record, "qoq", locale)
        yoy, yoy_change = _change(record, "yoy", locale)
        row = {
            "label": kpi_label(record, locale),
            "current": _value(record, "current", locale),
            "previous": _value(record, "previous", locale),
            "qoq": qoq,
            "year_ago": _value(record, "year_ago", locale),
            "yoy": yoy,
            "target": locale.value(record.get("target"), unit),
            "attainment": "—" if attainment is None else f"{attainment:.0%}",
            "qoq_change": qoq_change,
            "yoy_change": yoy_change,
        }
        if record.get("withheld"):
            row.update(
                current=locale.text("words.not_available", reason=record["withheld"]),
                previous="—",
                year_ago="—",
            )
        rows.append(row)
    return rows
