"""Headline KPI records as display strings, for the section tables and the index page."""

from __future__ import annotations

from helpers.core.periods import Period
from helpers.render.formats import Scale
from helpers.render.locale import Locale
from helpers.sections.kpis import Z_95, attainment_judgement, comparison_bases, judgement

ARROWS = {1: "▲", -1: "▼"}  # direction of a change, beside its colour (good or bad)


def basis_sentence(period: Period, seasonal_quarters: list[int], locale: Locale) -> str:
    """How findings compare, in one sentence for the reader."""
    seasonal = "yoy" in comparison_bases(period, seasonal_quarters)
    variant = "seasonal" if seasonal else "quarterly"
    return locale.text(f"notes.basis.{variant}", quarter_number=getattr(period, "q", 0))


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


def _value(record: dict, period: str, locale: Locale, scale: Scale) -> str:
    shown = locale.value(record.get(period), record["unit"], scale)
    se = record.get("se", {}).get(period)
    if se is not None and record.get(period) is not None:
        shown += f" ± {locale.value(Z_95 * se, record['unit'], scale)}"
    return shown


def _change(record: dict, key: str, locale: Locale) -> tuple[str, str | None]:
    """A change as shown (with an arrow for its direction), and whether it is good or bad
    news (None: neutral, a change below the report's materiality thresholds, or one within
    the figures' uncertainty, which it then says)."""
    delta = record.get(key)
    shown = locale.change(delta, record["unit"])
    if delta:
        shown = f"{ARROWS[1 if delta > 0 else -1]} {shown}"
    material = record.get(f"{key}_material")
    if material is False and "se" in record:
        return locale.text("words.within_uncertainty", change=shown), None
    return shown, judgement(delta, record.get("better", 1), material)


def formatted_kpis(kpis: dict[str, dict], locale: Locale) -> list[dict]:
    """Each KPI record as display strings: label, current, previous, year_ago, qoq, yoy,
    target, attainment, and whether each change and the attainment is good or bad news
    (qoq_class, yoy_class, attainment_class: "good", "bad" or "", neutral). A withheld figure
    reads "not available" with its reason."""
    rows = []
    for record in kpis.values():
        unit = record["unit"]
        attainment = record.get("attainment")
        qoq, qoq_class = _change(record, "qoq", locale)
        yoy, yoy_class = _change(record, "yoy", locale)
        scale = locale.scale(record.get(p) for p in ("current", "previous", "year_ago", "target"))
        row = {
            "label": kpi_label(record, locale),
            "current": _value(record, "current", locale, scale),
            "previous": _value(record, "previous", locale, scale),
            "qoq": qoq,
            "year_ago": _value(record, "year_ago", locale, scale),
            "yoy": yoy,
            "target": locale.value(record.get("target"), unit, scale),
            "attainment": "—" if attainment is None else f"{attainment:.0%}",
            "qoq_class": qoq_class or "",
            "yoy_class": yoy_class or "",
            "attainment_class": attainment_judgement(attainment, record.get("better", 1)) or "",
        }
        if record.get("withheld"):
            row.update(
                current=locale.text("words.not_available", reason=record["withheld"]),
                previous="—",
                year_ago="—",
            )
        rows.append(row)
    return rows
