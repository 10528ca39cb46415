"""Budget pacing and alerts, by hand: levels at their thresholds, cumulative spend against
plan, budget lines, KPI shortfalls by the KPI's better direction, and what the index lists."""

import pandas as pd
import pytest

from helpers.core.config import AlertParams
from helpers.core.periods import Quarter, Year
from helpers.render.index_page import alert_rows
from helpers.render.locale import Locale
from helpers.sections import pacing
from helpers.sections.kpis import kpi_record

PARAMS = AlertParams(watch_pct=7.5, act_pct=15)
DAILY = pd.DataFrame(
    {
        "date": pd.to_datetime(["2025-10-01", "2025-10-01", "2025-10-02", "2025-10-02"]),
        "channel": ["A", "B", "A", "B"],
        "spend": [60.0, 10.0, 60.0, 10.0],
        "budget": [50.0, 10.0, 50.0, 11.0],
    }
)


def test_levels_at_their_thresholds():
    assert pacing.level(None, PARAMS) is None
    assert pacing.level(-0.075, PARAMS) == "on_track"  # exactly at watch: not beyond it
    assert pacing.level(0.0751, PARAMS) == "watch"
    assert pacing.level(-0.15, PARAMS) == "watch" and pacing.level(0.1501, PARAMS) == "act"


def test_cumulative_spend_against_plan_and_budget_lines():
    paced = pacing.pacing(DAILY).set_index(["channel", "date"])
    assert paced.loc[("A", pd.Timestamp("2025-10-02"))].tolist() == [120.0, 100.0]
    assert paced.loc[("", pd.Timestamp("2025-10-02"))].tolist() == [140.0, 121.0]  # total
    lines = pacing.budget_lines(DAILY, PARAMS)
    assert list(lines["channel"]) == ["A", "B"]  # furthest off plan first
    assert lines.loc[0, "deviation"] == pytest.approx(120 / 100 - 1)
    assert list(lines["level"]) == ["act", "on_track"]  # +20%; -4.8%
    (said,) = pacing.findings(lines)
    assert (said.kind, said.variant, said.stake) == ("marketing.budget_line", "act", 20.0)


def test_a_kpi_alerts_only_when_it_falls_short_the_way_that_matters():
    revenue = kpi_record("overview.net_revenue", "currency", {"current": 80.0}) | {
        "target": 100.0,
        "attainment": 0.8,
    }
    sessions = kpi_record("overview.sessions", "count", {"current": 130.0}) | {
        "target": 100.0,
        "attainment": 1.3,
    }
    cac = kpi_record("marketing.cac", "currency", {"current": 110.0}) | {
        "target": 100.0,
        "attainment": 1.1,
    }
    alerts = pacing.kpi_alerts({"revenue": revenue, "sessions": sessions, "cac": cac}, PARAMS)
    assert {a["kpi"]: a["level"] for a in alerts} == {
        "revenue": "act",  # 20% short
        "sessions": "on_track",  # beyond its target
        "cac": "watch",  # a cost 10% above its target
    }


def test_the_index_lists_act_before_watch_in_words():
    revenue = kpi_record("overview.net_revenue", "currency", {"current": 92.0}) | {
        "target": 100.0,
        "attainment": 0.92,
        "label": "Net revenue",
    }
    budget = [{"channel": "A", "spend": 120.0, "budget": 100.0, "deviation": 0.2, "level": "act"}]
    found = pacing.report_alerts({"net_revenue": revenue}, budget, PARAMS)
    assert [(a["kind"], a["level"]) for a in found] == [("budget", "act"), ("kpi", "watch")]
    rows = alert_rows(found, Locale())
    assert rows[0] == {
        "level": "Act",
        "class": "bad",
        "sentence": "A: spent ¥120.00 against a budget of ¥100.00 (+20.0%).",
    }
    assert rows[1]["sentence"] == "Net revenue: ¥92.00 against a target of ¥100.00 (-8.0%)."
    assert alert_rows(found, Locale("zh-CN"))[1]["level"] == "关注"


