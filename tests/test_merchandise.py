"""Merchandise and gross margin, every figure recomputed by hand on a small order-lines table,
and the sample's planted structure (stopped SKUs, a pair bought together) found again."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import Quarter, comparison_periods
from helpers.data import queries
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.render import text
from helpers.sections import merchandise

from .conftest import PROJECT

PERIODS = comparison_periods(Quarter.parse("2025Q4"))

# Three orders this quarter, one the quarter before, one a year before.
# O1 (Q4): two lines, A-1 2 x 30 (cost 10 each) and B-1 1 x 40 (cost 30); net revenue 90
#   (discount 10 on gross 100): A-1 gets 60% (54.00), B-1 40% (36.00).
# O2 (Q4): A-1 1 x 50 (cost 20), net 50. O3 (Q4): B-2 1 x 20 (cost 5) and A-2 1 x 20 (cost 15),
#   net 40: 20 each. O4 (Q3): A-1 1 x 100 (cost 40), B-3 1 x 50 (cost 10), net 150. O5 (2024Q4):
#   B-3 1 x 80 (cost 20), net 80.
ORDERS = pd.DataFrame(
    {
        "order_id": ["O1", "O2", "O3", "O4", "O5"],
        "customer_id": ["c1", "c2", "c1", "c3", "c4"],
        "order_ts": pd.to_datetime(
            ["2025-11-11", "2025-12-01", "2025-10-05", "2025-08-01", "2024-11-11"]
        ),
        "net_revenue": [90.0, 50.0, 40.0, 150.0, 80.0],
        "discount": [10.0, 0.0, 0.0, 0.0, 0.0],
    }
)
LINES = pd.DataFrame(
    {
        "order_id": ["O1", "O1", "O2", "O3", "O3", "O4", "O4", "O5"],
        "sku": ["A-1", "B-1", "A-1", "B-2", "A-2", "A-1", "B-3", "B-3"],
        "category": ["A", "B", "A", "B", "A", "A", "B", "B"],
        "quantity": [2, 1, 1, 1, 1, 1, 1, 1],
        "unit_price": [30.0, 40.0, 50.0, 20.0, 20.0, 100.0, 50.0, 80.0],
        "unit_cost": [10.0, 30.0, 20.0, 5.0, 15.0, 40.0, 10.0, 20.0],
    }
)


@pytest.fixture(scope="module")
def lines():
    engine = DuckDBEngine({"orders": ORDERS, "order_items": LINES})
    return queries.merchandise_by_period(engine, PERIODS), engine


def test_lines_share_each_orders_net_revenue_by_value(lines):
    found, _ = lines
    now = found[found["period"] == "current"].set_index("sku")
    assert now.loc["A-1", "net_sales"] == pytest.approx(54.0 + 50.0)
    assert now.loc["B-1", "net_sales"] == pytest.approx(36.0)
    assert now.loc["A-1", "discount"] == pytest.approx(6.0)
    assert now.loc["A-1", "cost"] == pytest.approx(2 * 10 + 20)
    assert found.groupby("period")["net_sales"].sum()["current"] == pytest.approx(180.0)


def test_categories_and_their_contributions_by_hand(lines):
    found, _ = lines
    table = merchandise.by_item(found, "category").set_index("category")
    # A: now 54 + 50 + 20 = 124, cost 20 + 20 + 15 = 55; before (Q3) 100, cost 40
    assert table.loc["A", "net_sales_current"] == pytest.approx(124.0)
    assert table.loc["A", "margin_rate"] == pytest.approx((124 - 55) / 124)
    assert table.loc["A", "sales_qoq"] == pytest.approx(124 / 100 - 1)
    assert table.loc["A", "sales_contribution_qoq"] == pytest.approx(24.0)
    assert table.loc["A", "margin_contribution_qoq"] == pytest.approx((124 - 55) - (100 - 40))
    # B: now 36 + 20 = 56, before 50; a year ago 80
    assert table.loc["B", "sales_contribution_qoq"] == pytest.approx(6.0)
    assert table.loc["B", "sales_yoy"] == pytest.approx(56 / 80 - 1)
    total = table["sales_contribution_qoq"].sum()
    assert total == pytest.approx(180.0 - 150.0)  # the contributions add up to the change


def test_abc_concentration_and_movers_by_hand(lines):
    found, _ = lines
    skus = merchandise.by_item(found, "sku")
    skus["abc"] = merchandise.abc_classes(skus)
    classes = skus.set_index("sku")["abc"]
    # sales now: A-1 104, B-1 36, A-2 20, B-2 20 (a tie: by name) of 180: A-1 starts at 0%
    # (A), B-1 at 57.8% (A), A-2 at 77.8% (A), B-2 at 88.9% (B); B-3 sold nothing (C)
    assert classes.to_dict() == {"A-1": "A", "B-1": "A", "A-2": "A", "B-2": "B", "B-3": "C"}
    share = merchandise.concentration(skus)
    assert share["top_skus"] == 1 and share["sales_share"] == pytest.approx(104 / 180)
    moved = merchandise.movers(skus, falling_pct=30, min_sales=10).set_index("sku")
    assert moved.loc["B-3", "status"] == "stopped" and moved.loc["B-3", "at_stake"] == 50.0
    assert "A-1" not in moved.index  # it grew


def test_pairs_by_hand(lines):
    _, engine = lines
    q4 = Quarter.parse("2025Q4")
    pairs = merchandise.pair_table(queries.basket_pairs(engine, q4.start, q4.end, "category", 1))
    # orders of two or more categories: O1 (A, B) and O3 (A, B); both hold the pair
    row = pairs.iloc[0]
    assert (row["a"], row["b"], row["orders"], row["baskets"]) == ("A", "B", 2, 2)
    assert row["support"] == 1.0 and row["lift"] == 1.0 and row["confidence_ab"] == 1.0


def test_findings_quote_their_tables(lines):
    found, engine = lines
    categories = merchandise.by_item(found, "category")
    skus = merchandise.by_item(found, "sku")
    kpis = merchandise.headline_kpis(categories, skus)
    assert kpis["margin_rate"]["current"] == pytest.approx((180 - (40 + 30 + 20)) / 180)
    share = merchandise.concentration(skus)
    moved = merchandise.movers(skus, 30, 10)
    said = merchandise.findings(
        categories, kpis, share, moved, pd.DataFrame(), merchandise.discount_table(categories)
    )
    first = said[0]
    assert first.figures["category"] == "A" and first.figures["change"] == pytest.approx(24.0)
    assert first.stake == pytest.approx(24.0)
    assert text.sentence(first).startswith("A moved net sales most against the previous quarter")
    mover = next(f for f in said if f.kind == "merchandise.movers")
    assert mover.figures["stopped"] == ["B-3"] and mover.stake == pytest.approx(50.0)


def test_the_sample_plants_what_the_analysis_finds(tmp_path):
    """data/sample's manifest names the SKUs that stop selling and the pair bought together;
    the 2025Q4 section finds exactly those stopped SKUs, and that pair as the highest lift."""
    truth = json.loads((PROJECT / "data" / "sample" / "manifest.json").read_text())["assortment"]
    config = load_config(PROJECT / "params", "2025Q4", [])
    engine = DuckDBEngine(prepare_inputs(config).tables)
    section = merchandise.build_section(engine, config, comparison_periods(config.period))
    stopped = section.movers.loc[section.movers["status"] == "stopped", "sku"]
    assert sorted(stopped) == sorted(truth["stopped_skus"])
    top = section.category_pairs.iloc[0]
    assert sorted([top["a"], top["b"]]) == truth["bought_together"] and top["lift"] > 1
    margins = section.categories.set_index("category")["margin_rate"]
    planted = pd.Series(truth["category_margins"])
    # each category's margin rate is its planted one, less the discounts it shares (< 10 pp)
    assert ((planted - margins[planted.index]).between(0, 0.1)).all()
    assert np.isclose(
        section.categories["net_sales_current"].sum(), section.kpis["net_sales"]["current"]
    )


def test_gross_margin_on_the_index_and_by_channel_by_hand():
    """Orders this quarter: web 100 (cost 40) and 50 (cost 30), app 80 (cost 20); the quarter
    before: web 60 (cost 30). Gross margin = net revenue - cost."""
    from helpers.sections import overview, traffic

    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4"],
            "customer_id": ["a", "b", "c", "a"],
            "order_ts": pd.to_datetime(["2025-10-02", "2025-11-03", "2025-12-04", "2025-08-01"]),
            "net_revenue": [100.0, 50.0, 80.0, 60.0],
            "cost": [40.0, 30.0, 20.0, 30.0],
            "channel": ["web", "web", "app", "web"],
        }
    )
    engine = DuckDBEngine({"orders": orders})
    kpis = overview.headline_kpis(engine, PERIODS)
    assert kpis["gross_margin"]["current"] == pytest.approx(230 - 90)
    assert kpis["margin_rate"]["current"] == pytest.approx(140 / 230)
    assert kpis["gross_margin"]["qoq"] == pytest.approx(140 / 30 - 1)
    margins = traffic.channel_margins(engine, PERIODS).set_index("channel")
    assert margins.loc["web", "gross_margin"] == pytest.approx(80.0)
    assert margins.loc["app", "margin_rate"] == pytest.approx(60 / 80)
    without_cost = DuckDBEngine({"orders": orders.drop(columns="cost")})
    assert "gross_margin" not in overview.headline_kpis(without_cost, PERIODS)
    assert traffic.channel_margins(without_cost, PERIODS) is None


def test_every_headline_figure_of_every_period_by_hand(lines):
    found, _ = lines
    kpis = merchandise.headline_kpis(
        merchandise.by_item(found, "category"), merchandise.by_item(found, "sku")
    )
    # now: 180 net, cost 40 + 30 + 5 + 15 = 90; Q3: 150, cost 50; a year ago: B-3 alone, 80, 20
    assert {p: kpis["net_sales"][p] for p in ("current", "previous", "year_ago")} == {
        "current": pytest.approx(180.0),
        "previous": pytest.approx(150.0),
        "year_ago": pytest.approx(80.0),
    }
    assert kpis["gross_margin"]["year_ago"] == pytest.approx(60.0)
    assert kpis["gross_margin"]["unit"] == "currency" and kpis["margin_rate"]["unit"] == "rate"
    assert kpis["margin_rate"]["previous"] == pytest.approx(100 / 150)
    assert kpis["skus_sold"]["current"] == 4 and kpis["skus_sold"]["year_ago"] == 1


def test_discounts_by_category_by_hand(lines):
    found, _ = lines
    table = merchandise.discount_table(merchandise.by_item(found, "category"))
    # O1's discount of 10 is shared 6 to A-1 and 4 to B-1. A: 124 net, 130 before the
    # discount, cost 55; B: 56 net, 60 before, cost 35
    assert list(table["category"]) == ["B", "A"]  # deepest discount first
    row = table.set_index("category").loc["A"]
    assert row["discount_rate"] == pytest.approx(6 / 130)
    assert row["margin_rate_before_discount"] == pytest.approx((130 - 55) / 130)
    assert row["margin_rate"] == pytest.approx((124 - 55) / 124)


def _skus(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for period in ("current", "previous", "year_ago"):
        if f"net_sales_{period}" not in frame:
            frame[f"net_sales_{period}"] = np.nan
    return frame


def test_abc_edges_concentration_and_movers_thresholds():
    # ABC: 80 starts at 0% (A), 15 at exactly 80% (B), 5 at exactly 95% (C); a negative
    # or zero seller is C
    skus = _skus(sku=list("abcde"), net_sales_current=[80.0, 15.0, 5.0, 0.0, -3.0])
    assert list(merchandise.abc_classes(skus)) == ["A", "B", "C", "C", "C"]
    ten = _skus(
        sku=[f"s{i}" for i in range(10)],
        net_sales_current=[50.0, 30.0] + [5.0] * 8,
        margin_current=[10.0, 20.0] + [5.0] * 8,
    )
    assert merchandise.concentration(ten) == {
        "skus": 10,
        "top_skus": 2,  # a fifth of ten
        "sales_share": pytest.approx(80 / 120),
        "margin_share": pytest.approx(30 / 70),
    }
    edges = _skus(
        sku=["exactly", "just", "small", "gone", "long gone", "rose", "at min"],
        net_sales_previous=[100.0, 100.0, 9.0, 5.0, np.nan, 100.0, 10.0],
        net_sales_current=[70.0, 69.9, 1.0, np.nan, 0.0, 131.0, 13.1],
        net_sales_year_ago=[np.nan, np.nan, np.nan, np.nan, 40.0, np.nan, np.nan],
    )
    moved = merchandise.movers(edges, 30, 10).set_index("sku")
    assert moved["status"].to_dict() == {
        "gone": "stopped",
        "long gone": "stopped",
        "just": "falling",
    }
    assert moved.loc["long gone", "at_stake"] == 40.0  # what it sold a year before
    assert moved.loc["just", "at_stake"] == pytest.approx(30.1)
    assert list(moved.index) == ["long gone", "just", "gone"]  # most at stake first
    rising = merchandise.risers(edges, 30, 10).set_index("sku")
    assert rising["gain"].to_dict() == {"rose": pytest.approx(31.0), "at min": pytest.approx(3.1)}


def test_pair_table_by_hand():
    pairs = pd.DataFrame(
        {"a": ["y", "x"], "b": ["z", "y"], "orders": [2.0, 8.0]}
        | {"orders_a": [32.0, 16.0], "orders_b": [4.0, 32.0], "baskets": [64.0, 64.0]}
    )
    table = merchandise.pair_table(pairs)
    # x+y: support 1/8, lift (1/8) / (1/4 x 1/2) = 1; y+z: (1/32) / (1/2 x 1/16) = 1 too, so
    # the pair with more orders comes first, and the index follows the order
    assert list(table.index) == [0, 1] and list(table["a"]) == ["x", "y"]
    assert list(table["lift"]) == [1.0, 1.0]
    assert table.loc[0, "confidence_ab"] == 0.5 and table.loc[0, "confidence_ba"] == 0.25
    assert table.loc[1, "support"] == 1 / 32


def test_every_finding_states_its_tables_figures(lines):
    found, _ = lines
    categories = merchandise.by_item(found, "category")
    skus = merchandise.by_item(found, "sku")
    kpis = merchandise.headline_kpis(categories, skus)
    share = merchandise.concentration(skus)
    moved = merchandise.movers(skus, 30, 10)
    pairs = merchandise.pair_table(
        pd.DataFrame({"a": ["A"], "b": ["B"], "orders": [2.0], "orders_a": [2.0]}).assign(
            orders_b=2.0, baskets=4.0
        )
    )  # lift 0.5 / (0.5 x 0.5) = 2
    discounts = merchandise.discount_table(categories)
    said = {
        f.kind: f for f in merchandise.findings(categories, kpis, share, moved, pairs, discounts)
    }
    assert said["merchandise.contribution"].figures["total_change"] == pytest.approx(30.0)
    assert said["merchandise.contribution"].figures["margin_change"] == pytest.approx(9.0)
    assert said["merchandise.margin_rate"].figures == {
        "rate": pytest.approx(90 / 180),
        "change": pytest.approx(90 / 180 - 100 / 150),
    }
    assert said["merchandise.concentration"].figures == share
    assert said["merchandise.movers"].figures["falling"] == 0
    assert said["merchandise.pair"].figures == {
        "a": "A",
        "b": "B",
        "lift": pytest.approx(2.0),
        "confidence": pytest.approx(1.0),
    }
    deepest = said["merchandise.discount"].figures
    assert deepest["category"] == "B" and deepest["discount_rate"] == pytest.approx(4 / 60)
    assert deepest["margin_after"] == pytest.approx((56 - 35) / 56)
    for finding in said.values():  # every one has words
        assert text.sentence(finding)
    no_lift = pairs.assign(lift=1.0)
    kinds = {
        f.kind for f in merchandise.findings(categories, kpis, share, moved, no_lift, discounts)
    }
    assert "merchandise.pair" not in kinds  # as often as chance is no cross-sell


def test_the_section_assembles_its_tables(lines):
    from helpers.core.config import MerchandiseParams

    _, engine = lines
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(
        update={"merchandise": MerchandiseParams(sku_change_pct=30, min_sku_sales=10)}
    )
    section = merchandise.build_section(engine, config, PERIODS)
    found = queries.merchandise_by_period(engine, PERIODS)
    assert section.categories.set_index("category")["skus"].to_dict() == {"A": 2, "B": 3}
    assert list(section.skus["abc"]) == ["A", "A", "A", "B", "C"]
    assert section.concentration == merchandise.concentration(section.skus)
    assert list(section.movers["sku"]) == ["B-3"] and section.risers.empty
    pd.testing.assert_frame_equal(
        section.category_periods, merchandise.by_period(found, "category")
    )
    assert list(section.category_pairs[["a", "b"]].iloc[0]) == ["A", "B"]
    assert section.discounts["category"].tolist() == ["B", "A"]
    assert section.kpis["net_sales"]["current"] == pytest.approx(180.0)
    assert [f.kind for f in section.findings][:3] == [
        "merchandise.contribution",
        "merchandise.margin_rate",
        "merchandise.concentration",
    ]


def test_a_category_pair_bought_together_once_is_shown():
    """O2 gains a line of category C: A and C are bought together in one order, which is
    enough for a category pair (SKU pairs need the parameters' minimum)."""
    extra = pd.DataFrame(
        {
            "order_id": ["O2"],
            "sku": ["C-1"],
            "category": ["C"],
            "quantity": [1],
            "unit_price": [10.0],
            "unit_cost": [5.0],
        }
    )
    engine = DuckDBEngine({"orders": ORDERS, "order_items": pd.concat([LINES, extra])})
    config = load_config(PROJECT / "params", "2025Q4", [])
    section = merchandise.build_section(engine, config, PERIODS)
    pairs = section.category_pairs.set_index(["a", "b"])["orders"]
    assert pairs.to_dict() == {("A", "B"): 2, ("A", "C"): 1}


def test_keys_units_shares_and_contributions_of_items_that_come_and_go(lines):
    found, _ = lines
    categories = merchandise.by_item(found, "category")
    kpis = merchandise.headline_kpis(categories, merchandise.by_item(found, "sku"))
    assert {name: (r["key"], r["unit"]) for name, r in kpis.items()} == {
        "net_sales": ("merchandise.net_sales", "currency"),
        "gross_margin": ("merchandise.gross_margin", "currency"),
        "margin_rate": ("merchandise.margin_rate", "rate"),
        "skus_sold": ("merchandise.skus_sold", "count"),
    }
    shares = categories.set_index("category")["sales_share"]
    assert shares["A"] == pytest.approx(124 / 180) and shares.sum() == pytest.approx(1.0)
    skus = merchandise.by_item(found, "sku").set_index("sku")
    assert skus.loc["B-1", "sales_contribution_qoq"] == pytest.approx(36.0)  # new this quarter
    assert skus.loc["B-3", "sales_contribution_qoq"] == pytest.approx(-50.0)  # gone
    assert skus.loc["B-3", "margin_contribution_qoq"] == pytest.approx(-(50.0 - 10.0))
    assert np.isnan(skus.loc["B-1", "sales_qoq"])  # no percent change on nothing


def test_findings_name_their_basis_count_what_fell_and_skip_no_discount(lines):
    found, _ = lines
    categories = merchandise.by_item(found, "category")
    kpis = merchandise.headline_kpis(categories, merchandise.by_item(found, "sku"))
    moved = pd.DataFrame(
        {"sku": ["X", "Y"], "status": ["stopped", "falling"], "at_stake": [40.0, 12.5]}
    )
    none = merchandise.discount_table(categories).assign(discount_rate=0.0)
    said = {
        f.kind: f for f in merchandise.findings(categories, kpis, {}, moved, pd.DataFrame(), none)
    }
    assert said["merchandise.movers"].figures == {
        "stopped": ["X"],
        "falling": 1,
        "at_stake": pytest.approx(52.5),
    }
    for kind in ("merchandise.contribution", "merchandise.margin_rate", "merchandise.movers"):
        assert said[kind].bases == ("qoq",)
    assert "merchandise.discount" not in said  # no discount, nothing to say


def test_the_section_uses_its_parameters(lines):
    from helpers.core.config import MerchandiseParams

    _, engine = lines
    params = MerchandiseParams(sku_change_pct=2, min_sku_sales=10, min_pair_orders=1)
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(
        update={"merchandise": params}
    )
    section = merchandise.build_section(engine, config, PERIODS)
    assert section.risers.set_index("sku")["gain"].to_dict() == {"A-1": pytest.approx(4.0)}
    assert sorted(zip(section.sku_pairs["a"], section.sku_pairs["b"], strict=True)) == [
        ("A-1", "B-1"),
        ("A-2", "B-2"),
    ]
    assert section.skus.set_index("sku")["category"].to_dict() == {
        "A-1": "A",
        "A-2": "A",
        "B-1": "B",
        "B-2": "B",
        "B-3": "B",
    }
    assert section.findings[2].figures == section.concentration


def test_movers_and_risers_at_their_edges():
    """Stopped needs some sales before (0.5 is some; nothing ever is not); falling starts at
    exactly the minimum, and a SKU down to 0.5 is falling, not stopped; rising needs more
    than the rise (125 on 100 at 25% is not more), and risers come largest gain first."""
    skus = _skus(
        sku=["tiny", "never", "at min", "trickle", "flat", "big", "small"],
        net_sales_previous=[0.5, np.nan, 10.0, 100.0, 100.0, 100.0, 10.0],
        net_sales_current=[0.0, 0.0, 6.0, 0.5, 125.0, 200.0, 20.0],
    )
    moved = merchandise.movers(skus, 30, 10).set_index("sku")
    assert moved["status"].to_dict() == {
        "trickle": "falling",
        "at min": "falling",
        "tiny": "stopped",
    }
    assert moved.loc["tiny", "at_stake"] == 0.5
    assert list(moved.index) == ["trickle", "at min", "tiny"]  # most at stake first
    rising = merchandise.risers(skus, 25, 10)
    assert list(rising["sku"]) == ["big", "small"] and list(rising["gain"]) == [100.0, 10.0]
    # below a minimum of 0.5: a SKU new this quarter or gone from it neither rises nor falls
    sparse = _skus(
        sku=["new", "vanished"], net_sales_previous=[np.nan, 0.6], net_sales_current=[5.0, np.nan]
    )
    assert merchandise.risers(sparse, 30, 0.5).empty
    assert merchandise.risers(sparse, 30, 0)["sku"].tolist() == ["new"]  # from nothing, at 0


def test_abc_with_a_negative_seller_a_small_first_seller_and_its_own_index():
    skus = _skus(sku=list("abcd"), net_sales_current=[80.0, 15.0, 5.0, -20.0])
    assert list(merchandise.abc_classes(skus)) == ["A", "B", "C", "C"]  # returns add nothing
    unsorted = _skus(sku=list("xyzw"), net_sales_current=[0.5, 80.0, 19.5, np.nan])
    unsorted.index = ["x", "y", "z", "w"]
    classes = merchandise.abc_classes(unsorted)
    assert classes.to_dict() == {"x": "A", "y": "A", "z": "B", "w": "C"}
    zero_first = _skus(sku=list("pqr"), net_sales_current=[0.0, 80.0, 20.0])
    assert list(merchandise.abc_classes(zero_first)) == ["C", "A", "B"]
    selling = _skus(
        sku=list("abcd"), net_sales_current=[50.0, 30.0, 0.5, 0.0], margin_current=[5.0] * 4
    )
    assert merchandise.concentration(selling)["skus"] == 3  # 0.5 sells; 0 does not


def test_sales_by_period_discounts_on_small_or_returned_sales_and_pair_columns():
    lines = pd.DataFrame(
        {
            "category": ["A", "A", "B"],
            "period": ["current", "current", "previous"],
            "net_sales": [10.0, 5.0, 8.0],
            "cost": [4.0, 1.0, 3.0],
        }
    )
    table = merchandise.by_period(lines, "category")
    assert table.to_dict("list") == {
        "category": ["A", "B"],
        "period": ["current", "previous"],
        "net_sales": [15.0, 8.0],
        "cost": [5.0, 3.0],
        "margin": [10.0, 5.0],
    }
    categories = pd.DataFrame(
        {
            "category": ["small", "returned"],
            "net_sales_current": [0.25, -5.0],
            "discount_current": [0.25, 5.0],
            "cost_current": [0.1, 0.0],
            "margin_rate": [0.6, np.nan],
        }
    )
    discounts = merchandise.discount_table(categories).set_index("category")
    assert discounts.loc["small", "discount_rate"] == 0.5  # 0.25 off 0.5
    assert discounts.loc["small", "margin_rate_before_discount"] == pytest.approx(0.4 / 0.5)
    assert discounts.loc["returned"].drop("margin_rate").isna().all()  # nothing sold before it
    pairs = pd.DataFrame(
        {"a": ["x"], "b": ["y"], "orders": [2.0], "orders_a": [4.0]}
        | {"orders_b": [4.0], "baskets": [8.0]}
    )
    assert "index" not in merchandise.pair_table(pairs)


# SKUs at the edges of every rate, by hand. This quarter: "zero" sold nothing after a
# discount of 10 (cost 3); "back" 4 (cost 1) after nothing the quarter before; "half" 0.50
# (cost 0.20) both quarters; "new" 8 (cost 5), new; "free" nothing, no discount (cost 1).
# The quarter before: "zero" 2 (cost 1) and "gone" -2.50 (returns), so its total is 0.
# Nothing a year ago. Categories: "zero" alone in A, "free" alone in C, the rest in B.
EDGES = pd.DataFrame(
    {
        "sku": ["zero", "back", "half", "new", "free", "zero", "back", "half", "gone"],
        "category": ["A", "B", "B", "B", "C", "A", "B", "B", "B"],
        "period": ["current"] * 5 + ["previous"] * 4,
        "net_sales": [0.0, 4.0, 0.5, 8.0, 0.0, 2.0, 0.0, 0.5, -2.5],
        "units": [1, 1, 1, 2, 1, 1, 1, 1, 1],
        "cost": [3.0, 1.0, 0.2, 5.0, 1.0, 1.0, 0.0, 0.1, 0.0],
        "discount": [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    }
)


def test_rates_and_changes_on_nothing_on_a_little_and_on_a_missing_period():
    """No margin rate or change on nothing (NaN, never an infinity), but on 0.50 there are;
    a SKU new this quarter contributes all its margin; a period without lines keeps its
    columns; a total of nothing has no margin rate."""
    skus = merchandise.by_item(EDGES, "sku").set_index("sku")
    assert np.isnan(skus.loc["zero", "margin_rate"]) and skus.loc["zero", "sales_qoq"] == -1
    assert np.isnan(skus.loc["back", "sales_qoq"])  # from nothing
    assert skus.loc["half", "margin_rate"] == pytest.approx(0.6)  # (0.50 - 0.20) / 0.50
    assert skus.loc["half", "sales_qoq"] == 0.0
    assert skus.loc["new", "margin_contribution_qoq"] == pytest.approx(3.0)
    assert skus["net_sales_year_ago"].isna().all() and skus["margin_year_ago"].isna().all()
    categories = merchandise.by_item(EDGES, "category")
    kpis = merchandise.headline_kpis(categories, merchandise.by_item(EDGES, "sku"))
    assert kpis["skus_sold"]["current"] == 3  # 0.50 sold; nothing did not
    assert kpis["margin_rate"]["current"] == pytest.approx((12.5 - 10.2) / 12.5)
    assert kpis["margin_rate"]["previous"] is None  # 0 of sales: no rate


def test_a_category_sold_at_a_full_discount_is_the_deepest():
    """A: all 10 discounted away (rate 100%, margin after it unknown); C: no sales before or
    after a discount, so no rates at all (NaN, never -inf); B: no discount."""
    categories = merchandise.by_item(EDGES, "category")
    discounts = merchandise.discount_table(categories).set_index("category")
    assert discounts.loc["A", "discount_rate"] == 1.0
    assert discounts.loc["A", "margin_rate_before_discount"] == pytest.approx(0.7)
    assert np.isnan(discounts.loc["A", "margin_rate"])
    assert discounts.loc["C"].isna().all() and discounts.loc["B", "discount_rate"] == 0
    kpis = merchandise.headline_kpis(categories, merchandise.by_item(EDGES, "sku"))
    said = merchandise.findings(
        categories, kpis, {}, pd.DataFrame(), pd.DataFrame(), discounts.reset_index()
    )
    (deepest,) = [f for f in said if f.kind == "merchandise.discount"]
    assert deepest.figures["category"] == "A" and deepest.figures["discount_rate"] == 1.0


def test_a_shop_less_than_a_year_old_has_a_merchandise_section():
    """No order line a year before the quarter (this raised KeyError): those figures are
    unknown, the rest stand."""
    young = DuckDBEngine(
        {
            "orders": ORDERS[ORDERS["order_id"] != "O5"],
            "order_items": LINES[LINES["order_id"] != "O5"],
        }
    )
    config = load_config(PROJECT / "params", "2025Q4", [])
    kpis = merchandise.build_section(young, config, PERIODS).kpis
    assert kpis["net_sales"]["year_ago"] is None and kpis["net_sales"]["yoy"] is None
    assert kpis["net_sales"]["current"] == pytest.approx(180.0)


def test_a_sku_sold_under_two_categories_is_one_row():
    relabelled = LINES.assign(category=LINES["category"].mask(LINES["order_id"] == "O2", "B"))
    engine = DuckDBEngine({"orders": ORDERS, "order_items": relabelled})
    section = merchandise.build_section(
        engine, load_config(PROJECT / "params", "2025Q4", []), PERIODS
    )
    assert section.skus["sku"].is_unique and len(section.skus) == LINES["sku"].nunique()
    assert section.skus.set_index("sku").loc["A-1", "net_sales_current"] == pytest.approx(104.0)


def test_a_sku_falling_from_at_least_the_minimum_is_a_mover():
    """Without O2, A-1 sells 54 after 100: falling (more than 2% down from at least 10); at a
    minimum of 101 it is not. B-3 stopped whatever the minimum."""
    from helpers.core.config import MerchandiseParams

    kept = ORDERS["order_id"] != "O2"
    engine = DuckDBEngine({"orders": ORDERS[kept], "order_items": LINES[LINES["order_id"] != "O2"]})
    config = load_config(PROJECT / "params", "2025Q4", [])
    for minimum, expected in (
        (10, {"A-1": "falling", "B-3": "stopped"}),
        (101, {"B-3": "stopped"}),
    ):
        params = MerchandiseParams(sku_change_pct=2, min_sku_sales=minimum, min_pair_orders=1)
        with_params = config.model_copy(update={"merchandise": params})
        section = merchandise.build_section(engine, with_params, PERIODS)
        assert section.movers.set_index("sku")["status"].to_dict() == expected
