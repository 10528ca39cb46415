"""CLV: the DuckDB summary equals lifetimes', weighted fits equal plain ones, published CDNOW
parameters are reproduced, and the derived tables add up."""

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data
from scipy.optimize import approx_fprime

from helpers import cdnow, clv, data_access, likelihood


@pytest.fixture(scope="module")
def orders(small_data):
    raw = pd.read_parquet(small_data / "orders.parquet")
    return raw.assign(net_revenue=raw["revenue"] - raw["refund"])


@pytest.fixture(scope="module")
def engine(orders):
    return data_access.DataEngine({"orders": orders})


@pytest.mark.parametrize(("unit", "days"), [("days", 1), ("weeks", 7)])
def test_summary_matches_lifetimes(orders, engine, unit, days):
    end = pd.Timestamp("2025-10-01")
    ours = data_access.customer_summary(engine, end, days).set_index("customer_id")
    theirs = summary_data_from_transaction_data(
        orders[orders["order_ts"] < end],
        "customer_id",
        "order_ts",
        "net_revenue",
        observation_period_end="2025-09-30",
        freq="D",
        freq_multiplier=days,
    )
    pd.testing.assert_frame_equal(
        ours.sort_index(), theirs.sort_index(), check_names=False, check_dtype=False, rtol=1e-12
    )


def test_summary_origins_are_each_customers_first_order(orders, engine):
    end = pd.Timestamp("2025-10-01")
    ours = data_access.customer_summary(engine, end, 7, origins=True).set_index("customer_id")
    first = orders[orders["order_ts"] < end].sort_values("order_ts").groupby("customer_id").first()
    first = first.reindex(ours.index)
    assert (ours["first_order_ts"] == first["order_ts"]).all()
    assert (ours["acquisition_channel"] == first["channel"]).all()
    assert (ours["first_quarter"] == first["order_ts"].dt.to_period("Q").astype(str)).all()
    plain = data_access.customer_summary(engine, end, 7).set_index("customer_id")
    pd.testing.assert_frame_equal(ours[plain.columns], plain)


def test_calibration_and_holdout_match_lifetimes(orders, engine):
    start, end = pd.Timestamp("2025-07-01"), pd.Timestamp("2025-10-01")
    # lifetimes' own split needs a monetary column to work on current pandas, and dates without
    # times: it compares timestamps with midnight of the period ends, dropping the last day's
    # orders from both periods; ours works on days.
    days = orders.assign(order_ts=orders["order_ts"].dt.normalize())
    theirs = calibration_and_holdout_data(
        days[days["order_ts"] < end],
        "customer_id",
        "order_ts",
        "2025-06-30",
        "2025-09-30",
        freq="D",
        freq_multiplier=7,
        monetary_value_col="net_revenue",
    )
    calibration = data_access.customer_summary(engine, start, 7).set_index("customer_id")
    holdout = data_access.purchase_days_between(engine, start, end).set_index("customer_id")
    np.testing.assert_allclose(calibration.loc[theirs.index, "recency"], theirs["recency_cal"])
    np.testing.assert_allclose(calibration.loc[theirs.index, "T"], theirs["T_cal"])
    actual = holdout["purchases"].reindex(theirs.index, fill_value=0)
    np.testing.assert_array_equal(actual, theirs["frequency_holdout"])


def test_weighted_fit_equals_the_plain_fit(summary):
    weighted = clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=1).fitter.params_
    plain = (
        BetaGeoFitter(penalizer_coef=0.001)
        .fit(summary["frequency"], summary["recency"], summary["T"])
        .params_
    )
    assert len(clv.compress(summary)) < len(summary)
    np.testing.assert_allclose(weighted.to_numpy(), plain.to_numpy(), rtol=1e-4)


@pytest.fixture(scope="module")
def summary(engine):
    return data_access.customer_summary(engine, pd.Timestamp("2025-10-01"), 7)


@pytest.mark.parametrize("params", [[0.3, 0.2, 0.7, 2.5], [1.2, 0.05, 0.3, 1.1]])
def test_bgnbd_objective_is_lifetimes_likelihood_with_its_gradient(summary, params):
    rows = clv.compress(summary)
    x, w = rows["frequency"].to_numpy(float), rows["weight"].to_numpy(float)
    recency, age = rows["recency"].to_numpy(), rows["T"].to_numpy()
    histories = likelihood._PurchaseHistories.build(x, recency, age, w)
    value, gradient = likelihood._bgnbd_objective(np.array(params), histories)
    theirs = BetaGeoFitter._negative_log_likelihood(np.log(params), x, recency, age, w, 0.0)
    assert value == pytest.approx(theirs, rel=1e-12)
    numerical = approx_fprime(
        np.array(params), lambda p: likelihood._bgnbd_objective(p, histories)[0], 1e-7
    )
    np.testing.assert_allclose(gradient, numerical, rtol=1e-4, atol=1e-6)


