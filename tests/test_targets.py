"""Targets at every level, by hand: which targets a quarter's and a year's report show, each
actual recomputed with plain pandas on small tables (shop, month, channel, region, category),
attainment, the capped weighted score, annual targets added up from the quarters', the
alerts, the contract's checks on the targets file, and the index's words."""

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import AlertParams
from helpers.core.periods import Quarter, Year
from helpers.data.checks import coerce_and_check, target_violations
from helpers.data.contract import CONTRACT, TARGET_METRICS
from helpers.data.engines import DuckDBEngine
from helpers.render.index_page import alert_rows, scorecard_rows
from helpers.render.locale import Locale
from helpers.sections import pacing, targets
from helpers.sections.overview import HEADLINE_UNITS

ORDERS = pd.DataFrame(
    {
        "order_id": ["1", "2", "3", "4", "5", "6"],
        "customer_id": ["a", "b", "a", "c", "d", "b"],
        "order_ts": pd.to_datetime(
            ["2025-02-10", "2025-10-03", "2025-10-20", "2025-11-05", "2025-12-30", "2024-06-01"]
        ),
        "net_revenue": [50.0, 100.0, 60.0, 40.0, 200.0, 70.0],
        "cost": [20.0, 40.0, 30.0, 10.0, 150.0, 30.0],
        "channel": ["A", "A", "B", "A", "B", "A"],
        "region": ["North", "South", "North", "North", "South", "South"],
    }
)
ITEMS = pd.DataFrame(  # order 2 splits 3:1 between X and Y; order 5 is all Y
    {
        "order_id": ["2", "2", "3", "4", "5"],
        "sku": ["x1", "y1", "x1", "x2", "y1"],
        "quantity": [3.0, 1.0, 1.0, 2.0, 4.0],
        "unit_price": [10.0, 10.0, 70.0, 25.0, 50.0],
        "category": ["X", "Y", "X", "X", "Y"],
        "unit_cost": [4.0, 2.0, 30.0, 5.0, 30.0],
    }
)
TRAFFIC = pd.DataFrame(
    {
        "date": pd.to_datetime(["2025-10-01", "2025-11-01", "2025-10-01", "2025-02-01"]),
        "channel": ["A", "A", "B", "A"],
        "sessions": [100.0, 100.0, 50.0, 80.0],
        "users": [90.0, 90.0, 40.0, 70.0],
        "orders": [4.0, 2.0, 1.0, 1.0],
    }
)
T = pd.DataFrame(
    [
        # period, metric, target, channel, category, region, weight
        ("2025Q4", "net_revenue", 500.0, None, None, None, None),
        ("2025-10", "net_revenue", 150.0, None, None, None, None),
        ("2025-12", "net_revenue", 250.0, None, None, None, None),
        ("2025Q4", "net_revenue", 100.0, "A", None, None, None),
        ("2025Q4", "gross_margin", 50.0, None, "X", None, None),
        ("2025Q4", "orders", 2.0, None, None, "South", None),
        ("2025Q4", "sessions", 250.0, "A", None, None, None),
        ("2025Q4", "conversion_rate", 0.05, "A", None, None, None),
        ("2025", "net_revenue", 400.0, None, None, None, 3.0),
        ("2025", "new_customers", 5.0, None, None, None, 1.0),
        ("2025", "net_revenue", 300.0, "B", None, None, None),
        *[(f"2025Q{q}", "orders", 1.0, None, None, None, None) for q in (1, 2, 3, 4)],
        *[(f"2025Q{q}", "customers", 1.0, None, None, None, None) for q in (1, 2, 3, 4)],
        ("2024Q4", "net_revenue", 999.0, None, None, None, None),  # another period
    ],
    columns=["period", "metric", "target", "channel", "category", "region", "weight"],
)


@pytest.fixture(scope="module")
def engine():
    return DuckDBEngine({"orders": ORDERS, "order_items": ITEMS, "traffic": TRAFFIC})


def _card(engine, period, cap=120.0):
    card = targets.scorecard(engine, T, period, cap)
    return card.set_index(["period", "metric", "dimension", "member"])


