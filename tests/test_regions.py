"""Regions: every figure recomputed by hand on a small orders table, the report's comparison
and materiality rules, and the sample's planted regional trends found again."""

import json

import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import Quarter, comparison_periods
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.render import text
from helpers.sections import regions

from .conftest import PROJECT

PERIODS = comparison_periods(Quarter.parse("2025Q4"))
CONFIG = load_config(PROJECT / "params", "2025Q4", [])
# East: this quarter a buys twice (100 + 50) and b once (30); the quarter before a bought 90;
# a year before c bought 100. West: d 40 now (new), e 40 before.
ORDERS = pd.DataFrame(
    {
        "order_id": [str(i) for i in range(7)],
        "customer_id": ["a", "a", "b", "a", "c", "d", "e"],
        "order_ts": pd.to_datetime(
            ["2025-10-01", "2025-11-01", "2025-12-01", "2025-08-01", "2024-11-01"]
            + ["2025-12-24", "2025-09-09"]
        ),
        "net_revenue": [100.0, 50.0, 30.0, 90.0, 100.0, 40.0, 40.0],
        "region": ["East"] * 5 + ["West"] * 2,
    }
)


@pytest.fixture(scope="module")
def section():
    return regions.build_section(DuckDBEngine({"orders": ORDERS}), CONFIG, PERIODS)


def test_every_regional_figure_by_hand(section):
    table = section.table.set_index("region")
    east = table.loc["East"]
    assert east["net_revenue"] == 180.0 and east["revenue_share"] == pytest.approx(180 / 220)
    assert east["revenue_qoq"] == pytest.approx(180 / 90 - 1)
    assert east["revenue_yoy"] == pytest.approx(180 / 100 - 1)
    assert east["contribution_qoq"] == pytest.approx(90.0)
    assert (east["customers"], east["new_customers"]) == (2, 1)  # b is new; a is not
    assert east["aov"] == pytest.approx(180 / 3)
    assert east["repeat_rate"] == pytest.approx(1 / 2)  # a ordered twice
    assert east["repeat_change_qoq"] == pytest.approx(1 / 2 - 0)
    west = table.loc["West"]
    assert west["contribution_qoq"] == 0.0 and pd.isna(west["revenue_yoy"])  # nothing a year ago
    assert table["contribution_qoq"].sum() == pytest.approx(220 - 130)  # adds up to the change
    assert list(section.table["region"]) == ["East", "West"]  # largest first


def test_findings_follow_the_comparison_and_materiality_rules(section):
    said = {(f.kind, f.variant): f for f in section.findings}
    moved = said[("regions.contribution", None)]
    assert moved.figures == {"region": "East", "change": 90.0, "total_change": 90.0}
    assert moved.stake == 90.0
    # Q4 is seasonal: growth is named on both bases, and West has no year-ago figure
    grew = said[("regions.growth", "up")]
    assert grew.bases == ("qoq", "yoy") and grew.figures["region"] == "East"
    assert text.sentence(grew) == (
        "East grew fastest: net revenue +100.0% on the previous quarter and +80.0% on a year ago."
    )
    gap = said[("regions.repeat_gap", None)].figures
    assert (gap["best"], gap["worst"]) == ("East", "West") and gap["worst_rate"] == 0.0


def test_a_change_below_the_threshold_is_not_growth():
    table = pd.DataFrame(
        {
            "region": ["A", "B"],
            "revenue_qoq": [0.05, -0.02],
            "revenue_yoy": [0.2, -0.3],
            "contribution_qoq": [5.0, -2.0],
            "repeat_rate": [0.301, 0.300],
        }
    )
    said = regions.findings(table, ("qoq",), CONFIG)  # 5% and -2% are below 10%
    assert [f.kind for f in said] == ["regions.contribution"]  # a 0.1 pp gap neither


def test_orders_without_a_region_say_so():
    section = regions.build_section(
        DuckDBEngine({"orders": ORDERS.drop(columns="region")}), CONFIG, PERIODS
    )
    assert section.table is None and [f.kind for f in section.findings] == ["regions.no_region"]


def test_the_sample_regions_grow_as_they_were_planted():
    """The manifest's region trends (new customers' shares per year): the regions planted to
    grow fastest grow faster, a year on, than those planted to shrink."""
    trends = pd.Series(
        json.loads((PROJECT / "data" / "sample" / "manifest.json").read_text())["region_trends"]
    )
    engine = DuckDBEngine(prepare_inputs(CONFIG).tables)
    table = regions.build_section(engine, CONFIG, PERIODS).table.set_index("region")
    growing = table.loc[trends.nlargest(2).index, "revenue_yoy"].min()
    shrinking = table.loc[trends[trends < 0].index, "revenue_yoy"].max()
    assert growing > shrinking