def test_gamma_gamma_fit_equals_lifetimes(summary):
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
    spends = likelihood._Spends.build(x, m, np.ones(len(x)))
    params = np.array([3.0, 4.0, 200.0])
    value, gradient = likelihood._gamma_gamma_objective(params, spends)
    theirs = GammaGammaFitter._negative_log_likelihood(np.log(params), x, m, np.ones(len(x)), 0)
    assert value == pytest.approx(theirs, rel=1e-12)
    numerical = approx_fprime(
        params, lambda p: likelihood._gamma_gamma_objective(p, spends)[0], 1e-6
    )
    np.testing.assert_allclose(gradient, numerical, rtol=1e-4, atol=1e-6)
    ours = likelihood.fit_gamma_gamma(x, m, penalizer=0.001).params_
    lifetimes_fit = GammaGammaFitter(penalizer_coef=0.001).fit(x, m).params_
    np.testing.assert_allclose(ours.to_numpy(), lifetimes_fit.to_numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="frequency > 0"):
        likelihood.fit_gamma_gamma(summary["frequency"], summary["monetary_value"] + 1)


def test_cdnow_reproduces_fader_hardie_lee_2005():
    """BG/NBD on the CDNOW sample, weeks, calibration to 1997-09-30: r, alpha, a, b published
    as 0.243, 4.414, 0.793, 2.426 ("Counting your customers the easy way", 2005)."""
    orders = cdnow.as_orders(cdnow.read_transactions("sample"))
    engine = data_access.DataEngine({"orders": orders.rename(columns={"revenue": "net_revenue"})})
    summary = data_access.customer_summary(engine, pd.Timestamp("1997-10-01"), 7)
    assert len(summary) == 2357 and summary["T"].max() == pytest.approx(39, abs=0.2)
    params = clv.fit_purchase_model(summary, "bgnbd", penalizer=0.0, seed=0).params
    assert {k: round(v, 3) for k, v in params.items()} == {
        "r": 0.243,
        "alpha": 4.414,
        "a": 0.793,
        "b": 2.426,
    }


def test_pareto_fit_is_reproducible_whatever_numpy_global_state(engine):
    summary = data_access.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    np.random.seed(1)  # noqa: NPY002 (the global state lifetimes would use)
    first = clv.fit_purchase_model(summary, "pareto", 0.001, seed=5).params
    np.random.seed(99)  # noqa: NPY002
    second = clv.fit_purchase_model(summary, "pareto", 0.001, seed=5).params
    assert first == second


def test_non_convergence_falls_back_to_a_larger_penalizer_and_says_so(engine, monkeypatch):
    summary = data_access.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    real = clv._fit_once
    tried = []

    def flaky(key, rows, penalizer, seed):
        tried.append(penalizer)
        if penalizer < 0.01:
            raise clv.ConvergenceError("did not converge")
        return real(key, rows, penalizer, seed)

    monkeypatch.setattr(clv, "_fit_once", flaky)
    model = clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=0)
    assert tried == [0.001, 0.01] and model.penalizer == 0.01
    assert "did not converge with penalizer 0.001; fitted with 0.01" in model.note
    monkeypatch.setattr(
        clv, "_fit_once", lambda *a: (_ for _ in ()).throw(clv.ConvergenceError("never"))
    )
    with pytest.raises(clv.ModelFitError, match=r"BG/NBD did not converge with penalizers"):
        clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=0)


def test_holdout_validation_metrics_by_hand(engine):
    summary = data_access.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    model = clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=0)
    actual = pd.DataFrame({"customer_id": summary["customer_id"].iloc[:3], "purchases": 2.0})
    table, metrics = clv.holdout_validation(model, summary, actual, horizon=13.0)
    predicted = model.fitter.conditional_expected_number_of_purchases_up_to_time(
        13.0, summary["frequency"], summary["recency"], summary["T"]
    )
    assert metrics["actual_purchases"] == 6.0
    assert metrics["aggregate_error_pct"] == pytest.approx(100 * (predicted.sum() / 6 - 1))
    error = predicted - np.r_[[2.0] * 3, np.zeros(len(summary) - 3)]
    assert metrics["mae"] == pytest.approx(np.abs(error).mean())
    assert table["customers"].sum() == len(summary)
    assert table["calibration_purchases"].max() <= 7


