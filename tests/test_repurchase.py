"""Repurchase helpers on hand-built orders; every expected value is worked out by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from helpers.core.config import load_config
from helpers.core.errors import Reason
from helpers.core.periods import Quarter, comparison_periods
from helpers.data import queries, second_orders
from helpers.data.engines import DuckDBEngine
from helpers.render import text
from helpers.sections import repurchase, segments
from tests.conftest import PROJECT
from tests.scoring import migrated, segment_table_of, segmented

# A: Jan 5, Jan 20, Apr 10 2025; B: Dec 1 2024, Feb 1 2025; C: Mar 3 2025
ORDERS = pd.DataFrame(
    {
        "order_id": ["1", "2", "3", "4", "5", "6"],
        "customer_id": ["A", "A", "A", "B", "B", "C"],
        "order_ts": pd.to_datetime(
            ["2025-01-05", "2025-01-20", "2025-04-10", "2024-12-01", "2025-02-01", "2025-03-03"]
        ),
        "net_revenue": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        "channel": ["Email", "Email", "Email", "Paid", "Paid", "Paid"],
        "is_member": [True, True, True, False, False, False],
    }
)
END = pd.Timestamp("2025-07-01")


@pytest.fixture
def engine():
    return DuckDBEngine({"orders": ORDERS})


def test_repeat_and_returning_rates(engine):
    by_period = queries.repurchase_by_period(engine, END)
    by = repurchase.add_rates(by_period["quarter"]).set_index("period")
    q1, q2 = by.loc[pd.Timestamp("2025-01-01")], by.loc[pd.Timestamp("2025-04-01")]
    assert (q1["customers"], q1["repeat_rate"], q1["returning_rate"]) == (3, 1 / 3, 1 / 3)
    assert (q2["customers"], q2["repeat_rate"], q2["returning_rate"]) == (1, 0, 1)
    months = by_period["month"].set_index("period")  # B in Dec, A twice in Jan, B, C, A
    assert months["customers"].tolist() == [1, 1, 1, 1, 1]
    assert months["repeat_customers"].tolist() == [0, 1, 0, 0, 0]
    assert months["returning_customers"].tolist() == [0, 0, 1, 0, 1]


def test_cohort_retention_and_cumulative_revenue(engine):
    activity = queries.cohort_activity(engine, "quarter", END)
    retention, cumulative = repurchase.cohort_matrices(
        activity, "quarter", pd.Timestamp("2025-04-01"), 2
    )
    q4, q1 = pd.Timestamp("2024-10-01"), pd.Timestamp("2025-01-01")
    assert retention.loc[q4].tolist() == [1.0, 1.0, 0.0]  # B bought in Dec and Feb, not in Q2
    assert retention.loc[q1, [0, 1]].tolist() == [1.0, 0.5] and np.isnan(retention.loc[q1, 2])
    assert cumulative.loc[q1, [0, 1]].tolist() == [(10 + 20 + 60) / 2, (10 + 20 + 60 + 30) / 2]
    # Q4's cohort bought nothing in its third quarter: its cumulative revenue stays
    assert cumulative.loc[q4, 2] == cumulative.loc[q4, 1] > cumulative.loc[q4, 0]
    last_in_range = repurchase.cohort_matrices(activity, "quarter", pd.Timestamp("2025-04-01"), 1)
    assert last_in_range[0].loc[q4].tolist() == [1.0, 1.0]  # k = max_periods is shown
    monthly = queries.cohort_activity(engine, "month", END)
    december = monthly[monthly["cohort"] == pd.Timestamp("2024-12-01")]
    assert december.set_index("k")["active"].to_dict() == {0: 1.0, 2: 1.0}
    # on 2025-01-01 December's cohort has reached one month after its own, across the year
    by_month, _ = repurchase.cohort_matrices(monthly, "month", pd.Timestamp("2025-01-01"), 2)
    row = by_month.loc[pd.Timestamp("2024-12-01")]
    assert row[[0, 1]].tolist() == [1.0, 0.0] and np.isnan(row[2])


def test_cohorts_against_a_year_earlier():
    index = pd.to_datetime(["2024-01-01", "2024-04-01", "2025-01-01", "2025-04-01"])
    retention = pd.DataFrame({0: 1.0, 1: [0.40, 0.30, 0.35, 0.36]}, index=index)
    table = repurchase.cohorts_against_a_year_earlier(retention, recent=2)
    assert table["cohort"].tolist() == ["2025-01", "2025-04"]
    assert table["year_earlier_cohort"].tolist() == ["2024-01", "2024-04"]
    np.testing.assert_allclose(table["change_pp"], [-5.0, 6.0])


def test_time_to_second_order(engine):
    second = queries.second_orders(engine, END).set_index("customer_id")
    assert second.loc["A", "days_to_second"] == 15 and second.loc["B", "days_to_second"] == 62
    assert np.isnan(second.loc["C", "days_to_second"])
    second_orders.keep(engine, "second", END)
    shares = second_orders.shares(engine, "second", END, [30, 90])
    assert shares["share"].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert shares["customers"].tolist() == [3, 3]
    by_channel = second_orders.days_by_channel(engine, "second")
    assert by_channel.set_index("acquisition_channel")["median_days"].to_dict() == {
        "Email": 15,
        "Paid": 62,
    }
    assert by_channel["repeat_customers"].tolist() == [1, 1]
    april = pd.Timestamp("2025-04-01")
    second_orders.keep(engine, "second_in_april", april)
    young = second_orders.shares(engine, "second_in_april", april, [30]).iloc[0]
    # C joined 29 days before April: only A (15 days) and B (62 days) had a full window
    assert (young["customers"], young["share"]) == (2, 0.5)
    nobody = second_orders.shares(engine, "second_in_april", april, [400]).iloc[0]
    assert nobody["customers"] == 0 and np.isnan(nobody["share"])
    days = queries.evenly_spaced(engine, "second", "days_to_second", 10)
    assert days.tolist() == [15, 62]  # A and B, in customer order; C never ordered again
    assert queries.evenly_spaced(engine, "second", "days_to_second", 1).tolist() == [15]


def test_rfm_scores_and_segment_map():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "recency_days": [1.0, 5.0, 10.0, 100.0, 1000.0],
            "orders": [1.0, 1.0, 1.0, 2.0, 5.0],
            "revenue": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    scored = segmented(customers, bins=5)
    assert scored["r_score"].tolist() == [5, 4, 3, 2, 1]
    assert scored["f_score"].tolist() == [1, 1, 1, 4, 5]  # ties share the lowest rank
    assert scored["m_score"].tolist() == [1, 2, 3, 4, 5]
    assert scored["r_score"].dtype == "int64" and scored["segment"].tolist() == [
        "New",
        "Promising",
        "About to sleep",
        "At risk",
        "Can't lose",
    ]


@pytest.mark.parametrize("bins", [3, 5, 7])
def test_rfm_scores_are_pandas_percentile_ranks_ties_sharing_the_lowest(bins):
    """2,000 customers with few distinct recencies and order counts (ties everywhere) and
    revenues with some repeated: each score is ceil(rank / customers x bins), rank as pandas'
    rank(method="min"), worst values first (the longest recency, the fewest orders, the least
    revenue)."""
    rng = np.random.default_rng(11)
    size = 2000
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(size)],
            "recency_days": rng.integers(0, 40, size).astype(float),
            "orders": rng.geometric(0.5, size).astype(float),
            "revenue": rng.choice(rng.gamma(2.0, 50.0, 1500).round(2), size),
        }
    )
    scored = segmented(customers, bins=bins).set_index("customer_id").loc[customers["customer_id"]]
    for score, column, ascending in (
        ("r_score", "recency_days", False),
        ("f_score", "orders", True),
        ("m_score", "revenue", True),
    ):
        rank = customers[column].rank(method="min", ascending=ascending)
        expected = np.ceil(rank / size * bins).astype("int64")
        assert scored[score].tolist() == expected.tolist(), score
        assert set(expected) == set(range(1, bins + 1)) or column == "orders"


def test_migration_flows_and_revenue():
    previous = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "segment": pd.Categorical(["Loyal", "Champions", "At risk", "Lost"], segments.SEGMENTS),
        }
    )
    current = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "segment": pd.Categorical(
                ["Champions", "Champions", "Hibernating", "Lost", "New"],
                segments.SEGMENTS,
                ordered=True,
            ),
            "window_revenue": [100.0, 50.0, 0.0, 0.0, 30.0],
        }
    )
    matrix, flows = migrated(previous, current)
    f = flows.set_index("flow")
    assert f["customers"].to_dict() == {
        "New": 1,
        "Moved up": 1,
        "Stayed": 2,
        "Moved down": 0,
        "Lapsed": 1,
    }
    assert f.loc["Moved up", "revenue"] == 100.0 and f.loc["New", "revenue"] == 30.0
    assert matrix.loc["Loyal", "Champions"] == 1 and matrix.to_numpy().sum() == 5
    assert list(matrix.index) == ["New this quarter", *segments.SEGMENTS]
    assert list(matrix.columns) == segments.SEGMENTS  # every segment, even with nobody in it
    assert (matrix.index.name, matrix.columns.name) == ("previous segment", "segment now")
    assert matrix.loc["New this quarter", "New"] == 1 and matrix.loc["At risk", "Hibernating"] == 1
    assert all(map(pd.api.types.is_integer_dtype, matrix.dtypes))  # counts shown as counts


def test_moving_down_and_between_lapsed_segments():
    """Champions to Loyal moves down; Hibernating to Lost moves down too (not a new lapse);
    Loyal to Lost lapses."""
    previous = pd.DataFrame(
        {
            "customer_id": ["f", "g", "h"],
            "segment": pd.Categorical(["Champions", "Hibernating", "Loyal"], segments.SEGMENTS),
        }
    )
    current = pd.DataFrame(
        {
            "customer_id": ["f", "g", "h"],
            "segment": pd.Categorical(["Loyal", "Lost", "Lost"], segments.SEGMENTS, ordered=True),
            "window_revenue": [7.0, 0.0, 0.0],
        }
    )
    _, flows = migrated(previous, current)
    f = flows.set_index("flow")
    assert f["customers"].to_dict() == {
        "New": 0,
        "Moved up": 0,
        "Stayed": 0,
        "Moved down": 2,
        "Lapsed": 1,
    }
    assert f.loc["Moved down", "revenue"] == 7.0 and list(flows["flow"]) == segments.FLOWS


def test_segment_table_by_hand():
    """Champions: 2 customers (orders 4 + 6, revenue 100 + 200, this quarter 30 + 50, recency
    5 and 15); Lost: 1 customer with no order this quarter; every other segment empty."""
    scored = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "segment": pd.Categorical(
                ["Champions", "Champions", "Lost"], segments.SEGMENTS, ordered=True
            ),
            "orders": [4.0, 6.0, 1.0],
            "revenue": [100.0, 200.0, 20.0],
            "window_revenue": [30.0, 50.0, 0.0],
            "recency_days": [5.0, 15.0, 400.0],
        }
    )
    table = segment_table_of(scored).set_index("segment")
    assert list(table.index) == segments.SEGMENTS
    champions, lost = table.loc["Champions"], table.loc["Lost"]
    assert champions["customers"] == 2 and champions["customer_share"] == pytest.approx(2 / 3)
    assert champions["revenue_share"] == pytest.approx(1.0) and lost["revenue_share"] == 0.0
    assert champions["aov"] == pytest.approx(300 / 10) and lost["aov"] == 20.0
    assert champions["recency_days"] == 10.0 and lost["customer_share"] == pytest.approx(1 / 3)
    assert table.loc["Loyal", "customers"] == 0 and np.isnan(table.loc["Loyal", "aov"])
    assert pd.api.types.is_integer_dtype(table["customers"])


def test_members_against_non_members_with_a_two_proportion_test(engine):
    periods = comparison_periods(Quarter.parse("2025Q1"))
    table = repurchase.member_comparison(queries.member_repurchase(engine, periods), 0.05)
    now = table[table["period"] == "current"].set_index("is_member")
    assert now.loc[True, "repeat_rate"] == 1.0 and now.loc[False, "repeat_rate"] == 0.0
    assert now.loc[True, "orders_per_customer"] == 2 and now.loc[False, "aov"] == 55.0
    _, p, _, _ = chi2_contingency([[1, 0], [0, 2]], correction=False)
    assert now.loc[True, "p_value"] == pytest.approx(p)
    assert now.loc[False, "orders_per_customer"] == 1.0  # 2 orders of 2 customers
    at_alpha = repurchase.member_comparison(
        queries.member_repurchase(engine, periods), now.loc[True, "p_value"]
    )
    assert not at_alpha["significant"].any()  # a p-value equal to alpha is not below it


def test_second_order_rate_of_the_latest_full_cohort(engine):
    """A (Jan 5, again after 15 days) and C (Mar 3, never again) joined in 2025Q1; B (Dec 1,
    again after 62 days) in 2024Q4. On 2025-07-01 the latest quarter with 90 days behind it is
    2025Q1 (2025Q2 ends less than 90 days before)."""
    second_orders.keep(engine, "second", END)
    assert repurchase.latest_full_cohort(END, 90) == Quarter.parse("2025Q1")
    # 2025Q1 ends 2025-04-01: its 90 days are complete on 2025-06-30, not a day earlier
    assert repurchase.latest_full_cohort(pd.Timestamp("2025-06-30"), 90) == Quarter.parse("2025Q1")
    assert repurchase.latest_full_cohort(pd.Timestamp("2025-06-29"), 90) == Quarter.parse("2024Q4")
    rate = lambda label, window: second_orders.cohort_rate(  # noqa: E731
        engine, "second", Quarter.parse(label), window
    )
    assert rate("2025Q1", 90) == (2, 0.5)
    assert rate("2024Q4", 90) == (1, 1.0)
    assert rate("2024Q4", 30) == (1, 0.0)
    assert rate("2023Q1", 90) == (0, None)


def test_rates_with_no_meaning_are_left_out_with_a_reason(engine):
    """In 2025Q2 only A orders, a customer since January: with no new customer, a returning
    rate of 100% says nothing. The latest full 90-day cohorts at the ends of 2025Q2, 2025Q1 and
    2024Q2 are 2025Q1 (A, C), 2024Q4 (B) and 2024Q1 (nobody)."""
    periods = comparison_periods(Quarter.parse("2025Q2"))
    quarterly = repurchase.add_rates(queries.repurchase_by_period(engine, END)["quarter"])
    second_orders.keep(engine, "second", END)
    kpis = repurchase.headline_kpis(quarterly, (engine, "second"), periods, 90)
    assert kpis["returning_rate"]["current"] is None
    assert kpis["returning_rate"]["withheld"] == repurchase.NO_NEW_CUSTOMERS
    assert kpis["returning_rate"]["previous"] == pytest.approx(1 / 3)  # B of A, B, C
    assert kpis["second_order_90d"]["cohorts"] == {
        "current": "2025Q1",
        "previous": "2024Q4",
        "year_ago": "2024Q1",
    }
    assert kpis["second_order_90d"]["current"] == 0.5
    assert kpis["second_order_90d"]["previous"] == 1.0
    assert kpis["second_order_90d"]["year_ago"] is None  # nobody joined in 2024Q1
    notes = text.sentences(
        repurchase.findings(kpis, pd.DataFrame(), None, _flows(), None, ("qoq",), 90)
    )
    assert notes[0] == (
        "Returning-customer rate is not shown: no new customers were acquired, so every "
        "customer is a returning one."
    )
    assert notes[2] == (
        "Of the customers acquired in 2025Q1 (the latest with 90 days behind them), 50.0% "
        "ordered again within 90 days: -50.00 pp on the cohort a quarter earlier (2024Q4)."
    )


def _flows() -> pd.DataFrame:
    return pd.DataFrame(
        {"flow": ["Moved up", "Moved down", "Lapsed"], "customers": [1, 2, 3], "revenue": 0.0}
    )


def test_monthly_returning_rates_leave_out_the_first_year_and_months_with_nobody_new():
    months = pd.date_range("2023-01-01", periods=15, freq="MS")
    monthly = repurchase.add_rates(
        pd.DataFrame(
            {
                "period": months,
                "customers": 10.0,
                "repeat_customers": 2.0,
                "returning_customers": [0.0] + [4.0] * 12 + [10.0, 6.0],
            }
        )
    )
    shown = repurchase.meaningful_returning_rates(monthly)
    assert shown["returning_rate"].iloc[:12].isna().all()  # 2023: history before the data
    assert shown["returning_rate"].iloc[12] == pytest.approx(0.4)  # 2024-01
    assert np.isnan(shown["returning_rate"].iloc[13])  # everyone returning: nobody new
    assert shown["returning_rate"].iloc[14] == pytest.approx(0.6)
    pd.testing.assert_series_equal(shown["repeat_rate"], monthly["repeat_rate"])


def test_a_second_order_rate_with_no_cohort_is_withheld_with_its_reason(engine):
    """At the end of 2024Q2 the latest cohort with 90 days behind it is 2024Q1, when nobody
    joined: the rate is withheld, and the finding says why. Every rate is in rate units."""
    periods = comparison_periods(Quarter.parse("2024Q2"))
    quarterly = repurchase.add_rates(queries.repurchase_by_period(engine, END)["quarter"])
    second_orders.keep(engine, "second", END)
    kpis = repurchase.headline_kpis(quarterly, (engine, "second"), periods, 90)
    record = kpis["second_order_90d"]
    assert record["withheld"] == Reason("no_customers_acquired", {"cohort": "2024Q1"})
    assert (record["key"], record["unit"], record["window"]) == (
        "repurchase.second_order",
        "rate",
        90,
    )
    assert kpis["repeat_rate"]["unit"] == kpis["returning_rate"]["unit"] == "rate"
    finding = repurchase._second_order_finding(record, None, ("qoq",), 90)
    assert finding.kind == "repurchase.second_order_withheld"
    assert finding.figures == {"window": 90, "reason": record["withheld"]}


@pytest.mark.parametrize(("locale", "scheme"), [("zh-CN", "rfm8"), ("en", "rf_map")])
def test_auto_segmentation_follows_the_reports_language(locale, scheme):
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(update={"locale": locale})
    assert repurchase.segmentation(config) == scheme


def test_cohort_and_member_findings_follow_their_tables(engine):
    """A mean cohort change above 0 is better, at or below it worse; members against
    non-members is said only with both in the quarter, significant as the members' row says."""
    periods = comparison_periods(Quarter.parse("2025Q2"))
    quarterly = repurchase.add_rates(queries.repurchase_by_period(engine, END)["quarter"])
    second_orders.keep(engine, "second", END)
    kpis = repurchase.headline_kpis(quarterly, (engine, "second"), periods, 90)

    def said(change_pp, members=None):
        cohorts = pd.DataFrame({"change_pp": change_pp})
        found = repurchase.findings(kpis, cohorts, None, _flows(), members, ("qoq",), 90)
        return {f.kind: f for f in found}

    variants = [said([m])["repurchase.cohort_retention"].variant for m in (1.0, 0.0, -1.0)]
    assert variants == ["better", "worse", "worse"]
    both = pd.DataFrame(
        {
            "period": "current",
            "is_member": [True, False],
            "repeat_rate": [0.4, 0.2],
            "significant": [True, False],
        }
    )
    member = said([1.0], both)["repurchase.members"]
    assert member.variant == "significant"
    assert member.figures == {"member_rate": 0.4, "non_member_rate": 0.2}
    calm = both.assign(significant=[False, True])
    assert said([1.0], calm)["repurchase.members"].variant == "not_significant"
    for alone in (both.iloc[:1], both.iloc[1:]):
        assert "repurchase.members" not in said([1.0], alone)
