"""Figures exactly on their edges: orders on a quarter's first and last instant, second orders
exactly 30/60/90 days after the first, changes exactly at the materiality threshold, a holdout
error exactly at the tolerance, costs missing on some orders. Every expected value is worked
out by hand."""

import numpy as np
import pandas as pd
import pytest

from helpers.core.periods import Quarter, Year, comparison_periods
from helpers.data import queries, second_orders
from helpers.data.engines import DuckDBEngine
from helpers.models import holdout
from helpers.sections import repurchase
from helpers.sections.kpis import (
    change,
    comparison_bases,
    exceeds_uncertainty,
    is_material,
    kpi_record,
    mark_material,
)

Q3 = Quarter.parse("2025Q3")


def _orders(rows: list[tuple]) -> queries.DataEngine:
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_ts", "net_revenue"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return DuckDBEngine({"orders": frame.assign(revenue=frame["net_revenue"])})


def test_an_order_on_a_quarters_first_instant_is_in_it_and_on_the_next_quarters_is_not():
    engine = _orders(
        [
            ("1", "a", "2025-06-30 23:59:59", 1.0),  # previous quarter's last second
            ("2", "b", "2025-07-01 00:00:00", 2.0),  # this quarter's first instant
            ("3", "c", "2025-09-30 23:59:59", 4.0),  # its last second
            ("4", "d", "2025-10-01 00:00:00", 8.0),  # the next quarter's first instant
        ]
    )
    by = queries.orders_by_period(engine, comparison_periods(Q3)).set_index("period")
    assert by.loc["current", "net_revenue"] == 2.0 + 4.0
    assert by.loc["previous", "net_revenue"] == 1.0
    assert queries.customers_between(engine, Q3.start, Q3.end) == 2  # b and c


@pytest.mark.parametrize("window", [30, 60, 90])
def test_a_second_order_exactly_window_days_later_counts_and_a_second_more_does_not(window):
    first = pd.Timestamp("2025-01-10 12:00")
    engine = _orders(
        [
            ("1", "on", first, 1.0),
            ("2", "on", first + pd.Timedelta(days=window), 1.0),
            ("3", "late", first, 1.0),
            ("4", "late", first + pd.Timedelta(days=window, seconds=1), 1.0),
        ]
    )
    end = pd.Timestamp("2025-12-31")
    second_orders.keep(engine, "second", end)
    shares = second_orders.shares(engine, "second", end, [window])
    assert shares.loc[0, "share"] == 0.5 and shares.loc[0, "customers"] == 2
    # a customer acquired exactly `window` days before a date had the full window by then
    at = first + pd.Timedelta(days=window)
    assert second_orders.shares(engine, "second", at, [window]).loc[0, "customers"] == 2
    a_second_early = at - pd.Timedelta(seconds=1)
    assert second_orders.shares(engine, "second", a_second_early, [window]).loc[0, "customers"] == 0


def test_the_latest_full_cohort_is_the_last_quarter_whose_end_is_window_days_before():
    end = pd.Timestamp("2025-10-01")  # 2025Q3's end
    assert repurchase.latest_full_cohort(end, 92).label == "2025Q2"  # 1 Jul + 92 days = 1 Oct
    assert repurchase.latest_full_cohort(end, 93).label == "2025Q1"
    assert repurchase.latest_full_cohort(end, 0).label == "2025Q3"


def test_changes_exactly_at_the_materiality_threshold_are_material():
    assert is_material(0.10, "count", 10, 0.5)  # exactly 10%
    assert not is_material(0.0999, "count", 10, 0.5)
    assert is_material(-0.005, "rate", 10, 0.5)  # exactly 0.5 pp, either direction
    assert not is_material(0.00499, "rate", 10, 0.5)
    assert is_material(-0.10, "ratio", 10, 0.5)  # ratios use the relative threshold


def test_relative_change_needs_a_positive_base_and_rates_change_by_difference():
    assert change(3.0, 2.0, "count") == pytest.approx(0.5)
    assert change(0.5, 0.25, "count") == pytest.approx(1.0)  # a base below 1 is fine
    assert change(3.0, 0.0, "count") is None and change(3.0, -2.0, "currency") is None
    assert change(0.30, 0.25, "rate") == pytest.approx(0.05)
    assert change(2.5, 2.0, "ratio") == pytest.approx(0.5) and change(None, 1.0, "rate") is None
    assert change(float("nan"), 1.0, "count") is None