def test_value_tiers_and_shares():
    predictions = pd.DataFrame({"clv": np.arange(1.0, 21.0), "p_alive": 0.5, "frequency": 1.0})
    tiers = clv.value_tiers(predictions).set_index("tier")
    assert tiers.loc["Top 10%", "customers"] == 2
    assert tiers.loc["Top 10%", "value_share"] == pytest.approx((20 + 19) / 210)
    assert tiers.loc["Bottom 50%", "clv_total"] == pytest.approx(sum(range(1, 11)))
    assert tiers["value_share"].sum() == pytest.approx(1.0)


def test_clv_in_margin_terms_and_discounting(engine):
    summary = data_access.customer_summary(engine, pd.Timestamp("2025-10-01"), 7)
    model = clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=0)
    ggf, spend = clv.spend_model(summary, 0.001)
    revenue = clv.predict_customers(model, ggf, summary, "weeks", 92, 12, 0.10, None)
    margin = clv.predict_customers(model, ggf, summary, "weeks", 92, 12, 0.10, 0.4)
    np.testing.assert_allclose(margin["clv"], 0.4 * revenue["clv"])
    undiscounted = clv.predict_customers(model, ggf, summary, "weeks", 92, 12, 0.0, None)
    assert (undiscounted["clv"] >= revenue["clv"]).all()
    assert clv.monthly_rate(0.10) == pytest.approx(1.1 ** (1 / 12) - 1)
    assert revenue["p_alive"].min() >= 0 and revenue["p_alive"].max() <= 1
    assert (
        spend["repeat_customers"]
        == ((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum()
    )


def test_period_transactions_check_is_seeded(engine):
    summary = data_access.customer_summary(engine, pd.Timestamp("2025-10-01"), 7)
    model = clv.fit_purchase_model(summary, "bgnbd", 0.001, seed=0)
    first = clv.period_transactions(model, summary, seed=3)
    assert first.equals(clv.period_transactions(model, summary, seed=3))
    assert first["actual"].sum() == first["model"].sum() == len(summary)


@pytest.mark.parametrize(
    ("key", "fitter", "params"),
    [
        ("bgnbd", BetaGeoFitter, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}),
        ("mbgnbd", ModifiedBetaGeoFitter, {"r": 0.5, "alpha": 2.0, "a": 0.6, "b": 3.0}),
        ("pareto", ParetoNBDFitter, {"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7}),
    ],
)
def test_simulated_purchases_follow_the_model(key, fitter, params):
    """200k customers aged 30: the simulated mean matches the model's expected purchases, and
    the share with n purchases its P(X(t) = n), within 4 standard errors."""
    model = fitter()
    model.params_ = pd.Series(params)
    ages = np.full(200_000, 30.0)
    drawn = clv.simulate_repeat_purchases(key, params, ages, np.random.default_rng(0))
    expected = model.expected_number_of_purchases_up_to_time(30.0)
    assert drawn.mean() == pytest.approx(expected, abs=4 * drawn.std() / np.sqrt(len(ages)))
    if key != "pareto":  # lifetimes has P(X(t) = n) for the BG/NBD family only
        for n in range(4):
            share = model.probability_of_n_purchases_up_to_time(30.0, n)
            error = np.sqrt(share * (1 - share) / len(ages))
            assert (drawn == n).mean() == pytest.approx(share, abs=4 * error)


@pytest.mark.parametrize("key", list(clv.MODELS))
def test_compressed_clv_equals_lifetimes_customer_lifetime_value(summary, key):
    """Each model's monthly expectations are computed per distinct (frequency, T) and rescaled
    by recency (valid because E(t | x, t_x, T) factorises): still lifetimes' own CLV."""
    model = clv.fit_purchase_model(summary, key, 0.001, seed=0)
    ggf, _ = clv.spend_model(summary, 0.001)
    ours = clv.predict_customers(model, ggf, summary, "weeks", 92, 12, 0.10, None)
    theirs = ggf.customer_lifetime_value(
        model.fitter,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary_value"],
        time=12,
        discount_rate=clv.monthly_rate(0.10),
        freq="W",
    )
    np.testing.assert_allclose(ours["clv"], theirs, rtol=1e-9)
    alive = model.fitter.conditional_probability_alive(
        summary["frequency"], summary["recency"], summary["T"]
    )
    np.testing.assert_allclose(ours["p_alive"], alive, rtol=1e-12)
    assert ours["customer_id"].tolist() == summary["customer_id"].tolist()