def test_a_quarter_shows_its_own_targets_at_every_level_and_its_months(engine):
    card = _card(engine, Quarter(2025, 4))
    q4 = ORDERS[ORDERS["order_ts"] >= "2025-10-01"]
    assert card.loc[("2025Q4", "net_revenue", "", ""), "actual"] == q4["net_revenue"].sum()
    october = q4[q4["order_ts"] < "2025-11-01"]["net_revenue"].sum()
    assert card.loc[("2025-10", "net_revenue", "", ""), "actual"] == october  # 160
    assert card.loc[("2025-10", "net_revenue", "", ""), "attainment"] == pytest.approx(160 / 150)
    assert card.loc[("2025-12", "net_revenue", "", ""), "actual"] == 200.0
    assert card.loc[("2025Q4", "net_revenue", "channel", "A"), "actual"] == 140.0
    assert card.loc[("2025Q4", "orders", "region", "South"), "actual"] == 2.0
    # category X in Q4: 3/4 of order 2 (75) + order 3 (60) + order 4 (40); cost 12 + 30 + 10
    x_margin = (75.0 + 60.0 + 40.0) - (12.0 + 30.0 + 10.0)
    assert card.loc[("2025Q4", "gross_margin", "category", "X"), "actual"] == pytest.approx(
        x_margin
    )
    assert card.loc[("2025Q4", "sessions", "channel", "A"), "actual"] == 200.0
    assert card.loc[("2025Q4", "conversion_rate", "channel", "A"), "actual"] == pytest.approx(
        6 / 200
    )
    # the year's targets and the other quarters' are not this quarter's business
    assert {p for p, *_ in card.index} == {"2025Q4", "2025-10", "2025-12"}
    assert list(card.reset_index()["period"][:1]) == ["2025Q4"]  # the quarter before its months


