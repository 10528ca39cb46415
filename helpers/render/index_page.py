"""The report's index page: headline KPIs, section links, skipped sections, data quality."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, FileSystemLoader, select_autoescape

from helpers.core.periods import Quarter
from helpers.render.formats import fmt_value
from helpers.render.html import TEMPLATES
from helpers.render.kpi_rows import formatted_kpis


def _change_class(value: float | None) -> str:
    return "" if not value else ("up" if value > 0 else "down")


def kpi_rows(kpis: dict[str, dict], currency: str) -> list[dict]:
    """Formatted KPI rows with CSS classes for the direction of each change."""
    return [
        {
            **row,
            "qoq_class": _change_class(row["qoq_change"]),
            "yoy_class": _change_class(row["yoy_change"]),
        }
        for row in formatted_kpis(kpis, currency)
    ]


def render_index(metrics: dict, title: str, shop: str, currency: str, params: str) -> str:
    """HTML of index.html from the assembled metrics.json content."""
    quarter = Quarter.parse(metrics["quarter"])
    # the template is index.html.j2: escape by that name too (select_autoescape's default
    # only knows .html, and would leave a shop name like <script> as code)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "j2")),
    )
    sections = [
        {**s, "kpis": kpi_rows(s.get("kpis", {}), currency)} for s in metrics["sections"].values()
    ]
    exclusions = [
        {**row, "revenue": fmt_value(row["revenue"], "currency", currency)}
        for row in metrics["data_quality"]["exclusions"]
    ]
    return env.get_template("index.html.j2").render(
        title=title,
        shop=shop,
        quarter=quarter.label,
        previous=quarter.previous.label,
        year_ago=quarter.year_ago.label,
        quarter_range=f"{quarter.start:%d %b %Y} – {quarter.last_day:%d %b %Y}",
        overview=kpi_rows(metrics["overview"], currency),
        sections=sections,
        skipped=metrics["skipped"],
        sources=metrics["data_quality"]["sources"],
        rows=metrics["data_quality"]["rows"],
        absent=metrics["data_quality"]["absent"],
        exclusions=exclusions,
        params=params,
        generated=f"{datetime.now():%Y-%m-%d %H:%M}",
    )