def test_a_change_exactly_at_the_combined_uncertainty_is_not_beyond_it():
    se = 1.0
    edge = 1.959964 * np.hypot(se, se)
    values, errors = {"current": 10.0 + edge, "previous": 10.0}, {"current": se, "previous": se}
    assert exceeds_uncertainty(values, errors, "previous") is False
    values["current"] += 1e-6
    assert exceeds_uncertainty(values, errors, "previous") is True
    for unknown in (None, float("nan")):
        assert exceeds_uncertainty(values | {"previous": unknown}, errors, "previous") is None
        assert exceeds_uncertainty(values, errors | {"current": unknown}, "previous") is None
    lopsided = {"current": 0.0, "previous": 3.0}
    assert exceeds_uncertainty({"current": 12.5, "previous": 10.0}, lopsided, "previous") is False
    assert (
        exceeds_uncertainty(
            {"current": 12.5, "previous": 10.0}, {"current": 0.0, "previous": 1.0}, "previous"
        )
        is True
    )  # noqa: E501
    assert exceeds_uncertainty({"current": 1.0, "previous": None}, errors, "previous") is None
    assert (
        exceeds_uncertainty({"current": 1.0, "previous": 2.0}, {"current": np.nan}, "previous")
        is None
    )  # noqa: E501


@pytest.mark.parametrize(
    ("quarter", "seasonal", "bases"),
    [
        (2, [2, 4], ("qoq", "yoy")),
        (3, [2, 4], ("qoq",)),
        (4, [4], ("qoq", "yoy")),
        (4, [], ("qoq",)),
    ],
)
def test_only_seasonal_quarters_compare_with_a_year_ago(quarter, seasonal, bases):
    assert comparison_bases(Quarter(2025, quarter), seasonal) == bases


def test_a_year_compares_with_the_year_before_only():
    assert comparison_bases(Year(2025), [1, 2, 3, 4]) == ("qoq",)


@pytest.mark.parametrize(
    ("error", "trusted"),
    [(15.0, True), (-15.0, True), (15.001, False), (-15.001, False), (0.0, True), (None, False)],
)
def test_a_holdout_error_exactly_at_the_tolerance_is_trusted(error, trusted):
    assert holdout.is_trusted(error, 15.0) is trusted


def test_the_gross_margin_rate_counts_only_orders_with_a_cost():
    """Revenue 100 + 50 with costs 60 + 20, and an order of 1,000 without a cost: (150 - 80) /
    150, not (1,150 - 80) / 1,150 and not (150 - 80) / 80."""
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4"],
            "customer_id": ["a", "b", "c", "d"],
            "order_ts": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-05-01"]),
            "revenue": [100.0, 50.0, 1000.0, 500.0],
            "cost": [60.0, 20.0, None, 100.0],  # the last is after the end
        }
    )
    engine = DuckDBEngine({"orders": orders})
    assert queries.gross_margin_rate(engine, pd.Timestamp("2025-04-01")) == pytest.approx(70 / 150)
    no_cost = DuckDBEngine({"orders": orders.drop(columns="cost")})
    assert queries.gross_margin_rate(no_cost, pd.Timestamp("2025-04-01")) is None


def test_material_marks_keep_the_uncertaintys_and_read_a_rate_in_points():
    """A rate moving 2 pp is material at 1 pp though not at 10%; a change the uncertainty
    already marked immaterial stays so, however large."""
    kpis = {
        "rate": {"unit": "rate", "qoq": 0.02, "yoy": None},
        "count": {"unit": "count", "qoq": 0.5, "qoq_material": False, "yoy": 0.05},
    }
    marked = mark_material(kpis, material_change_pct=10, material_rate_change_pp=1)
    assert marked["rate"]["qoq_material"] is True and "yoy_material" not in marked["rate"]
    assert marked["count"]["qoq_material"] is False and marked["count"]["yoy_material"] is False


def test_a_kpis_target_and_attainment_only_where_they_are_defined():
    """A NaN target is no target; a target of 0, or no current value, has no attainment."""

    def record(current, target):
        return kpi_record("orders.revenue", "money", {"current": current}, target=target)

    assert record(50.0, 200.0)["attainment"] == 0.25
    assert "target" not in record(50.0, float("nan")) and "attainment" not in record(50.0, None)
    assert record(50.0, 0.0)["target"] == 0.0 and record(50.0, 0.0)["attainment"] is None
    assert record(None, 200.0)["attainment"] is None