def test_a_year_shows_its_targets_by_level_and_its_parts_for_the_whole_shop(engine):
    card = _card(engine, Year(2025))
    periods = {p for p, *_ in card.index}
    assert periods == {"2025", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2025-10", "2025-12"}
    assert ("2025Q4", "net_revenue", "channel", "A") not in card.index  # a quarter's channel
    year = ORDERS[ORDERS["order_ts"].dt.year == 2025]
    assert card.loc[("2025", "net_revenue", "", ""), "actual"] == year["net_revenue"].sum()
    new = ORDERS.groupby("customer_id")["order_ts"].min()
    assert card.loc[("2025", "new_customers", "", ""), "actual"] == (new.dt.year == 2025).sum()
    assert card.loc[("2025", "net_revenue", "channel", "B"), "actual"] == 260.0
    assert card.loc[("2025Q2", "orders", "", ""), "actual"] == 0.0  # nothing sold: 0, not NaN
    assert card.loc[("2025Q2", "orders", "", ""), "attainment"] == 0.0


def test_a_metric_the_data_cannot_measure_has_no_actual():
    engine = DuckDBEngine({"orders": ORDERS.drop(columns="region")})
    card = _card(engine, Quarter(2025, 4))
    assert np.isnan(card.loc[("2025Q4", "orders", "region", "South"), "actual"])  # no column
    assert np.isnan(card.loc[("2025Q4", "sessions", "channel", "A"), "actual"])  # no traffic
    assert np.isnan(card.loc[("2025Q4", "gross_margin", "category", "X"), "attainment"])


def test_the_weighted_score_caps_each_overshoot(engine):
    card = _card(engine, Year(2025), cap=120.0)
    revenue = card.loc[("2025", "net_revenue", "", "")]
    assert revenue["attainment"] == pytest.approx(450 / 400)
    assert revenue["score"] == pytest.approx(3.0 * 450 / 400)  # under the cap
    customers = card.loc[("2025", "new_customers", "", "")]  # a, c and d are new: 3 of 5
    assert customers["score"] == pytest.approx(1.0 * 3 / 5)
    expected = (3.0 * 450 / 400 + 1.0 * 3 / 5) / 4.0
    assert targets.weighted_score(card.reset_index()) == pytest.approx(expected)
    capped = _card(engine, Year(2025), cap=100.0).loc[("2025", "net_revenue", "", ""), "score"]
    assert capped == pytest.approx(3.0)  # 112.5% counts as 100%
    no_weights = targets.scorecard(engine, T.drop(columns="weight"), Quarter(2025, 4), 120)
    assert targets.weighted_score(no_weights) is None


def test_a_periods_own_targets_add_up_from_its_parts_where_it_has_none():
    year = targets.period_targets(T, Year(2025))
    assert year["net_revenue"] == 400.0  # given for the year itself
    assert year["orders"] == 4.0  # the four quarters' targets added up
    assert "customers" not in year  # distinct customers do not add up over quarters
    quarter = targets.period_targets(T, Quarter(2025, 4))
    assert quarter["net_revenue"] == 500.0  # given, though only two months have targets
    months = T[T["period"].isin(["2025-10", "2025-12"])]
    november = months.iloc[:1].assign(period="2025-11")
    from_months = targets.period_targets(pd.concat([months, november]), Quarter(2025, 4))
    assert from_months["net_revenue"] == 150.0 + 250.0 + 150.0
    assert targets.period_targets(None, Year(2025)) == {}


def test_a_missed_target_below_the_headline_alerts_in_words(engine):
    card = targets.scorecard(engine, T, Quarter(2025, 4), 120)
    records = targets.records(card)
    assert all("start" not in row and "end" not in row for row in records)
    assert targets.records(card.drop(columns=["start", "end"])) == records  # bounds optional
    assert any(row["weight"] is None for row in records)  # NaN as None, for JSON
    params = AlertParams(watch_pct=7.5, act_pct=15)
    found = pacing.target_alerts(records, "2025Q4", params)
    by_place = {(a["period"], a["metric"], a["member"]): a for a in found}
    assert ("2025Q4", "net_revenue", "") not in by_place  # the headline KPI's own alert
    assert by_place[("2025-12", "net_revenue", "")]["level"] == "act"  # 200 of 250: -20%
    assert by_place[("2025-10", "net_revenue", "")]["level"] == "on_track"  # beyond target
    assert by_place[("2025Q4", "orders", "South")]["level"] == "on_track"  # 2 of 2
    listed = pacing.report_alerts({}, [], params, found)
    assert [a["kind"] for a in listed][:1] == ["target"] and listed[0]["level"] == "act"
    assert all(a["level"] != "on_track" for a in listed)
    (row,) = [r for r in alert_rows(listed, Locale()) if "Dec 2025" in r["sentence"]]
    assert row["sentence"] == "Net revenue, Dec 2025: ¥200.00 against a target of ¥250.00 (-20.0%)."
    chinese = alert_rows(listed, Locale("zh-CN"))
    assert any("净销售额（2025年12月）" in r["sentence"] for r in chinese)


def test_the_index_names_each_targets_level(engine):
    card = targets.scorecard(engine, T, Quarter(2025, 4), 120)
    rows = scorecard_rows(targets.records(card), Locale())
    places = {(r["period"], r["where"], r["kpi"]) for r in rows}
    assert ("2025Q4", "Channel: A", "Net revenue") in places
    assert ("2025Q4", "Category: X", "Gross margin (net revenue - cost)") in places
    assert ("Oct 2025", "Whole shop", "Net revenue") in places
    conversion = next(r for r in rows if r["kpi"].startswith("Conversion"))
    assert (conversion["actual"], conversion["attainment"]) == ("3.00%", "60.0%")


def test_every_metric_a_target_may_name_has_a_unit_and_a_label():
    assert set(TARGET_METRICS) == set(HEADLINE_UNITS)
    for metric in TARGET_METRICS:
        for code in ("en", "zh-CN"):
            assert Locale(code).text(f"kpis.overview.{metric}")


def test_a_targets_file_is_checked_for_its_periods_after_its_values():
    """The targets' own rules come after the contract's (a negative weight first), in a
    coerced targets file, named by its file."""
    from helpers.data.checks import coerce_and_check
    from helpers.data.contract import CONTRACT

    bad = pd.DataFrame(
        {"period": ["2025Q4", "Oct 2025"], "metric": ["net_revenue"] * 2, "target": ["1", "2"]}
        | {"weight": ["-1", "1"]}
    )
    _, found = coerce_and_check(bad, CONTRACT["targets"], "my_targets.csv")
    assert [(v.file, v.column) for v in found] == [
        ("my_targets.csv", "weight"),
        ("my_targets.csv", "period"),
    ]


def test_the_targets_file_is_checked_row_by_row():
    bad = pd.DataFrame(
        {
            "period": ["2025Q4", "Oct 2025", "2025-10", "2025"],
            "metric": ["net_revenue", "net_revenue", "sessions", "revenue"],
            "target": [1.0, 1.0, 1.0, 1.0],
            "channel": ["A", None, None, None],
            "region": ["North", None, "North", None],
        }
    )
    found = [str(v) for v in target_violations(bad, "targets.csv")]
    assert found[0] == (
        "targets.csv [period]: malformed period (expected YYYY, YYYYQn or YYYY-MM) (1 rows) "
        "e.g. row 2: period='Oct 2025'"
    )
    assert found[1].startswith("targets.csv [metric]: metric not measured at this level; known: ")
    assert "; sessions (by channel); " in found[1]  # sessions by region; an unknown metric
    assert "; orders (by channel, region); " in found[1]
    assert found[1].endswith("(2 rows) e.g. row 3: metric='sessions'; row 4: metric='revenue'")
    assert found[2] == (
        "targets.csv [metric]: names more than one of channel, category, region (1 rows) "
        "e.g. row 1: metric='net_revenue'"
    )
    assert len(found) == 3
    assert target_violations(T.drop(columns="weight"), "targets.csv") == []
    only_required = pd.DataFrame({"period": ["2025"], "metric": ["sessions"], "target": [1.0]})
    assert target_violations(only_required, "targets.csv") == []  # no level: the whole shop


def test_a_target_missing_its_period_or_metric_is_reported_once_as_missing():
    raw = pd.DataFrame(
        {"period": [" ", "2025Q4"], "metric": ["net_revenue", None], "target": ["1", "2"]}
    )
    _, found = coerce_and_check(raw, CONTRACT["targets"], "targets.csv")
    assert [str(v) for v in found] == [
        "targets.csv [period]: missing value (1 rows) e.g. row 1: period=' '",
        "targets.csv [metric]: missing value (1 rows) e.g. row 2: metric=nan",
    ]


def test_a_targets_file_with_only_the_required_columns(engine):
    plain = T[T["channel"].isna() & T["category"].isna() & T["region"].isna()]
    card = targets.scorecard(engine, plain[["period", "metric", "target"]], Year(2025), 120)
    assert set(card["dimension"]) == {""} and card["weight"].isna().all()
    assert card["actual"].notna().all()


def test_the_scorecard_runs_from_the_year_to_its_months():
    card = targets.scorecard(DuckDBEngine({"orders": ORDERS}), T, Year(2025), 120)
    grains = card.drop_duplicates("period")["grain"].tolist()
    assert grains == ["year", "quarter", "quarter", "quarter", "quarter", "month", "month"]
    assert card["period"].iloc[0] == "2025" and card["dimension"].iloc[0] == ""
    backwards = targets.scorecard(DuckDBEngine({"orders": ORDERS}), T.iloc[::-1], Year(2025), 120)
    assert backwards.drop_duplicates("period")["grain"].tolist() == grains  # whatever the file


def test_targets_at_a_level_the_data_cannot_measure_have_no_actual():
    """Orders alone: no category (no order lines) and no sessions (no traffic) to measure;
    with neither orders nor traffic, nothing at any level."""
    card = targets.scorecard(DuckDBEngine({"orders": ORDERS}), T, Quarter(2025, 4), 120)
    unmeasured = (card["dimension"] == "category") | (card["metric"] == "sessions")
    assert unmeasured.any() and card.loc[unmeasured, "actual"].isna().all()
    assert card.loc[~unmeasured & (card["metric"] == "net_revenue"), "actual"].notna().all()
    nothing = DuckDBEngine({"marketing": pd.DataFrame({"spend": [1.0]})})  # no level measurable
    assert targets.scorecard(nothing, T, Quarter(2025, 4), 120)["actual"].isna().all()


def test_rates_and_margins_at_a_level_by_hand():
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4"],
            "customer_id": ["a", "b", "c", "d"],
            "order_ts": pd.to_datetime(["2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04"]),
            "net_revenue": [0.0, 0.5, 80.0, 40.0],
            "cost": [5.0, 0.1, 20.0, 10.0],
            "channel": ["Free", "Tiny", "Paid", "Paid"],
        }
    )
    rows = [("margin_rate", c) for c in ("Free", "Tiny", "Paid")] + [
        ("aov", "Tiny"),
        ("aov", "Paid"),
    ]
    wanted = pd.DataFrame(
        [("2025Q4", metric, 1.0, channel) for metric, channel in rows],
        columns=["period", "metric", "target", "channel"],
    )
    card = targets.scorecard(DuckDBEngine({"orders": orders}), wanted, Quarter(2025, 4), 120)
    got = card.set_index(["metric", "member"])["actual"]
    assert np.isnan(got[("margin_rate", "Free")])  # no revenue: no rate (not -inf)
    assert got[("margin_rate", "Tiny")] == pytest.approx(0.4 / 0.5)
    assert got[("margin_rate", "Paid")] == pytest.approx(90 / 120)
    assert got[("aov", "Tiny")] == 0.5 and got[("aov", "Paid")] == 60.0  # one order; two


