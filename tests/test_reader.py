"""What a stakeholder reads: which way is good news, the stories worth most money first, one
unit per column and axis, and charts that do not mislead (axes from zero, whole ticks)."""

import numpy as np
import pandas as pd
import pytest

from helpers.render import charts
from helpers.render.chart_style import use_report_style
from helpers.render.formats import scale_for, tick_scale
from helpers.render.kpi_rows import formatted_kpis
from helpers.render.locale import Locale
from helpers.render.tables import styled
from helpers.sections import marketing, traffic
from helpers.sections.findings import PER_SECTION, SUMMARY_SIZE, headline_stories
from helpers.sections.kpis import (
    attainment_judgement,
    better_direction,
    judgement,
    kpi_record,
    mark_material,
)

ENGLISH = Locale()


def test_which_way_is_good_news():
    assert better_direction("overview.net_revenue") == 1
    assert better_direction("traffic.bounce_rate") == better_direction("marketing.cac") == -1
    assert better_direction("marketing.spend") == 0  # more spend is neither
    assert judgement(0.1, 1) == "good" and judgement(-0.1, 1) == "bad"
    assert judgement(0.1, -1) == "bad" and judgement(-0.1, -1) == "good"
    assert judgement(0.1, 0) is None and judgement(0.0, 1) is None and judgement(None, 1) is None
    assert judgement(0.1, 1, material=False) is None  # shown, not coloured
    assert attainment_judgement(1.0, 1) == "good" and attainment_judgement(0.89, 1) == "bad"
    assert attainment_judgement(0.95, 1) is None  # close to the target
    assert attainment_judgement(0.8, -1) == "good"  # a cost under its target
    assert attainment_judgement(0.9, 1) is None  # exactly NEAR_TARGET of it: close, not bad
    assert attainment_judgement(1.05, -1) is None  # a cost 5% over its target: 95% of it
    assert attainment_judgement(1.6, -1) == "bad"  # 60% over: 1 / 1.6 = 62.5% of the target
    assert attainment_judgement(0.0, -1) == "good"  # no cost at all: beyond any target


def test_a_kpi_row_colours_by_meaning_and_materiality():
    values = {"current": 0.40, "previous": 0.30, "year_ago": 0.398}
    bounce = mark_material({"b": kpi_record("traffic.bounce_rate", "rate", values)}, 10, 0.5)
    (row,) = formatted_kpis(bounce, ENGLISH)
    assert row["qoq"] == "▲ +10.00 pp" and row["qoq_class"] == "bad"  # more bounce is worse
    assert row["yoy"] == "▲ +0.20 pp" and row["yoy_class"] == ""  # below 0.5 pp: immaterial
    revenue = kpi_record("overview.net_revenue", "currency", {"current": 2.21e6, "previous": 1.7e6})
    (row,) = formatted_kpis({"r": revenue | {"target": 2.0e6, "attainment": 1.105}}, ENGLISH)
    assert (row["current"], row["previous"], row["target"]) == ("¥2.21M", "¥1.70M", "¥2.00M")
    assert row["attainment_class"] == "good" and row["qoq_class"] == "good"


def test_one_unit_per_column_and_per_axis():
    assert scale_for([7_857, 15_500]) == scale_for([15_500])  # 7.9K beside 15.5K
    frame = pd.DataFrame({"customers": [7_857.0, 15_500.0], "aov": [142.38, 150.31]})
    shown = styled(frame, {"customers": "count", "aov": "currency"}, ENGLISH).to_html()
    assert "7.9K" in shown and "15.5K" in shown and "¥142.38" in shown
    assert tick_scale([0, 5_000, 10_000, 15_000]).suffix == "K"  # not ¥5,000 beside ¥10.0K
    assert tick_scale([0, 2_500, 5_000, 7_500, 10_000]).decimals == 1  # 2.5K, 5.0K
    assert tick_scale([1.0, 1.25, 1.5]).decimals == 2  # 1.25, not 1.2


def test_the_summary_ranks_stories_by_money_and_lets_no_section_fill_it():
    records = {
        "traffic": [{"stake": 900.0}, {"stake": 800.0}, {"stake": 700.0}],
        "clv": [{"stake": None}, {"stake": None}],
        "repurchase": [],
        "marketing": [{"stake": None}, {"stake": 1000.0}],
    }
    assert headline_stories(records) == [
        ("marketing", 1),
        ("traffic", 0),
        ("traffic", 1),  # a third traffic story would pass PER_SECTION
        ("clv", 0),  # then each section not yet in it, by its first finding
    ]
    many = {f"s{i}": [{"stake": float(i)}] * 3 for i in range(10)}
    assert len(headline_stories(many)) == SUMMARY_SIZE and PER_SECTION == 2


