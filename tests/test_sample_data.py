"""The sample data set: deterministic, complete, internally consistent."""

import numpy as np
import pandas as pd
import pytest

from helpers import sample_data
from helpers.contract import CONTRACT


@pytest.fixture(scope="module")
def tables():
    return sample_data.generate(n_customers=2000, seed=3)


def test_deterministic_for_a_seed(tables):
    again = sample_data.generate(n_customers=2000, seed=3)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = sample_data.generate(n_customers=2000, seed=4)
    assert not other["orders"]["revenue"].equals(tables["orders"]["revenue"])


def test_every_contract_table_with_all_columns(tables):
    for name, spec in CONTRACT.items():
        missing = set(spec.required) - set(tables[name].columns)
        assert not missing, f"{name} lacks {missing}"
    assert tables["orders"]["order_id"].is_unique


def test_history_covers_previous_and_year_ago_quarters(tables):
    orders = tables["orders"]
    assert orders["order_ts"].min() < pd.Timestamp("2023-01-08")
    assert orders["order_ts"].max() > pd.Timestamp("2025-12-24")
    assert orders["order_ts"].dt.to_period("Q").nunique() == 12


def test_order_values_add_up_from_lines(tables):
    orders, items = tables["orders"], tables["order_items"]
    gross = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    expected = gross.reindex(orders["order_id"]).to_numpy() - orders["discount"].to_numpy()
    np.testing.assert_allclose(orders["revenue"], expected, atol=0.011)
    assert (orders["cost"] < orders["revenue"] + orders["discount"]).all()


def test_traffic_orders_match_completed_orders(tables):
    orders, traffic = tables["orders"], tables["traffic"]
    completed = orders[orders["status"] == "completed"]
    assert traffic["orders"].sum() == len(completed)
    assert traffic["revenue"].sum() == pytest.approx(completed["revenue"].sum(), rel=1e-9)
    assert (traffic["sessions"] >= traffic["orders"]).all()
    assert (traffic["engaged_sessions"] <= traffic["sessions"]).all()
    assert set(traffic["device"]) == {"mobile", "desktop", "tablet"}


def test_double_11_peaks_above_an_ordinary_day(tables):
    daily = tables["orders"].groupby(tables["orders"]["order_ts"].dt.normalize()).size()
    peak = daily[[pd.Timestamp(f"{y}-11-11") for y in (2023, 2024, 2025)]].mean()
    assert peak > 2.5 * daily.median()


def test_channels_differ_in_customer_quality(tables):
    orders = tables["orders"]
    per_customer = orders.groupby("customer_id").agg(
        channel=("channel", "first"), n=("order_id", "size")
    )
    mean_orders = per_customer.groupby("channel")["n"].mean()
    assert mean_orders["Email / CRM"] > mean_orders["Social / short video"]


def test_marketing_response_saturates():
    spend = np.array([1000.0, 2000.0, 4000.0])
    revenue = sample_data.hill(spend, top=100.0, half=2000.0, shape=1.0)
    np.testing.assert_allclose(revenue, [100 / 3, 50.0, 200 / 3])
    assert np.all(np.diff(revenue / spend) < 0)  # diminishing returns