def test_a_margin_without_costs_is_unknown_not_zero():
    no_cost = DuckDBEngine(
        {"orders": ORDERS.drop(columns="cost"), "order_items": ITEMS.drop(columns="unit_cost")}
    )
    wanted = pd.DataFrame(
        {
            "period": ["2025Q4", "2025Q4", "2025Q4"],
            "metric": ["gross_margin", "gross_margin", "net_revenue"],
            "target": [1.0, 1.0, 1.0],
            "category": [None, "X", "Z"],  # Z sold nothing: 0, not unknown
        }
    )
    card = targets.scorecard(no_cost, wanted, Quarter(2025, 4), 120)
    got = card.set_index(["metric", "member"])["actual"]
    assert np.isnan(got[("gross_margin", "")]) and np.isnan(got[("gross_margin", "X")])
    assert got[("net_revenue", "Z")] == 0.0


def test_the_whole_shops_sessions_and_a_year_of_monthly_targets():
    engine = DuckDBEngine({"orders": ORDERS, "traffic": TRAFFIC})
    wanted = pd.DataFrame(
        {
            "period": ["2025Q4", *[f"2025-{m:02d}" for m in range(1, 13)]],
            "metric": ["sessions", *["net_revenue"] * 12],
            "target": [200.0, *[10.0] * 12],
        }
    )
    card = targets.scorecard(engine, wanted, Quarter(2025, 4), 120).set_index("period")
    assert card.loc["2025Q4", "actual"] == 250.0  # every channel's sessions in the quarter
    assert targets.period_targets(wanted, Year(2025))["net_revenue"] == 120.0  # twelve months
    assert "net_revenue" not in targets.period_targets(wanted.iloc[:12], Year(2025))  # eleven