def test_the_money_a_traffic_change_moved():
    """Sessions 1,000 -> 1,250 (+25%) at ¥2 a session moved ¥500; conversion 2% -> 2.5% on
    1,250 sessions at ¥100 an order (¥2 a session / 2.5%... = ¥80 an order now) moved
    0.005 x 1,250 x ¥80 = ¥500; engagement moves no revenue directly."""
    by = pd.DataFrame(
        {
            "measure": ["sessions", "conversion_rate", "revenue_per_session", "engagement_rate"],
            "unit": ["count", "rate", "currency", "rate"],
            "current": [1250.0, 0.025, 2.0, 0.5],
            "qoq": [0.25, 0.005, 0.0, 0.1],
        }
    ).set_index("measure")
    assert traffic.revenue_moved(by, "sessions", ("qoq",)) == pytest.approx(250 * 2.0)
    assert traffic.revenue_moved(by, "conversion_rate", ("qoq",)) == pytest.approx(
        0.005 * 1250 * (2.0 / 0.025)
    )
    assert traffic.revenue_moved(by, "engagement_rate", ("qoq",)) is None


def test_the_money_a_marketing_story_is_about():
    plan = pd.DataFrame(
        {
            "channel": ["A", "B", "C"],
            "current_spend": [100.0, 100.0, 100.0],
            "change": [-30.0, 20.0, 0.0],
            "marginal_roas_after": [3.0, 3.0, 3.0],
        }
    )
    moves = marketing.reallocation_finding(plan, None)
    assert moves.stake == pytest.approx(13 * 30.0)  # a quarter of the weekly cut
    channels = pd.DataFrame(
        {"period": ["current", "current", "previous"], "channel": ["A", "B", "A"]}
        | {"spend": [400.0, 600.0, 999.0]}
    )
    ltv = pd.DataFrame({"channel": ["A", "B"], "ltv_cac": [2.0, 5.0]})
    total = pd.DataFrame(
        {"period": ["current", "previous"], "spend": [1000.0, 900.0], "roas": [2.0, 2.0]}
        | {"attributed_revenue": [2000.0, 1800.0]}
    )
    said = marketing.findings(
        total,
        channels,
        pd.DataFrame(),
        ltv,
        plan.assign(usable=True, problem=None),
        {"current": 3.0},
        None,
        3.0,
    )
    stakes = {f.kind: f.stake for f in said}
    assert stakes["marketing.spend"] == pytest.approx(200.0)  # attributed revenue moved
    assert stakes["marketing.ltv_cac"] == pytest.approx(400.0)  # A's spend, below 3:1


def test_charts_do_not_mislead():
    use_report_style("en")
    bridge = charts.waterfall(
        {"roas_before": 1.9, "cpc_effect": 0.1, "conversion_effect": -0.2, "aov_effect": 0.05}
        | {"roas_after": 1.85},
        ENGLISH.chart("marketing.roas_bridge"),
    )
    assert bridge.figure.axes[0].get_ylim()[0] == 0  # a bar's height is its value
    curves = pd.DataFrame({"k": [1, 2, 3, 1, 2, 3], "retention": np.linspace(0.1, 0.3, 6)})
    curves["cohort"] = ["2025Q1"] * 3 + ["2025Q2"] * 3
    chart = charts.trend_lines(
        curves, "k", "retention", "cohort", ENGLISH.chart("repurchase.curves", periods="quarters")
    )
    ticks = chart.figure.axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks))  # whole periods, no 1.5
    assert chart.alt.startswith("Retention curves") and "Latest:" in chart.alt


def test_a_report_beside_that_cannot_be_linked_is_named_not_fatal(tmp_path):
    from helpers.run.related import refresh_related

    for label in ("2025", "2025Q1", "2025Q2"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "index.html").write_text("old")
    (tmp_path / "2025Q1" / "metrics.json").write_text("{not json")
    (tmp_path / "2025Q2" / "metrics.json").write_text('{"period": "2025Q2"}')  # older: no page
    assert refresh_related(tmp_path / "2025") == ["2025Q1", "2025Q2"]
    assert (tmp_path / "2025Q1" / "index.html").read_text() == "old"  # left as it was
