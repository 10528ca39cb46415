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
    assert list(lines.columns) == ["channel", "spend", "budget", "deviation", "level"]
    assert list(lines["channel"]) == ["A", "B"]  # furthest off plan first
    assert lines.loc[0, "deviation"] == pytest.approx(120 / 100 - 1)
    assert list(lines["level"]) == ["act", "on_track"]  # +20%; -4.8%
    (said,) = pacing.findings(lines)
    assert (said.kind, said.variant, said.stake) == ("marketing.budget_line", "act", 20.0)


def test_a_kpi_alerts_only_when_it_falls_short_the_way_that_matters():
    revenue = kpi_record("overview.net_revenue", "currency", {"current": 80.0}, target=100.0)
    sessions = kpi_record("overview.sessions", "count", {"current": 130.0}, target=100.0)
    cac = kpi_record("marketing.cac", "currency", {"current": 110.0}, target=100.0)
    spend = kpi_record("marketing.spend", "currency", {"current": 95.0}, target=100.0)
    untargeted = kpi_record("overview.orders", "count", {"current": 5.0})
    kpis = {"orders": untargeted, "revenue": revenue, "sessions": sessions, "cac": cac}
    alerts = pacing.kpi_alerts({**kpis, "spend": spend}, PARAMS)
    assert {a["kpi"]: a["level"] for a in alerts} == {  # a KPI without a target: no alert
        "revenue": "act",  # 20% short
        "sessions": "on_track",  # beyond its target
        "cac": "watch",  # a cost 10% above its target
        "spend": "on_track",  # no better direction: read as "up", 5% short
    }
    del spend["better"]  # a record that says nothing of its direction reads as "up" too
    assert pacing.kpi_alerts({"spend": spend}, PARAMS)[0]["level"] == "on_track"


def test_the_index_lists_act_before_watch_in_words():
    revenue = kpi_record("overview.net_revenue", "currency", {"current": 92.0}, target=100.0) | {
        "label": "Net revenue"
    }
    budget = [
        {"channel": "A", "spend": 120.0, "budget": 100.0, "deviation": 0.2, "level": "act"},
        {"channel": "B", "spend": 91.0, "budget": 100.0, "deviation": -0.09, "level": "watch"},
        {"channel": "C", "spend": 99.0, "budget": 100.0, "deviation": -0.01, "level": "on_track"},
    ]
    found = pacing.report_alerts({"net_revenue": revenue}, budget, PARAMS)
    # act first; then the furthest off plan: B (-9%) before the revenue KPI (-8%); C is on track
    assert [(a["kind"], a["level"]) for a in found] == [
        ("budget", "act"),
        ("budget", "watch"),
        ("kpi", "watch"),
    ]
    on_track = {"kpi": "x", "deviation": 0.5, "level": "on_track"}  # a target beaten
    met = pacing.report_alerts({"net_revenue": revenue}, [], PARAMS, targets=[on_track])
    assert [a["kind"] for a in met] == ["kpi"]  # a met target is no alert
    beaten = kpi_record("overview.net_revenue", "currency", {"current": 120.0}, target=100.0)
    assert pacing.report_alerts({"net_revenue": beaten}, [], PARAMS) == []
    rows = alert_rows(found, Locale())
    assert rows[0] == {
        "level": "Act",
        "class": "bad",
        "sentence": "A: spent ¥120.00 against a budget of ¥100.00 (+20.0%).",
    }
    assert rows[2]["sentence"] == "Net revenue: ¥92.00 against a target of ¥100.00 (-8.0%)."
    assert alert_rows(found, Locale("zh-CN"))[1]["level"] == "关注"


CAMPAIGN_DAILY = pd.DataFrame(
    {
        "date": pd.to_datetime(
            ["2025-10-01", "2025-10-05", "2025-10-06", "2025-11-03", "2025-11-03", "2025-11-04"]
        ),
        "channel": ["A", "A", "A", "A", "B", "C"],
        "campaign": ["", "big", "big", "small", "", ""],
        "spend": [0.0, 100.0, 100.0, 12.0, 50.0, 1.0],
        "budget": [0.5, 80.0, 80.0, 10.0, 50.0, 0.0],
    }
)
QUARTER = Quarter(2025, 4)


def test_spend_against_budget_by_month_and_by_week_to_date():
    months = pacing.by_month(CAMPAIGN_DAILY, PARAMS)
    assert list(months["start"]) == [pd.Timestamp("2025-10-01"), pd.Timestamp("2025-11-01")]
    assert months[["spend", "budget"]].to_numpy().tolist() == [[200.0, 160.5], [63.0, 60.0]]
    assert months["spend_to_date"].tolist() == [200.0, 263.0]
    assert months["deviation"].tolist() == pytest.approx([200 / 160.5 - 1, 263 / 220.5 - 1])
    assert months["level"].tolist() == ["act", "act"]  # +24.6%, then +19.3% to date
    weeks = pacing.by_week(CAMPAIGN_DAILY, PARAMS, QUARTER.start)
    # Sunday 5 Oct closes the week begun on Monday 29 Sep, shown from the quarter's first day;
    # Monday 6 Oct opens the next
    assert list(weeks["start"].dt.strftime("%Y-%m-%d")) == [
        "2025-10-01",
        "2025-10-06",
        "2025-11-03",
    ]
    assert weeks["budget_to_date"].tolist() == [80.5, 160.5, 220.5]
    # a first day with half a unit of budget already has a plan to stray from
    early = pacing.by_week(CAMPAIGN_DAILY.iloc[:1], PARAMS, QUARTER.start)
    assert early["deviation"].tolist() == [-1.0] and early["level"].tolist() == ["act"]
    nothing_planned = pacing.by_week(  # spend with no plan yet: no deviation, not infinite
        CAMPAIGN_DAILY.iloc[:1].assign(budget=0.0, spend=5.0), PARAMS, QUARTER.start
    )
    assert nothing_planned["deviation"].isna().all() and nothing_planned["level"].tolist() == [None]


