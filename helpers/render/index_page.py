"""The report's index page: headline KPIs, section links, skipped sections, data quality."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from helpers.core.periods import parse_period
from helpers.render.html import REPORT_CSS, TEMPLATES
from helpers.render.kpi_rows import formatted_kpis
from helpers.render.locale import Locale
from helpers.sections.findings import headline_stories
from helpers.sections.kpis import attainment_judgement
from helpers.sections.overview import HEADLINE_UNITS

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


def in_one_scale(locale: Locale, unit: str, *values: float | None) -> list[str]:
    """Values shown side by side (an actual and its target), in one compact unit."""
    scale = locale.scale(values)
    return [locale.value(value, unit, scale) for value in values]


def alert_rows(alerts: list[dict], locale: Locale) -> list[dict]:
    """Each alert as the index shows it: its level in words, its CSS class, and a sentence."""
    rows = []
    for alert in alerts:
        deviation = f"{alert['deviation']:+.1%}"
        if alert["kind"] == "kpi":
            record = alert["record"]
            current, target = in_one_scale(
                locale, record["unit"], record.get("current"), record.get("target")
            )
            sentence = locale.text(
                "index.alert_kpi",
                label=record["label"],
                current=current,
                target=target,
                deviation=deviation,
            )
        elif alert["kind"] == "target":
            unit = HEADLINE_UNITS[alert["metric"]]
            current, target = in_one_scale(locale, unit, alert["actual"], alert["target"])
            sentence = locale.text(
                "index.alert_target",
                label=locale.text(f"kpis.overview.{alert['metric']}"),
                where=target_place(alert, locale),
                current=current,
                target=target,
                deviation=deviation,
            )
        else:
            spend, budget = in_one_scale(locale, "currency", alert["spend"], alert["budget"])
            sentence = locale.text(
                "index.alert_campaign"
                if alert["kind"] == "campaign_budget"
                else "index.alert_budget",
                campaign=alert.get("campaign"),
                channel=alert["channel"],
                spend=spend,
                budget=budget,
                deviation=deviation,
            )
        level = locale.term("alert_level", alert["level"])
        rows.append({"level": level, "class": ALERT_CLASS[alert["level"]], "sentence": sentence})
    return rows


def target_level(row: dict, locale: Locale) -> str:
    """A target's level in words: the whole shop, or its channel, category or region."""
    if not row["dimension"]:
        return locale.text("index.whole_shop")
    dimension = locale.term("dimension", row["dimension"])
    return locale.text("index.at_level", dimension=dimension, member=row["member"])


def target_place(row: dict, locale: Locale) -> str:
    """Where a target applies, in words: its period, and its channel, category or region."""
    period = locale.quarter(str(row["period"]))
    if not row["dimension"]:
        return period
    return locale.text("index.place", period=period, level=target_level(row, locale))


def scorecard_rows(rows: list[dict], locale: Locale) -> list[dict]:
    """Each target of the scorecard as the index shows it, its attainment judged like a
    headline KPI's."""
    shown = []
    for row in rows:
        unit = HEADLINE_UNITS[row["metric"]]
        target, actual = in_one_scale(locale, unit, row["target"], row["actual"])
        shown.append(
            {
                "period": locale.quarter(str(row["period"])),
                "where": target_level(row, locale),
                "kpi": locale.text(f"kpis.overview.{row['metric']}"),
                "target": target,
                "actual": actual,
                "attainment": locale.value(row["attainment"], "rate"),
                "attainment_class": attainment_judgement(row["attainment"], 1) or "",
                "weight": "" if row["weight"] is None else f"{row['weight']:g}",
                "score": "" if row["score"] is None else f"{row['score']:.1f}",
            }
        )
    return shown


def quarter_rows(quarters: list[dict], locale: Locale) -> list[dict]:
    """The year's headline KPIs quarter by quarter: label, and the values in one scale."""
    return [
        {
            "label": locale.text(f"kpis.{row['key']}"),
            "values": in_one_scale(locale, row["unit"], *row["values"].values()),
        }
        for row in quarters
    ]


def quarter_links(quarters: list[dict], related: list[dict], locale: Locale) -> list[dict]:
    """The column heads of the quarters-side-by-side table: each period's name, with a link to
    its report where one has been generated."""
    labels = list(quarters[0]["values"]) if quarters else []
    links = {r["period"]: r["href"] for r in related}
    return [{"label": locale.quarter(label), "href": links.get(label)} for label in labels]


def related_links(related: list[str], locale: Locale) -> list[dict]:
    """Links to the reports beside this one (period labels: its year's, its quarters')."""
    return [
        {
            "period": label,
            "href": f"../{label}/index.html",
            "label": (
                locale.text("index.year_report", year=label)
                if parse_period(label).grain == "year"
                else locale.quarter(label)
            ),
        }
        for label in related
    ]


def render_index(metrics: dict, related: list[str] = ()) -> str:
    """HTML of index.html from the assembled metrics.json content (whose `page` names the
    shop, title, language, currency and parameter files), with links to the `related`
    reports (period labels: a year's quarters, a quarter's year)."""
    page = metrics["page"]
    quarter = parse_period(metrics["period"])
    locale = Locale(page["locale"], page["currency"], quarter.grain)
    related = related_links(related, locale)
    shop, title = page["shop"], page["title"]
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
        start=locale.day(quarter.start),
        end=locale.day(quarter.last_day),
        overview=formatted_kpis(metrics["overview"], locale),
        sections=sections,
        skipped=metrics["skipped"],
        sources=[
            {"table": locale.term("table", table), "file": file, "rows": f"{rows[table]:,}"}
            for table, file in metrics["data_quality"]["sources"].items()
        ],
        absent=[locale.term("table", table) for table in metrics["data_quality"]["absent"]],
        ends_early=[
            locale.text(
                "index.ends_early",
                table=locale.term("table", row["table"]),
                last=locale.day(pd.Timestamp(row["last"])),
                period=locale.quarter(quarter.label),
            )
            for row in metrics["data_quality"].get("ends_early", [])
        ],
        exclusions=exclusions,
        params=page["params"],
        year=quarter.year,
        related=related,
        quarters=quarter_rows(metrics.get("quarters", []), locale),
        quarter_links=quarter_links(metrics.get("quarters", []), related, locale),
        scorecard=scorecard_rows(metrics.get("scorecard", []), locale),
        score=None if metrics.get("score") is None else locale.value(metrics["score"], "rate"),
        score_cap=locale.value(page["score_cap_pct"] / 100, "rate"),
        generated=f"{datetime.now():%Y-%m-%d %H:%M}",
    )