def test_a_region_new_this_quarter_and_one_in_decline_by_hand():
    orders = pd.DataFrame(
        {
            "order_id": [str(i) for i in range(8)],
            "customer_id": ["a", "a", "b", "b", "c", "c", "d", "e"],
            "order_ts": pd.to_datetime(
                ["2025-10-01", "2025-10-09", "2025-07-01", "2025-07-02"]  # North: a twice now,
                + ["2025-08-01", "2025-11-01", "2025-12-01", "2025-12-02"]  # b twice before
            ),
            "net_revenue": [50.0, 50.0, 150.0, 50.0, 100.0, 20.0, 30.0, 10.0],
            "region": ["North"] * 4 + ["South"] * 2 + ["New"] * 2,
        }
    )
    section = regions.build_section(DuckDBEngine({"orders": orders}), CONFIG, PERIODS)
    table = section.table.set_index("region")
    # North: repeat rate 1 now (a twice), 1 before (b twice): no change
    assert table.loc["North", "repeat_change_qoq"] == 0.0
    # South: c once before and once now; New: nothing before, so it adds all it sold
    assert table.loc["South", "contribution_qoq"] == 20.0 - 100.0
    assert table.loc["New", "contribution_qoq"] == 40.0 and pd.isna(table.loc["New", "revenue_qoq"])
    assert section.revenue_by_period is not None
    by_period = section.revenue_by_period.set_index(["region", "period"])["net_revenue"]
    assert by_period[("North", "previous")] == 200.0 and by_period[("New", "current")] == 40.0
    said = {(f.kind, f.variant): f for f in section.findings}
    fell = said[("regions.growth", "down")]
    assert fell.figures["region"] == "South" and fell.bases == ("qoq", "yoy")
    assert text.sentence(fell) == "South shrank most: net revenue -80.0% on the previous quarter."
    assert said[("regions.contribution", None)].bases == ("qoq",)


def test_regions_that_stopped_selling_or_sold_almost_nothing_before():
    """Gone sold 60 before and nothing now: it takes 60 off the change and has no growth this
    quarter. Tiny sold 0.5 before and 10 now: +1,900%. Refunded's sales before were refunded
    to nothing (net 0): no growth on a zero base."""
    orders = pd.DataFrame(
        {
            "order_id": [str(i) for i in range(5)],
            "customer_id": ["g", "t", "t", "r", "r"],
            "order_ts": pd.to_datetime(
                ["2025-08-01", "2025-08-02", "2025-11-02", "2025-08-03", "2025-11-03"]
            ),
            "net_revenue": [60.0, 0.5, 10.0, 0.0, 25.0],
            "region": ["Gone", "Tiny", "Tiny", "Refunded", "Refunded"],
        }
    )
    table = regions.build_section(DuckDBEngine({"orders": orders}), CONFIG, PERIODS).table
    assert list(table.columns) == [
        "region",
        "net_revenue",
        "revenue_share",
        "revenue_qoq",
        "contribution_qoq",
        "revenue_yoy",
        "contribution_yoy",
        "customers",
        "new_customers",
        "aov",
        "repeat_rate",
        "repeat_change_qoq",
    ]
    rows = table.set_index("region")
    assert rows.loc["Gone", "contribution_qoq"] == -60.0 and pd.isna(
        rows.loc["Gone", "revenue_qoq"]
    )
    assert rows.loc["Tiny", "revenue_qoq"] == pytest.approx(10 / 0.5 - 1)
    assert pd.isna(rows.loc["Refunded", "revenue_qoq"])
    assert rows.loc["Refunded", "contribution_qoq"] == 25.0


def test_a_repeat_gap_is_material_in_percentage_points_and_growth_is_marked_material():
    """A 2 pp gap in repeat rate is material (0.5 pp is the threshold for rates), though 2% is
    far below the 10% for amounts."""
    table = pd.DataFrame(
        {
            "region": ["A", "B"],
            "revenue_qoq": [0.5, -0.02],
            "contribution_qoq": [50.0, -2.0],
            "repeat_rate": [0.32, 0.30],
        }
    )
    said = {(f.kind, f.variant): f for f in regions.findings(table, ("qoq",), CONFIG)}
    assert said[("regions.repeat_gap", None)].figures == pytest.approx(
        {"best": "A", "best_rate": 0.32, "worst": "B", "worst_rate": 0.30}
    )
    assert said[("regions.growth", "up")].material is True