def test_campaign_budget_lines_and_small_gaps_that_are_noise():
    paced = pacing.budget_pacing(CAMPAIGN_DAILY, PARAMS, Year(2025))
    assert paced.weeks is None and list(paced.months["start"].dt.month) == [10, 11]
    pd.testing.assert_frame_equal(paced.cumulative, pacing.pacing(CAMPAIGN_DAILY))
    lines = paced.campaigns.set_index("campaign")
    assert list(paced.campaigns.columns[:2]) == ["campaign", "channel"]
    assert "" not in lines.index and lines.loc["big", "channel"] == "A"  # unnamed: no line
    assert (
        lines.loc["big", "deviation"] == pytest.approx(0.25) and lines.loc["big", "level"] == "act"
    )
    # +20% off plan, but ¥2 is under 1% of the whole budget (¥220.5, not the campaigns' ¥170)
    assert lines.loc["small", "deviation"] == pytest.approx(0.2)
    assert lines.loc["small", "level"] == "on_track"
    own = pacing.budget_lines(
        CAMPAIGN_DAILY[CAMPAIGN_DAILY["campaign"] != ""], PARAMS, ("campaign",)
    )
    assert own.set_index("campaign").loc["small", "level"] == "act"  # 1% of ¥170 is under ¥2
    channels = paced.channels.set_index("channel")
    assert pd.isna(channels.loc["C", "level"]) and pd.isna(
        channels.loc["C", "deviation"]
    )  # no plan
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
    weeks = pacing.budget_pacing(CAMPAIGN_DAILY, PARAMS, QUARTER).weeks
    pd.testing.assert_frame_equal(weeks, pacing.by_week(CAMPAIGN_DAILY, PARAMS, QUARTER.start))
    assert (
        pacing.budget_pacing(CAMPAIGN_DAILY.assign(campaign=""), PARAMS, QUARTER).campaigns is None
    )
    assert pacing.budget_pacing(CAMPAIGN_DAILY.assign(budget=None), PARAMS, Year(2025)) is None


def test_a_gap_exactly_at_the_noise_threshold_is_not_noise():
    daily = pd.DataFrame(  # B: 2 off a whole budget of 200, exactly 1%
        {
            "date": pd.to_datetime(["2025-10-01"] * 2),
            "channel": ["A", "B"],
            "spend": [180.0, 18.0],
            "budget": [180.0, 20.0],
        }
    )
    lines = pacing.budget_lines(daily, PARAMS).set_index("channel")
    assert lines.loc["B", "level"] == "watch"  # -10%, and 2 is not under 1% of 200
    assert list(pacing.budget_lines(daily, PARAMS)["channel"]) == ["B", "A"]  # by size of gap
    just_under = pacing.budget_lines(daily.assign(spend=[180.0, 18.01]), PARAMS)
    assert just_under.set_index("channel").loc["B", "level"] == "on_track"  # 1.99: noise
    wider = AlertParams(watch_pct=7.5, act_pct=15, min_budget_gap_pct=2)  # 4 of 200
    lines = pacing.budget_lines(daily.assign(spend=[180.0, 17.0]), wider).set_index("channel")
    assert lines.loc["B", "level"] == "on_track"  # -15%, but 3 is under 2% of 200
    small = daily.assign(spend=[180.0, 1.0], budget=[180.0, 0.5])  # half a unit is a plan
    assert pacing.budget_lines(small, PARAMS).set_index("channel").loc["B", "deviation"] == 1.0


def test_watch_level_findings_name_each_line_in_words():
    lines = pd.DataFrame(
        {
            "channel": ["A", "B"],
            "spend": [91.0, 100.0],
            "budget": [100.0, 100.0],
            "deviation": [-0.09, 0.0],
            "level": ["watch", "on_track"],
        }
    )
    campaigns = lines.assign(campaign=["x", "y"])
    said = pacing.findings(lines, campaigns)
    assert [(f.kind, f.variant) for f in said] == [
        ("marketing.budget_line", "watch"),
        ("marketing.campaign_budget_lines", "watch"),
    ]
    assert Locale().sentences(said) == [
        "A spent ¥91.00 against a budget of ¥100 this quarter: off plan by more than the watch "
        "threshold.",
        "1 campaign(s) off plan by more than the watch threshold this quarter: x (A, -9.0%).",
    ]
