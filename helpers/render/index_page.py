"""The report's index page: headline KPIs, section links, skipped sections, data quality."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, FileSystemLoader, select_autoescape

from helpers.core.periods import Quarter
from helpers.render.formats import day_label
from helpers.render.html import REPORT_CSS, TEMPLATES
from helpers.render.kpi_rows import formatted_kpis
from helpers.render.locale import Locale
from helpers.sections.findings import headline_stories

STATUS_RULE = "status: "  # how data.inputs names an order left out for its status


def exclusion_reason(reason: str, locale: Locale) -> str:
    """Why rows were left out, in words: a status, or a rule of the data contract."""
    if reason.startswith(STATUS_RULE):
        return locale.text("index.excluded_status", status=reason.removeprefix(STATUS_RULE))
    return locale.term("exclusion", reason)


def executive_summary(metrics: dict) -> list[dict]:
    """The quarter's stories for the top of the index (sections.findings.headline_stories):
    each finding's sentence, and a link to where its section shows it."""
    sections = metrics["sections"]
    records = {name: s.get("finding_records", []) for name, s in sections.items()}
    return [
        {
            "sentence": sections[name]["findings"][index],
            "href": f"{sections[name]['href']}#findings",
            "title": sections[name]["title"],
        }
        for name, index in headline_stories(records)
    ]


ALERT_CLASS = {"act": "bad", "watch": "watch"}


def alert_rows(alerts: list[dict], locale: Locale) -> list[dict]:
    """Each alert as the index shows it: its level in words, its CSS class, and a sentence."""
    rows = []
    for alert in alerts:
        deviation = f"{alert['deviation']:+.1%}"
        if alert["kind"] == "kpi":
            record = alert["record"]
            scale = locale.scale([record.get("current"), record.get("target")])
            sentence = locale.text(
                "index.alert_kpi",
                label=record["label"],
                current=locale.value(record.get("current"), record["unit"], scale),
                target=locale.value(record.get("target"), record["unit"], scale),
                deviation=deviation,
            )
        else:
            scale = locale.scale([alert["spend"], alert["budget"]])
            sentence = locale.text(
                "index.alert_budget",
                channel=alert["channel"],
                spend=locale.value(alert["spend"], "currency", scale),
                budget=locale.value(alert["budget"], "currency", scale),
                deviation=deviation,
            )
        level = locale.term("alert_level", alert["level"])
        rows.append({"level": level, "class": ALERT_CLASS[alert["level"]], "sentence": sentence})
    return rows


def render_index(
    metrics: dict, shop: str, locale: Locale, params: str, title: str | None = None
) -> str:
    """HTML of index.html from the assembled metrics.json content; `title` None is the
    locale's own title of a quarterly report."""
    quarter = Quarter.parse(metrics["quarter"])
    # the template is index.html.j2: escape by that name too (select_autoescape's default
    # only knows .html, and would leave a shop name like <script> as code)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "j2")),
    )
    sections = [
        {**s, "kpis": formatted_kpis(s.get("kpis", {}), locale)}
        for s in metrics["sections"].values()
    ]
    exclusions = [
        {
            **row,
            "reason": exclusion_reason(row["reason"], locale),
            "table": locale.term("table", row["table"]),
            "rows": locale.value(row["rows"], "count"),
            "revenue": locale.value(row["revenue"], "currency"),
        }
        for row in metrics["data_quality"]["exclusions"]
    ]
    rows = metrics["data_quality"]["rows"]
    return env.get_template("index.html.j2").render(
        t=locale.text,
        lang=locale.code,
        css=REPORT_CSS,
        summary=executive_summary(metrics),
        alerts=alert_rows(metrics.get("alerts", []), locale),
        title=title or locale.text("index.default_title"),
        shop=shop,
        quarter=locale.quarter(quarter.label),
        previous=locale.quarter(quarter.previous.label),
        year_ago=locale.quarter(quarter.year_ago.label),
        start=day_label(quarter.start, locale.code),
        end=day_label(quarter.last_day, locale.code),
        overview=formatted_kpis(metrics["overview"], locale),
        sections=sections,
        skipped=metrics["skipped"],
        sources=[
            {"table": locale.term("table", table), "file": file, "rows": f"{rows[table]:,}"}
            for table, file in metrics["data_quality"]["sources"].items()
        ],
        absent=[locale.term("table", table) for table in metrics["data_quality"]["absent"]],
        exclusions=exclusions,
        params=params,
        generated=f"{datetime.now():%Y-%m-%d %H:%M}",
    )