CAMPAIGN_DAILY = pd.DataFrame(
    {
        "date": pd.to_datetime(["2025-10-05", "2025-10-06", "2025-11-03", "2025-11-03"]),
        "channel": ["A", "A", "A", "B"],
        "campaign": ["big", "big", "small", ""],
        "spend": [100.0, 100.0, 11.0, 50.0],
        "budget": [80.0, 80.0, 10.0, 50.0],
    }
)


def test_spend_against_budget_by_month_and_by_week_to_date():
    months = pacing.by_interval(CAMPAIGN_DAILY, "month", PARAMS, pd.Timestamp("2025-10-01"))
    assert list(months["start"]) == [pd.Timestamp("2025-10-01"), pd.Timestamp("2025-11-01")]
    assert months[["spend", "budget"]].to_numpy().tolist() == [[200.0, 160.0], [61.0, 60.0]]
    assert months["spend_to_date"].tolist() == [200.0, 261.0]
    assert months["deviation"].tolist() == pytest.approx([200 / 160 - 1, 261 / 220 - 1])
    assert months["level"].tolist() == ["act", "act"]  # +25%, then +18.6% to date
    weeks = pacing.by_interval(CAMPAIGN_DAILY, "week", PARAMS, pd.Timestamp("2025-10-01"))
    # Sunday 5 Oct closes the week begun on Monday 29 Sep, shown from the quarter's first day;
    # Monday 6 Oct opens the next
    assert list(weeks["start"].dt.strftime("%Y-%m-%d")) == [
        "2025-10-01",
        "2025-10-06",
        "2025-11-03",
    ]
    assert weeks["budget_to_date"].tolist() == [80.0, 160.0, 220.0]


def test_campaign_budget_lines_and_small_gaps_that_are_noise():
    paced = pacing.budget_pacing(CAMPAIGN_DAILY, PARAMS, Year(2025))
    assert paced.weeks is None and list(paced.months["start"].dt.month) == [10, 11]
    lines = paced.campaigns.set_index("campaign")
    assert "" not in lines.index  # spend under no campaign is no campaign's line
    assert (
        lines.loc["big", "deviation"] == pytest.approx(0.25) and lines.loc["big", "level"] == "act"
    )
    # +10% off plan, but ¥1 is under 1% of the whole budget (220): on track
    assert lines.loc["small", "deviation"] == pytest.approx(0.1)
    assert lines.loc["small", "level"] == "on_track"
    strict = AlertParams(watch_pct=7.5, act_pct=15, min_budget_gap_pct=0.0)
    assert (
        pacing.budget_lines(CAMPAIGN_DAILY, strict, "campaign")
        .set_index("campaign")
        .loc["small", "level"]
        == "watch"
    )
    said = pacing.findings(paced.channels, paced.campaigns)
    (campaigns,) = [f for f in said if f.kind == "marketing.campaign_budget_lines"]
    assert campaigns.variant == "act" and campaigns.stake == 40.0
    assert [line["campaign"] for line in campaigns.figures["lines"]] == ["big"]
    assert Locale().sentences([campaigns]) == [
        "1 campaign(s) off plan by more than the act threshold this quarter: big (A, +25.0%)."
    ]
    alerts = pacing.report_alerts({}, [], PARAMS, campaigns=paced.campaigns.to_dict("records"))
    assert [(a["kind"], a["campaign"]) for a in alerts] == [("campaign_budget", "big")]
    (row,) = alert_rows(alerts, Locale())
    assert row["sentence"].startswith("Campaign big (A): spent ¥200.00 against a budget of ¥160.00")
    assert pacing.budget_pacing(CAMPAIGN_DAILY, PARAMS, Quarter(2025, 4)).weeks is not None
    assert pacing.budget_pacing(CAMPAIGN_DAILY.assign(budget=None), PARAMS, Year(2025)) is None