def test_beating_a_target_by_far_is_on_track():
    row = {"period": "2025-10", "metric": "orders", "dimension": "", "attainment": 1.5}
    (alert,) = pacing.target_alerts([row], "2025Q4", AlertParams(watch_pct=7.5, act_pct=15))
    assert (alert["level"], alert["deviation"]) == ("on_track", 0.5)


def test_one_order_line_is_an_actual_and_a_target_of_zero_has_no_attainment():
    """Category Z is one line in 2025Q4 (order 4, net 40); a zero target has no attainment.
    The shop's quarter comes before its months whatever the file's order, and the card
    carries no index column of its own."""
    items = ITEMS.assign(category=["X", "Y", "X", "Z", "Y"])
    engine = DuckDBEngine({"orders": ORDERS, "order_items": items, "traffic": TRAFFIC})
    few = pd.DataFrame(
        [
            ("2025-12", "net_revenue", 100.0, None, None, None, None),
            ("2025Q4", "net_revenue", 20.0, None, "Z", None, None),
            ("2025Q4", "net_revenue", 0.0, None, None, None, None),
        ],
        columns=T.columns,
    )
    card = targets.scorecard(engine, few, Quarter(2025, 4), 120.0)
    assert card["period"].tolist()[-1] == "2025-12" and "index" not in card
    rows = card.set_index(["period", "member"])
    assert rows.loc[("2025Q4", "Z"), "actual"] == 40.0
    assert rows.loc[("2025Q4", "Z"), "attainment"] == 2.0
    assert np.isnan(rows.loc[("2025Q4", ""), "attainment"])
