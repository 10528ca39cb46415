"""The sample data set: deterministic, complete, internally consistent."""

import numpy as np
import pandas as pd
import pytest

from helpers.data import sample, sample_shop
from helpers.data.contract import CONTRACT
from helpers.data.engines import DuckDBEngine
from helpers.models import response


@pytest.fixture(scope="module")
def tables():
    return sample.generate(n_customers=2000, seed=3)


def test_deterministic_for_a_seed(tables):
    again = sample.generate(n_customers=2000, seed=3)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = sample.generate(n_customers=2000, seed=4)
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
    revenue = sample_shop.true_response(spend, top=100.0, half=2000.0, shape=1.0)
    np.testing.assert_allclose(revenue, [100 / 3, 50.0, 200 / 3])
    assert np.all(np.diff(revenue / spend) < 0)  # diminishing returns
    # the curve the ROI section fits, written independently
    np.testing.assert_allclose(revenue, response.hill(spend, 100.0, 2000.0, 1.0))


def test_the_purchase_model_recovers_the_simulated_truth():
    """Fitted on the valid orders to 2025Q4's end, the modified BG/NBD (what the data simulate)
    recovers r and the mean dropout probability, and its expected number of active customers
    (sum of P(alive)) is within 10% of the customers the simulation still had alive."""
    from helpers.core.periods import Quarter
    from helpers.data import queries
    from helpers.models import fitting

    tables, alive = sample.simulate(n_customers=3000, seed=7)
    orders = tables["orders"]
    valid = orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]
    engine = DuckDBEngine({"orders": valid.assign(net_revenue=valid["revenue"])})
    truth = sample.TrueParameters()
    for quarter in ("2025Q3", "2025Q4"):
        summary = queries.customer_summary(engine, Quarter.parse(quarter).end, 7)
        model = fitting.fit_purchase_model(summary, "mbgnbd")
        params = model.params
        assert params["r"] == pytest.approx(truth.r, rel=0.15)
        # channels scale dropout by 0.7-1.5 around the Beta(a, b) draw: mean 0.25 becomes ~0.27
        assert params["a"] / (params["a"] + params["b"]) == pytest.approx(0.27, rel=0.15)
        expected = model.fitter.conditional_probability_alive(
            summary["frequency"], summary["recency"], summary["T"]
        ).sum()
        assert expected == pytest.approx(alive[quarter], rel=0.10)
    assert alive["2025Q4"] < 3000


def test_a_shop_simulated_in_parts_adds_its_parts_up(monkeypatch, tmp_path):
    """10,000 customers in parts of at most 4,000 (3,334 + 3,333 + 3,333), written part by
    part: ids run on across parts, traffic converts every completed order of every part, the
    targets sit near the whole shop's actuals, and the files hold what simulate returns."""
    monkeypatch.setattr(sample, "PART_CUSTOMERS", 4_000)
    tables, alive = sample.simulate(10_000, seed=5)
    orders = tables["orders"]
    assert orders["customer_id"].nunique() <= 10_000 and orders["order_id"].is_unique
    assert orders["customer_id"].max() <= "C0010000" and orders["customer_id"].min() >= "C0000001"
    assert orders["order_id"].max() == f"O{len(orders):09d}"
    assert tables["order_items"]["order_id"].isin(orders["order_id"]).all()
    completed = orders[orders["status"] == "completed"]
    assert tables["traffic"]["orders"].sum() == len(completed)
    assert tables["traffic"]["revenue"].sum() == pytest.approx(completed["revenue"].sum())
    valid = completed[completed["refund"] < completed["revenue"]]
    net = (valid["revenue"] - valid["refund"]).groupby(valid["order_ts"].dt.to_period("Q")).sum()
    targets = tables["targets"]
    quarterly = targets[(targets["metric"] == "net_revenue") & targets["period"].str.len().eq(6)]
    quarterly = quarterly[quarterly[["channel", "region", "category"]].isna().all(axis=1)]
    ratio = quarterly.set_index("period")["target"] / net.rename(index=str)
    assert ratio.between(0.91, 1.11).all() and len(ratio) == 12
    first = orders.groupby("customer_id")["order_ts"].min()
    assert alive["2023Q1"] <= (first < "2023-04-01").sum()

    monkeypatch.setattr(sample, "PART_CUSTOMERS", 4_000)
    sample.main(["--customers", "10000", "--seed", "5", "--out", str(tmp_path)])
    for name in ("orders", "order_items", "traffic", "marketing"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), tables[name])
