"""CLV: the DuckDB summary equals lifetimes', fits equal lifetimes' own at penalty 0, published
CDNOW figures are reproduced, and the derived tables add up."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data
from scipy import stats
from scipy.optimize import approx_fprime

from helpers.core.errors import Reason
from helpers.core.periods import parse_period
from helpers.data import cdnow, exports, queries, scores
from helpers.data.engines import DuckDBEngine
from helpers.models import fitting, holdout, likelihood, prediction
from helpers.render import text
from helpers.sections import clv
from tests.scoring import (
    lifetimes_standard_errors,
    outcomes_of,
    predict_customers,
    purchase_days_between,
    scored,
    spend_outcomes_of,
)


@pytest.fixture(scope="module")
def orders(small_data):
    raw = pd.read_parquet(small_data / "orders.parquet")
    return raw.assign(net_revenue=raw["revenue"] - raw["refund"])


@pytest.fixture(scope="module")
def engine(orders):
    return DuckDBEngine({"orders": orders})


def lifetimes_summary(orders: pd.DataFrame, end: pd.Timestamp, unit_days: int) -> pd.DataFrame:
    """lifetimes' own customer summary of the orders before `end`."""
    return summary_data_from_transaction_data(
        orders[orders["order_ts"] < end],
        "customer_id",
        "order_ts",
        "net_revenue",
        observation_period_end=end - pd.Timedelta(days=1),
        freq="D",
        freq_multiplier=unit_days,
    )


@pytest.mark.parametrize(("unit", "days"), [("days", 1), ("weeks", 7)])
def test_summary_matches_lifetimes(orders, engine, unit, days):
    end = pd.Timestamp("2025-10-01")
    ours = queries.customer_summary(engine, end, days).set_index("customer_id")
    theirs = lifetimes_summary(orders, end, days)
    pd.testing.assert_frame_equal(
        ours.sort_index(), theirs.sort_index(), check_names=False, check_dtype=False, rtol=1e-12
    )


def test_summaries_kept_in_one_pass_match_lifetimes_at_each_end(orders):
    """Three ends, one pass: each view equals lifetimes' summary at its own end, the one
    named for origins also carries them (as a summary kept alone does), and forgetting leaves
    none of the tables behind."""
    engine = DuckDBEngine({"orders": orders})
    ends = {
        "at_2024q4": pd.Timestamp("2025-01-01"),
        "at_2025q4": pd.Timestamp("2026-01-01"),
        "at_2025q3": pd.Timestamp("2025-10-01"),
    }
    queries.keep_customer_summaries(engine, ends, 7.0, origins="at_2025q4")
    for name, end in ends.items():
        ours = engine.sql(f"SELECT * FROM {name}").set_index("customer_id").sort_index()
        theirs = lifetimes_summary(orders, end, 7).sort_index()
        pd.testing.assert_frame_equal(
            ours[theirs.columns], theirs, check_names=False, check_dtype=False, rtol=1e-12
        )
        assert ("acquisition_channel" in ours) == (name == "at_2025q4")
    with_origins = queries.customer_summary(engine, ends["at_2025q4"], 7.0, origins=True)
    kept = engine.sql("SELECT * FROM at_2025q4 ORDER BY customer_id")
    pd.testing.assert_frame_equal(kept, with_origins)
    queries.keep_customer_summary(engine, "alone", ends["at_2025q4"], 7.0, origins=True)
    pd.testing.assert_frame_equal(engine.sql("SELECT * FROM alone ORDER BY customer_id"), kept)
    engine.forget("alone")
    queries.forget_customer_summaries(engine, list(ends))
    assert engine.tables == ["orders"]


def test_summary_origins_are_each_customers_first_order(orders, engine):
    end = pd.Timestamp("2025-10-01")
    ours = queries.customer_summary(engine, end, 7, origins=True).set_index("customer_id")
    first = orders[orders["order_ts"] < end].sort_values("order_ts").groupby("customer_id").first()
    first = first.reindex(ours.index)
    assert (ours["first_order_ts"] == first["order_ts"]).all()
    assert (ours["acquisition_channel"] == first["channel"]).all()
    assert (ours["first_quarter"] == first["order_ts"].dt.to_period("Q").astype(str)).all()
    plain = queries.customer_summary(engine, end, 7).set_index("customer_id")
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
    calibration = queries.customer_summary(engine, start, 7).set_index("customer_id")
    holdout = purchase_days_between(engine, start, end).set_index("customer_id")
    np.testing.assert_allclose(calibration.loc[theirs.index, "recency"], theirs["recency_cal"])
    np.testing.assert_allclose(calibration.loc[theirs.index, "T"], theirs["T_cal"])
    actual = holdout["purchases"].reindex(theirs.index, fill_value=0)
    np.testing.assert_array_equal(actual, theirs["frequency_holdout"])


@pytest.fixture(scope="module")
def summary(engine):
    return queries.customer_summary(engine, pd.Timestamp("2025-10-01"), 7)


@pytest.fixture(scope="module")
def cdnow_engine():
    orders = cdnow.as_orders(cdnow.read_transactions("sample"))
    return DuckDBEngine({"orders": orders.rename(columns={"revenue": "net_revenue"})})


@pytest.fixture(scope="module")
def cdnow_calibration(cdnow_engine):
    """The CDNOW sample (2,357 customers) to the end of week 39, as Fader, Hardie & Lee fit it."""
    return queries.customer_summary(cdnow_engine, pd.Timestamp("1997-10-01"), 7)


HORIZON = prediction.Horizon(92 / 7, 12, prediction.monthly_rate(0.10), "weeks")


def test_weighted_fit_equals_lifetimes_plain_fit(summary):
    weighted = fitting.fit_purchase_model(summary, "bgnbd").fitter.params_
    plain = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    assert len(fitting.compress(summary)) < len(summary)
    np.testing.assert_allclose(weighted.to_numpy(), plain.to_numpy(), rtol=1e-4)


def test_compressed_histories_do_not_depend_on_the_customers_order(summary):
    """The same customers in any order give the same rows in the same order, and so the same
    fit to the last digit."""
    shuffled = summary.sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(fitting.compress(shuffled), fitting.compress(summary))


@pytest.mark.parametrize(
    ("key", "fitter"), [("mbgnbd", ModifiedBetaGeoFitter), ("pareto", ParetoNBDFitter)]
)
def test_other_purchase_models_equal_lifetimes_fits(cdnow_calibration, key, fitter):
    s = cdnow_calibration
    ours = fitting.fit_purchase_model(s, key).params
    theirs = fitter().fit(s["frequency"], s["recency"], s["T"]).params_.to_dict()
    # lifetimes fits Pareto/NBD with Nelder-Mead to tol 1e-4, so that one agrees less closely
    tolerance = 1e-3 if key == "pareto" else 1e-5
    assert ours == pytest.approx(theirs, rel=tolerance)


@pytest.mark.parametrize("params", [[0.3, 0.2, 0.7, 2.5], [1.2, 0.05, 0.3, 1.1]])
@pytest.mark.parametrize(
    ("objective", "fitter"),
    [
        (likelihood._bgnbd_objective, BetaGeoFitter),
        (likelihood._mbgnbd_objective, ModifiedBetaGeoFitter),
    ],
)
def test_bg_objectives_are_lifetimes_likelihoods_with_their_gradients(
    summary, params, objective, fitter
):
    rows = fitting.compress(summary)
    x, w = rows["frequency"].to_numpy(float), rows["weight"].to_numpy(float)
    recency, age = rows["recency"].to_numpy(), rows["T"].to_numpy()
    histories = likelihood._PurchaseHistories.build(x, recency, age, w)
    value, gradient = objective(np.array(params), histories)
    theirs = fitter._negative_log_likelihood(np.log(params), x, recency, age, w, 0.0)
    assert value == pytest.approx(theirs, rel=1e-12)
    numerical = approx_fprime(np.array(params), lambda p: objective(p, histories)[0], 1e-7)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-4, atol=1e-6)


def test_gamma_gamma_fit_equals_lifetimes(summary):
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
    spends = likelihood._Spends.build(x, m)
    params = np.array([3.0, 4.0, 200.0])
    value, gradient = likelihood._gamma_gamma_objective(params, spends)
    theirs = GammaGammaFitter._negative_log_likelihood(np.log(params), x, m, np.ones(len(x)), 0)
    assert value == pytest.approx(theirs, rel=1e-12)
    numerical = approx_fprime(
        params, lambda p: likelihood._gamma_gamma_objective(p, spends)[0], 1e-6
    )
    np.testing.assert_allclose(gradient, numerical, rtol=1e-4, atol=1e-6)
    ours = likelihood.fit_gamma_gamma(x, m).params
    lifetimes_fit = GammaGammaFitter().fit(x, m).params_.to_dict()
    assert ours == pytest.approx(lifetimes_fit, rel=1e-5)
    needs = "^Gamma-Gamma needs frequency > 0 and monetary_value > 0$"
    with pytest.raises(ValueError, match=needs):
        likelihood.fit_gamma_gamma(summary["frequency"], summary["monetary_value"] + 1)
    with pytest.raises(ValueError, match=needs):
        likelihood.fit_gamma_gamma(x, np.where(np.arange(len(m)) == 0, 0.0, m))


def test_the_central_difference_gradient_of_a_quadratic_is_exact():
    weights = np.array([1.0, -2.0, 0.5])
    objective = likelihood._central_gradient(lambda p: float(weights @ p**2))
    value, gradient = objective(np.array([0.3, 1.0, -2.0]))
    assert value == pytest.approx(0.09 - 2.0 + 2.0)
    np.testing.assert_allclose(gradient, 2 * weights * [0.3, 1.0, -2.0], rtol=1e-9)


def _noisy(log_params):
    """A bowl at 0 whose every evaluation overflows, divides by 0 and subtracts infinities."""
    np.exp(np.float64(1000.0)), np.float64(1.0) / 0.0, np.float64(np.inf) - np.inf
    return float(log_params @ log_params), 2 * log_params


def test_the_search_and_the_covariance_silence_floating_point_warnings():
    """Trial steps may overflow (BFGS backs off): nothing reaches the report's output."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = likelihood._minimise(_noisy, 2, 0.0, "a bowl")
        np.testing.assert_allclose(found, 0.0, atol=1e-6)
        np.testing.assert_allclose(likelihood._covariance(_noisy, found, 1.0), np.eye(2) / 2)


@pytest.mark.parametrize(
    ("hessian", "covariance"),
    [
        ([[0.5, 0.0], [0.0, 4.0]], [[2.0, 0.0], [0.0, 0.25]]),  # flat but curved up: kept
        ([[-1.0, 0.0], [0.0, 4.0]], None),  # a saddle: no covariance
        ([[0.0, 0.0], [0.0, 4.0]], None),  # flat one way: singular
        ([[np.inf, 0.0], [0.0, 4.0]], None),
    ],
)
def test_a_covariance_only_where_the_likelihood_curves_up_every_way(hessian, covariance):
    """The inverse of the total Hessian (per-customer curvature times customers), or None
    where it is not finite or not positive definite (no standard errors then)."""
    per_customer = np.array(hessian) / 10
    found = likelihood._covariance(lambda p: (0.0, per_customer @ p), np.zeros(2), 10.0)
    if covariance is None:
        assert found is None
    else:
        np.testing.assert_allclose(found, covariance)


def test_a_search_converges_with_a_gradient_exactly_at_the_tolerance(monkeypatch):
    found = SimpleNamespace(x=np.zeros(1), fun=0.0, message="stopped")
    monkeypatch.setattr(likelihood, "minimize", lambda *args, **kwargs: found)
    tolerance = likelihood.GRADIENT_TOLERANCE

    def sloped(gradient):
        return lambda p: (0.0, np.array([gradient]))

    assert likelihood._minimise(sloped(-tolerance), 1, 0.0, "a slope") == [0.0]
    with pytest.raises(likelihood.NotConverged) as failed:
        likelihood._minimise(sloped(2 * tolerance), 1, 0.0, "a slope")
    assert str(failed.value) == "a slope did not converge: stopped (largest gradient 2.0e-04)"


@pytest.mark.parametrize("key", ["bgnbd", "pareto"])
def test_a_purchase_fit_that_does_not_converge_says_which_model(summary, monkeypatch, key):
    rows = fitting.compress(summary)
    monkeypatch.setattr(likelihood, "GRADIENT_TOLERANCE", -1.0)
    name = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD"}[key]
    with pytest.raises(likelihood.NotConverged, match=f"^{name} did not converge: "):
        likelihood.fit_purchase_model(
            key, rows["frequency"], rows["recency"], rows["T"], rows["weight"], 0.0, True
        )


def test_a_gamma_gamma_fit_that_does_not_converge_says_which_model(summary, monkeypatch):
    repeat = fitting.repeat_buyers(summary)
    monkeypatch.setattr(likelihood, "GRADIENT_TOLERANCE", -1.0)
    with pytest.raises(likelihood.NotConverged, match="^Gamma-Gamma did not converge: "):
        likelihood.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])


def test_gamma_gamma_does_not_depend_on_the_currency(summary):
    """Spend in cents instead of yuan: p and q unchanged, v x100 (the old penalty on v made the
    fit depend on the unit)."""
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    yuan = likelihood.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"]).params
    cents = likelihood.fit_gamma_gamma(repeat["frequency"], 100 * repeat["monetary_value"]).params
    assert cents == pytest.approx({**yuan, "v": 100 * yuan["v"]}, rel=1e-6)


def test_cdnow_reproduces_fader_hardie_lee_2005(cdnow_engine, cdnow_calibration):
    """BG/NBD on the CDNOW sample, weeks, calibration to 1997-09-30: r, alpha, a, b = 0.243,
    4.414, 0.793, 2.426 and log-likelihood -9582.4; weeks 40-78 forecast 1,653 repeat
    transactions against 1,882 actual ("Counting your customers the easy way", 2005)."""
    summary = cdnow_calibration
    assert len(summary) == 2357 and summary["T"].max() == pytest.approx(39, abs=0.2)
    model = fitting.fit_purchase_model(summary, "bgnbd")
    assert {k: round(v, 3) for k, v in model.params.items()} == {
        "r": 0.243,
        "alpha": 4.414,
        "a": 0.793,
        "b": 2.426,
    }
    log_params = np.log(list(model.params.values()))
    rows = fitting.compress(summary)
    mean = BetaGeoFitter._negative_log_likelihood(
        log_params, rows["frequency"], rows["recency"], rows["T"], rows["weight"], 0.0
    )
    assert -mean * len(summary) == pytest.approx(-9582.43, abs=0.01)
    start, end = pd.Timestamp("1997-10-01"), pd.Timestamp("1998-07-01")
    actual = purchase_days_between(cdnow_engine, start, end)
    _, metrics = holdout.holdout_validation(
        model, outcomes_of(summary, actual), (end - start).days / 7
    )
    assert round(metrics["predicted_purchases"]) == 1653
    assert metrics["actual_purchases"] == 1882


def test_cdnow_spend_model_reproduces_fader_hardie_2013(cdnow_calibration):
    """Gamma-Gamma on the CDNOW sample's repeat buyers: p = 6.25, q = 3.74, gamma (v) = 15.44
    (Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013); the model's mean spend
    then matches the observed mean of repeat buyers' average spend."""
    spend = fitting.spend_model(cdnow_calibration)
    assert {k: round(v, 2) for k, v in spend.params.items()} == {"p": 6.25, "q": 3.74, "v": 15.44}
    assert spend.model_mean == pytest.approx(spend.observed_mean, rel=0.02)
    assert spend.repeat_customers == 946


def test_pareto_fit_is_reproducible_whatever_numpy_global_state(engine):
    summary = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    np.random.seed(1)  # noqa: NPY002 (the global state lifetimes would use)
    first = fitting.fit_purchase_model(summary, "pareto").params
    np.random.seed(99)  # noqa: NPY002
    second = fitting.fit_purchase_model(summary, "pareto").params
    assert first == second


def test_precision_loss_at_an_optimum_is_convergence(cdnow_calibration, monkeypatch):
    """BFGS may stop with "precision loss" where the gradient is ~1e-7: judged by the
    gradient, that is a converged fit; a gradient above the tolerance is not."""
    from scipy import optimize

    real = optimize.minimize

    def lossy(*args, **kwargs):
        result = real(*args, **kwargs)
        result.success, result.status = False, 2
        return result

    monkeypatch.setattr(likelihood, "minimize", lossy)
    params = fitting.fit_purchase_model(cdnow_calibration, "bgnbd").params
    assert round(params["r"], 3) == 0.243
    monkeypatch.setattr(likelihood, "GRADIENT_TOLERANCE", 0.0)
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.fit_purchase_model(cdnow_calibration, "bgnbd")
    reason = failed.value.reason
    assert reason.code == "no_convergence" and reason.figures["gradient"] > 0
    assert "(largest gradient " in text.worded(reason)


def test_non_convergence_falls_back_to_a_penalty_and_says_so(summary, monkeypatch):
    real = likelihood.fit_purchase_model
    tried = []

    def flaky(key, f, r, T, w, penalty, covariance):
        tried.append(penalty)
        if penalty < 0.01:
            raise fitting.ConvergenceError("did not converge")
        return real(key, f, r, T, w, penalty, covariance)

    monkeypatch.setattr(likelihood, "fit_purchase_model", flaky)
    model = fitting.fit_purchase_model(summary, "bgnbd")
    assert tried == [0.0, 0.01] and model.estimate.penalty == 0.01
    assert model.note == Reason(
        "penalty_fallback", {"model": "BG/NBD", "penalty": 0.0, "used": 0.01}
    )
    assert "did not converge with penalty 0.0; fitted with a penalty of 0.01" in text.worded(
        model.note
    )

    def never(*args):
        raise fitting.ConvergenceError("never")

    monkeypatch.setattr(likelihood, "fit_purchase_model", never)
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.fit_purchase_model(summary, "bgnbd")
    assert failed.value.reason == Reason(
        "no_convergence", {"model": "BG/NBD", "gradient": None, "penalties": [0.01, 0.1]}
    )
    assert text.worded(failed.value.reason).startswith("the BG/NBD model could not be fitted")

    def bug(*args):
        raise ValueError("a genuine bug")

    monkeypatch.setattr(likelihood, "fit_purchase_model", bug)
    with pytest.raises(ValueError, match="a genuine bug"):  # not reported as non-convergence
        fitting.fit_purchase_model(summary, "bgnbd")


def test_a_purchase_model_needs_exactly_its_minimum_of_customers(summary):
    least = summary.head(fitting.MIN_CUSTOMERS)
    assert fitting.fit_purchase_model(least, "bgnbd").estimate.fitter.params_["r"] > 0
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.fit_purchase_model(least.iloc[1:], "bgnbd")
    assert failed.value.reason == Reason("too_few_customers", {"customers": 49, "need": 50})


def test_a_penalty_already_on_the_fallback_ladder_is_not_tried_twice():
    tried = []

    def never(coef):
        tried.append(coef)
        raise fitting.ConvergenceError("never")

    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.with_fallback(never, 0.01, "BG/NBD")
    assert tried == [0.01, 0.1] and failed.value.reason.figures["penalties"] == [0.1]


def test_repeat_buyers_bought_again_and_spent_something():
    summary = pd.DataFrame(
        {"frequency": [0, 1, 2, 3, 0], "monetary_value": [9.0, 0.0, 0.5, 7.0, 0]}
    )
    assert fitting.repeat_buyers(summary).index.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": 1.0}, "spend_q_not_above_1"),  # the mean spend p v / (q - 1) needs q above 1
        ({"p": 0.0}, "spend_not_positive"),  # every expected order value exactly 0
        ({"v": np.inf}, "spend_not_positive"),  # positive, but not finite
    ],
)
def test_a_spend_model_without_a_positive_finite_order_value_is_withheld(
    summary, alter_spend_fit, params, code
):
    alter_spend_fit(**params)
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.spend_model(summary)
    assert failed.value.reason.code == code


def test_spend_model_from_exactly_its_minimum_of_repeat_customers(summary):
    repeat = fitting.repeat_buyers(summary).sort_values("frequency", kind="stable")
    least = repeat.iloc[-fitting.MIN_REPEAT_CUSTOMERS :]
    assert fitting.spend_model(least).repeat_customers == fitting.MIN_REPEAT_CUSTOMERS
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.spend_model(least.iloc[1:])
    assert failed.value.reason.figures == {"customers": 19, "need": 20}


def test_spend_in_thousands_is_modelled_alike(summary):
    """Mean spends below 1 (thousands of yuan) are positive spends: the same p and q, v / 1000."""
    yuan = fitting.spend_model(summary)
    thousands = fitting.spend_model(summary.assign(monetary_value=summary["monetary_value"] / 1000))
    assert thousands.params == pytest.approx(
        {**yuan.params, "v": yuan.params["v"] / 1000}, rel=1e-6
    )


def test_the_spend_correlation_is_pearsons_and_0_with_one_frequency(summary):
    repeat = fitting.repeat_buyers(summary)
    for bought in (repeat, repeat[repeat["frequency"] <= 2]):
        assert bought["frequency"].nunique() >= 2
        pearson = np.corrcoef(bought["frequency"], bought["monetary_value"])[0, 1]
        spend = fitting.spend_model(bought)
        assert spend.frequency_spend_correlation == pytest.approx(pearson, rel=1e-12)
        assert 0 < abs(pearson) < 1
    once = repeat[repeat["frequency"] == 1]
    assert fitting.spend_model(once).frequency_spend_correlation == 0.0


def test_a_spend_model_that_needed_a_penalty_says_so(summary, monkeypatch):
    real = likelihood.fit_gamma_gamma

    def flaky(frequency, monetary_value, penalty):
        if penalty < 0.01:
            raise fitting.ConvergenceError("did not converge")
        return real(frequency, monetary_value, penalty=penalty)

    monkeypatch.setattr(likelihood, "fit_gamma_gamma", flaky)
    spend = fitting.spend_model(summary)
    assert spend.note == Reason(
        "penalty_fallback", {"model": "Gamma-Gamma spend", "penalty": 0.0, "used": 0.01}
    )


def test_degenerate_spend_model_is_withheld(summary, degenerate_spend):
    """A Gamma-Gamma fit with q <= 1 (mean spend undefined, negative CLV for one-time buyers)
    is never used."""
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.spend_model(summary)
    assert failed.value.reason.code == "spend_q_not_above_1"
    assert round(failed.value.reason.figures["q"], 2) == 0.49
    assert "q = 0.49 is not above 1" in text.worded(failed.value.reason)
    few = summary[summary["frequency"] > 0].head(5)
    with pytest.raises(fitting.ModelFitError) as failed:
        fitting.spend_model(few)
    assert failed.value.reason == Reason("too_few_repeat_customers", {"customers": 5, "need": 20})
    assert text.worded(failed.value.reason, "zh-CN") == (
        "复购客户数不足以拟合消费金额模型：5位，至少需要20位"
    )


def test_holdout_validation_metrics_by_hand(engine):
    summary = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    model = fitting.fit_purchase_model(summary, "bgnbd")
    # three buyers who share one history: the check weighs each history by its customers
    history = summary.groupby(["frequency", "recency", "T"])["customer_id"].transform("size")
    buyers = summary["customer_id"][history == history.max()].iloc[:3]
    actual = pd.DataFrame({"customer_id": buyers, "purchases": 2.0})
    bought = summary["customer_id"].isin(buyers).to_numpy()
    purchases = np.where(bought, 2.0, 0.0)
    table, metrics = holdout.holdout_validation(model, outcomes_of(summary, actual), horizon=13.0)
    f, r, T = summary["frequency"], summary["recency"], summary["T"]
    predicted = model.fitter.conditional_expected_number_of_purchases_up_to_time(13.0, f, r, T)
    assert metrics["actual_purchases"] == 6.0
    assert metrics["aggregate_error_pct"] == pytest.approx(100 * (predicted.sum() / 6 - 1))
    error = predicted - purchases
    assert metrics["mae"] == pytest.approx(np.abs(error).mean())
    assert metrics["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    p = prediction.probability_of_purchase(model, 13.0, summary)
    assert metrics["expected_buyers"] == pytest.approx(p.sum())
    assert metrics["log_loss"] == pytest.approx(
        -np.mean(np.where(bought, np.log(p), np.log(1 - p)))
    )
    alive = np.asarray(model.fitter.conditional_probability_alive(f, r, T))
    yes, no = alive[bought][:, None], alive[~bought][None, :]
    pairs = (yes > no) + 0.5 * (yes == no)
    assert metrics["alive_auc"] == pytest.approx(pairs.mean())
    by_hand = (
        pd.DataFrame(
            {
                "calibration_purchases": f.clip(upper=7).astype(int),
                "predicted": predicted,
                "actual": purchases,
            }
        )
        .groupby("calibration_purchases")
        .agg(
            predicted=("predicted", "mean"), actual=("actual", "mean"), customers=("actual", "size")
        )
        .reset_index()
    )
    pd.testing.assert_frame_equal(table, by_hand, check_dtype=False)
    assert table["calibration_purchases"].max() == 7 and f.max() > 7
    assert table["calibration_purchases"].dtype.kind == table["customers"].dtype.kind == "i"
    one = actual.iloc[:1].assign(purchases=1.0)  # a single holdout purchase is checked against
    error_pct = holdout.holdout_validation(model, outcomes_of(summary, one), 13.0)[1][
        "aggregate_error_pct"
    ]
    assert error_pct == pytest.approx(100 * (predicted.sum() - 1))
    nobody = actual.iloc[:0]
    assert (
        holdout.holdout_validation(model, outcomes_of(summary, nobody), 13.0)[1][
            "aggregate_error_pct"
        ]
        is None
    )


BG_MODELS = pytest.mark.parametrize(
    ("key", "fitter", "params"),
    [
        ("bgnbd", BetaGeoFitter, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}),
        ("mbgnbd", ModifiedBetaGeoFitter, {"r": 0.5, "alpha": 2.0, "a": 0.6, "b": 3.0}),
    ],
)


def fitted_with(key: str, fitter, params: dict) -> fitting.FittedModel:
    """A purchase model of kind `key` with the given parameters, as if fitted."""
    model = fitter()
    model.params_ = pd.Series(params)
    return fitting.FittedModel(key, likelihood.Estimate(model, None, 0.0), "")


@BG_MODELS
def test_probability_of_purchase_for_a_new_customer_is_lifetimes(key, fitter, params):
    """At age 0 with no repeat purchase, the conditional P(no purchase in t) is lifetimes'
    unconditional P(X(t) = 0)."""
    fitted = fitted_with(key, fitter, params)
    rows = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [1e-9]})
    for t in (1.0, 13.0, 52.0):
        ours = prediction.probability_of_purchase(fitted, t, rows)[0]
        assert 1 - ours == pytest.approx(
            fitted.fitter.probability_of_n_purchases_up_to_time(t, 0), rel=1e-6
        )


@BG_MODELS
def test_probability_of_purchase_integrates_over_the_posterior_purchase_rate(key, fitter, params):
    """Alive at T after x repeat purchases, a customer's purchase rate is Gamma(r + x, alpha + T):
    P(purchase within t) = P(alive) (1 - E[exp(-rate t)]), the expectation integrated here."""
    fitted = fitted_with(key, fitter, params)
    rows = pd.DataFrame(
        {"frequency": [0.0, 2.0, 7.0], "recency": [0.0, 9.0, 30.0], "T": [5.0, 20.0, 40.0]}
    )
    ours = prediction.probability_of_purchase(fitted, 13.0, rows)
    alive = fitted.fitter.conditional_probability_alive(
        rows["frequency"], rows["recency"], rows["T"]
    )
    for i, (x, age) in enumerate(zip(rows["frequency"], rows["T"], strict=True)):
        rate = stats.gamma(params["r"] + x, scale=1 / (params["alpha"] + age))
        none_if_alive = rate.expect(lambda lam: np.exp(-lam * 13.0))
        assert ours[i] == pytest.approx(alive[i] * (1 - none_if_alive), rel=1e-7)


def test_pareto_probability_of_purchase_matches_lifetimes_where_it_is_finite(engine):
    summary = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7).head(400)
    model = fitting.fit_purchase_model(summary, "pareto")
    f, r, T = (summary[k].to_numpy() for k in ("frequency", "recency", "T"))
    theirs = model.fitter.conditional_probability_of_n_purchases_up_to_time(0, 13.0, f, r, T)
    ours = prediction.probability_of_purchase(model, 13.0, summary)
    finite = np.isfinite(theirs)
    assert finite.mean() > 0.9
    np.testing.assert_allclose(1 - ours[finite], theirs[finite], atol=1e-6)
    nothing = prediction.probability_of_purchase(model, 0.0, summary)  # no time to buy in
    assert nothing.min() >= 0.0 and nothing.max() < 1e-12  # never below 0 by rounding


def test_choice_needs_tolerance_and_a_p_alive_that_separates():
    results = {
        "bgnbd": {"aggregate_error_pct": -5.0, "log_loss": 0.30, "alive_auc": 0.33},
        "mbgnbd": {"aggregate_error_pct": -16.0, "log_loss": 0.29, "alive_auc": 0.80},
        "pareto": {"aggregate_error_pct": 12.0, "log_loss": 0.31, "alive_auc": 0.78},
    }
    assert holdout.choose_model(results, 15.0) == "pareto"
    assert holdout.choose_model(results, 20.0) == "mbgnbd"
    results["pareto"]["alive_auc"] = 0.4
    assert holdout.choose_model(results, 15.0) == "bgnbd"  # none separates: best log-loss
    results["mbgnbd"] = {"model": "Modified BG/NBD", "error": "did not converge"}
    assert holdout.choose_model(results, 1.0) == "bgnbd"  # none within tolerance: all


def test_choice_at_exactly_the_tolerance_and_at_an_auc_of_one_half():
    """An error of exactly the tolerance is within it; an AUC of exactly 0.5 ranks no better
    than chance."""
    results = {
        "bgnbd": {"aggregate_error_pct": -5.0, "log_loss": 0.30, "alive_auc": 0.7},
        "pareto": {"aggregate_error_pct": 12.0, "log_loss": 0.20, "alive_auc": 0.7},
    }
    assert holdout.choose_model(results, 12.0) == "pareto"
    results["pareto"]["alive_auc"] = 0.5
    assert holdout.choose_model(results, 12.0) == "bgnbd"


def scored_base(table: pd.DataFrame) -> SimpleNamespace:
    """A snapshot-like scored base: `table`'s customers as the engine's scores."""
    engine = DuckDBEngine({"scores": table})
    return SimpleNamespace(engine=engine, table="scores")


def test_value_tiers_and_shares():
    """20 customers with CLV 1 to 20: the top 10% are the two highest, the bottom half the ten
    lowest; ties are ranked in customer order."""
    predictions = pd.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(20)],
            "clv": np.arange(1.0, 21.0),
            "p_alive": np.linspace(0.05, 1.0, 20),
            "frequency": np.arange(20.0),
        }
    )
    tiers = clv.value_tiers(scored_base(predictions)).set_index("tier")
    assert tiers.index.tolist() == clv.TIERS
    assert tiers["customers"].tolist() == [2, 2, 6, 10]
    assert tiers.loc["Top 10%", "value_share"] == pytest.approx((20 + 19) / 210)
    assert tiers.loc["Top 10%", "clv_mean"] == pytest.approx(19.5)
    assert tiers.loc["Top 10%", "p_alive"] == pytest.approx((0.95 + 1.0) / 2)
    assert tiers.loc["Next 10%", "frequency"] == pytest.approx((16 + 17) / 2)
    assert tiers.loc["Bottom 50%", "clv_total"] == pytest.approx(sum(range(1, 11)))
    assert tiers["value_share"].sum() == pytest.approx(1.0)
    nothing = clv.value_tiers(scored_base(predictions.assign(clv=0.0)))
    assert nothing["value_share"].isna().all()  # shares of a zero total are not shown
    # all tied: the first two customers are the top 10%
    assert nothing.set_index("tier").loc["Top 10%", "frequency"] == pytest.approx(0.5)


def test_the_crm_table_names_each_customers_tier_part_by_part(tmp_path, monkeypatch):
    """12 customers, fetched 5 at a time: every row once, in customer order, with the tier
    its rank gives (rank share 1/12 is the top 10%, 2/12 the next 10%, up to 6/12 the middle
    30%); c03 and c04 tie at CLV 8 across the top tier's edge, and the earlier id wins. Without
    CLV the table has no tier at all."""
    monkeypatch.setattr(exports, "FETCH_ROWS", 5)
    customers = [f"c{i:02d}" for i in range(12)]
    values = [1.0, 2.0, 3.0, 8.0, 8.0, 4.0, 5.0, 6.0, 0.5, 7.0, 0.1, 0.2]
    predictions = pd.DataFrame({"customer_id": customers[::-1], "clv": values[::-1]})
    engine = DuckDBEngine({"scores": predictions})
    base = SimpleNamespace(engine=engine, table="scores", has_clv=True)
    clv.customer_export(SimpleNamespace(current=base)).write(tmp_path, "valued")
    table = exports.read(tmp_path, "valued")
    assert table.columns.tolist() == ["customer_id", "clv", "clv_tier"]
    assert table["customer_id"].tolist() == customers
    by_rank = table.sort_values(["clv", "customer_id"], ascending=[False, True])
    expected = ["Top 10%", "Next 10%"] + ["Middle 30%"] * 4 + ["Bottom 50%"] * 6
    assert by_rank["customer_id"].tolist()[:2] == ["c03", "c04"]
    assert by_rank["clv_tier"].tolist() == expected
    unvalued = SimpleNamespace(engine=engine, table="scores", has_clv=False)
    clv.customer_export(SimpleNamespace(current=unvalued)).write(tmp_path, "unvalued")
    assert exports.read(tmp_path, "unvalued").columns.tolist() == ["customer_id", "clv"]


def test_value_tiers_of_a_tiny_base_keep_every_tier():
    """Three customers: rank shares 1/3, 2/3 and 1, so the top two tiers are empty (0 customers,
    no mean) and the middle 30% holds the best customer."""
    predictions = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "clv": [5.0, 1.0, 3.0], "p_alive": 0.5, "frequency": 1.0}
    )
    tiers = clv.value_tiers(scored_base(predictions)).set_index("tier")
    assert tiers["customers"].tolist() == [0, 0, 1, 2] and tiers["customers"].dtype.kind == "i"
    assert tiers.loc["Top 10%", "clv_total"] == 0.0 and np.isnan(tiers.loc["Top 10%", "clv_mean"])
    assert tiers.loc["Middle 30%", "clv_total"] == 5.0
    assert tiers["value_share"].tolist() == pytest.approx([0.0, 0.0, 5 / 9, 4 / 9])


def test_clv_by_a_column_and_new_customers_by_channel():
    """Per channel by hand: unknown channels are left out; the quarter's new customers' first
    purchase value is scaled to margin terms."""
    predictions = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "clv": [10.0, 20.0, 30.0, 40.0, 50.0],
            "p_alive": [0.2, 0.4, 0.6, 0.8, 1.0],
            "acquisition_channel": ["search", "search", "email", None, "email"],
            "first_quarter": ["2025Q3", "2025Q4", "2025Q4", "2025Q4", "2024Q4"],
            "first_day_value": [100.0, 50.0, 70.0, 10.0, 30.0],
        }
    )
    base = scored_base(predictions)
    base.margin_rate = 0.4
    table = clv.channel_values(base, parse_period("2025Q4")).set_index("acquisition_channel")
    assert table.index.tolist() == ["email", "search"]
    assert table["customers"].tolist() == [2, 2]
    assert table["clv_mean"].tolist() == [40.0, 15.0]
    assert table["clv_total"].tolist() == [80.0, 30.0]
    assert table["p_alive"].tolist() == pytest.approx([0.8, 0.3])
    assert table["new_customers"].tolist() == [1, 1]
    assert table["new_clv_mean"].tolist() == [30.0, 20.0]
    assert table["new_first_value_mean"].tolist() == pytest.approx([0.4 * 70, 0.4 * 50])
    base.margin_rate = None
    year = clv.channel_values(base, parse_period("2025")).set_index("acquisition_channel")
    assert year.loc["search", "new_customers"] == 2
    assert year.loc["search", "new_first_value_mean"] == pytest.approx(75.0)
    assert year.loc["email", "new_customers"] == 1
    q3 = clv.channel_values(base, parse_period("2025Q3")).set_index("acquisition_channel")
    assert q3.index.tolist() == ["email", "search"]  # email acquired no one then: still shown
    assert np.isnan(q3.loc["email", "new_customers"]) and q3.loc["search", "new_customers"] == 1


@pytest.mark.parametrize("q", [0.0, 0.5, 0.55, 0.75, 0.99, 1.0])  # 0.55 and 0.75 interpolate
def test_weighted_quantile_is_the_quantile_of_the_repeated_values(q):
    values = pd.Series([3.0, 1.0, 2.0, 10.0])
    weights = pd.Series([2, 5, 1, 3])
    repeated = np.repeat(values.to_numpy(), weights.to_numpy())
    assert clv.weighted_quantile(values, weights, q) == pytest.approx(np.quantile(repeated, q))


def test_clv_in_margin_terms_and_discounting(summary):
    model = fitting.fit_purchase_model(summary, "bgnbd")
    spend = fitting.spend_model(summary)
    revenue = predict_customers(model, spend, summary, HORIZON, None)
    margin = predict_customers(model, spend, summary, HORIZON, 0.4)
    np.testing.assert_allclose(margin["clv"], 0.4 * revenue["clv"])
    undiscounted = predict_customers(
        model, spend, summary, prediction.Horizon(92 / 7, 12, 0.0, "weeks"), None
    )
    assert (undiscounted["clv"] >= revenue["clv"]).all() and (revenue["clv"] >= 0).all()
    assert prediction.monthly_rate(0.10) == pytest.approx(0.0079741404, rel=1e-8)
    assert revenue["p_alive"].min() >= 0 and revenue["p_alive"].max() <= 1
    repeat = (summary["frequency"] > 0) & (summary["monetary_value"] > 0)
    assert spend.repeat_customers == repeat.sum()
    assert spend.observed_mean == pytest.approx(summary.loc[repeat, "monetary_value"].mean())
    without_spend = predict_customers(model, None, summary, HORIZON, 0.4)
    assert "clv" not in without_spend and "p_alive" in without_spend


def test_period_transactions_check_is_seeded(summary):
    model = fitting.fit_purchase_model(summary, "bgnbd")
    first = prediction.period_transactions(model, summary, seed=3)
    assert first.equals(prediction.period_transactions(model, summary, seed=3))
    assert not first.equals(prediction.period_transactions(model, summary, seed=4))
    histories = fitting.compress(summary)  # the same customers as distinct histories
    assert first.equals(prediction.period_transactions(model, histories, seed=3))
    assert first["actual"].sum() == first["model"].sum() == len(summary)
    actual = summary["frequency"].clip(upper=7).value_counts().sort_index()
    assert first["actual"].tolist() == actual.reindex(range(8), fill_value=0).tolist()


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
    drawn = prediction.simulate_repeat_purchases(key, params, ages, np.random.default_rng(0))
    expected = model.expected_number_of_purchases_up_to_time(30.0)
    assert drawn.mean() == pytest.approx(expected, abs=4 * drawn.std() / np.sqrt(len(ages)))
    if key != "pareto":  # lifetimes has P(X(t) = n) for the BG/NBD family only
        for n in range(4):
            share = model.probability_of_n_purchases_up_to_time(30.0, n)
            error = np.sqrt(share * (1 - share) / len(ages))
            assert (drawn == n).mean() == pytest.approx(share, abs=4 * error)


@pytest.mark.parametrize("key", fitting.MODEL_KEYS)
def test_compressed_clv_equals_lifetimes_customer_lifetime_value(summary, key):
    """Each model's monthly expectations are computed per distinct (frequency, T) and rescaled
    by recency (valid because E(t | x, t_x, T) factorises): still lifetimes' own CLV."""
    model = fitting.fit_purchase_model(summary, key)
    spend = fitting.spend_model(summary)
    ours = predict_customers(model, spend, summary, HORIZON, None)
    theirs = spend.fitter.customer_lifetime_value(
        model.fitter,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary_value"],
        time=12,
        discount_rate=prediction.monthly_rate(0.10),
        freq="W",
    )
    np.testing.assert_allclose(ours["clv"], theirs, rtol=1e-9)
    alive = model.fitter.conditional_probability_alive(
        summary["frequency"], summary["recency"], summary["T"]
    )
    np.testing.assert_allclose(ours["p_alive"], alive, rtol=1e-12)
    for column, t in [
        ("expected_purchases_next_quarter", 92 / 7),
        ("expected_purchases_horizon", 12 * 4.345),
    ]:
        expected = model.fitter.conditional_expected_number_of_purchases_up_to_time(
            t, summary["frequency"], summary["recency"], summary["T"]
        )
        np.testing.assert_allclose(ours[column], expected, rtol=1e-9)
    assert ours["customer_id"].tolist() == summary["customer_id"].tolist()


@pytest.mark.slow
def test_standard_errors_match_a_parametric_bootstrap(summary):
    """The delta-method standard errors of total CLV and next quarter's revenue against the
    spread of the same totals over 300 parameter draws from the models' covariances."""
    model = fitting.fit_purchase_model(summary, "mbgnbd")
    spend = fitting.spend_model(summary)
    errors = scored(model, spend, summary, HORIZON)[1]
    delta = np.array([errors["clv_total"], errors["expected_revenue_next_quarter"]])
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(300):
        fitted = []
        for estimate in (model.estimate, spend.estimate):
            log_params = np.log(estimate.fitter.params_.to_numpy())
            fitted.append(
                prediction._refitted(
                    estimate, rng.multivariate_normal(log_params, estimate.covariance)
                )
            )
        purchase = fitting.FittedModel("mbgnbd", likelihood.Estimate(fitted[0], None, 0), "")
        drawn_spend = fitting.SpendModel(
            likelihood.Estimate(fitted[1], None, 0), 1, 0.0, 0.0, 0.0, ""
        )
        p = predict_customers(purchase, drawn_spend, summary, HORIZON, None)
        draws.append([p["clv"].sum(), p["expected_revenue_next_quarter"].sum()])
    bootstrap = np.std(draws, axis=0, ddof=1)
    np.testing.assert_allclose(delta, bootstrap, rtol=0.15)
    assert (delta > 0).all()


@pytest.mark.parametrize("params", [[0.55, 10.6, 0.6, 11.7], [1.0, 20.0, 1.3, 5.0]])
def test_pareto_likelihood_is_lifetimes(summary, params):
    """Both branches (alpha < beta and alpha >= beta) of the hypergeometric term."""
    rows = fitting.compress(summary)
    x, recency, age = (rows[k].to_numpy(float) for k in ("frequency", "recency", "T"))
    histories = likelihood._ParetoHistories.build(x, recency, age)
    ours = likelihood._pareto_log_likelihood(np.array(params), histories)
    theirs = ParetoNBDFitter._conditional_log_likelihood(params, x, recency, age)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_spend_validation_by_hand():
    """The spend model's holdout check covers the calibration's repeat buyers (c has no repeat
    purchase) who bought in the holdout (one purchase is enough; d bought nothing). The
    fitter's expectation is stubbed as each customer's mean spend: predicted (100 + 50) / 2 =
    75 against actual (120 + 40) / 2 = 80, an error of -6.25%."""
    calibration = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "frequency": [2.0, 1, 0, 3]}
        | {"recency": [5.0, 3, 0, 8], "T": 10.0, "monetary_value": [100.0, 50, 0, 80]}
    )
    actual = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "purchases": [1.0, 2, 3, 0]}
        | {"value": [120.0, 40, 90, 0]}
    )
    stub = SimpleNamespace(
        fitter=SimpleNamespace(conditional_expected_average_profit=lambda f, m: m.astype(float))
    )
    assert holdout.spend_validation(stub, spend_outcomes_of(calibration, actual)) == pytest.approx(
        {"customers": 2, "predicted_mean": 75.0, "actual_mean": 80.0, "error_pct": -6.25}
    )
    nobody = actual.assign(purchases=0.0)
    assert holdout.spend_validation(stub, spend_outcomes_of(calibration, nobody)) == {
        "customers": 0,
        "predicted_mean": None,
        "actual_mean": None,
        "error_pct": None,
    }


def test_try_spend_model_fits_with_the_penalty_it_is_given(summary):
    penalised, reason = fitting.try_spend_model(summary, 0.5)
    assert reason is None
    assert penalised.params == fitting.spend_model(summary, 0.5).params
    assert penalised.params != fitting.spend_model(summary, 0.0).params


def test_fit_errors_carry_their_reason_in_their_message():
    error = fitting.ModelFitError("too_few_repeat_customers", customers=5, need=20)
    assert str(error) == "too_few_repeat_customers(customers=5, need=20)"
    assert str(likelihood.NotConverged("stopped early", 0.5)) == "stopped early"


@pytest.mark.parametrize("key", ["bgnbd", "pareto"])  # Pareto/NBD reads recency at frequency 0
def test_matrices_cover_every_frequency_up_to_the_maximum(summary, key):
    model = fitting.fit_purchase_model(summary, key)
    alive = prediction.alive_matrix(model, T=20.0, max_frequency=4, points=5)
    assert list(alive.index) == [0, 1, 2, 3, 4]
    assert list(alive.columns) == [0, 5, 10, 15, 20] and alive.columns.dtype.kind == "i"
    f, r = (a.ravel() for a in np.meshgrid(alive.index, alive.columns, indexing="ij"))
    by_hand = model.fitter.conditional_probability_alive(f, np.where(f == 0, 0, r), 20.0)
    # no repeat purchase: recency 0
    np.testing.assert_allclose(alive.to_numpy().ravel(), by_hand, rtol=1e-12)
    expected = prediction.expected_purchases_matrix(model, 10.0, 13.0, max_frequency=2, points=11)
    assert list(expected.columns) == list(range(11))  # recency in whole weeks up to T
    f, r = (a.ravel() for a in np.meshgrid(expected.index, expected.columns, indexing="ij"))
    fitter = model.fitter
    by_hand = fitter.conditional_expected_number_of_purchases_up_to_time(
        13.0, f, np.where(f == 0, 0, r), np.full(f.size, 10.0)
    )
    np.testing.assert_allclose(expected.to_numpy().ravel(), by_hand, rtol=1e-12)


def test_auc_and_log_loss_at_their_edges():
    """AUC by hand (3 of 4 positive-negative pairs ordered right: 0.75), none without both
    classes; log-loss of certain but wrong forecasts is large and finite (clipped at 1e-12)."""
    score = np.array([0.1, 0.4, 0.35, 0.8])
    assert holdout.auc(score, np.array([False, False, True, True])) == 0.75
    assert holdout.auc(score, np.ones(4, bool)) is None
    assert holdout.auc(score, np.zeros(4, bool)) is None
    wrong = holdout.log_loss(np.array([0.0, 1.0]), np.array([True, False]))
    assert wrong == pytest.approx(-np.log(1e-12), rel=1e-5)  # 1 - (1 - 1e-12) is not 1e-12
    right = holdout.log_loss(np.array([0.0, 1.0]), np.array([False, True]))
    assert right == pytest.approx(0.0, abs=1e-9)


def test_one_holdout_purchase_makes_a_buyer_and_broken_forecasts_name_their_model(engine):
    summary = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7)
    model = fitting.fit_purchase_model(summary, "bgnbd")
    actual = pd.DataFrame(
        {"customer_id": summary["customer_id"].iloc[:3], "purchases": [1, 2, 0.0]}
    )
    _, metrics = holdout.holdout_validation(model, outcomes_of(summary, actual), horizon=13.0)
    assert metrics["buyers"] == 2 and metrics["customers"] == len(summary)
    broken = SimpleNamespace(
        name="BG/NBD",
        key="bgnbd",
        params=model.params,
        fitter=SimpleNamespace(
            conditional_expected_number_of_purchases_up_to_time=lambda t, f, r, T: np.full(
                len(f), np.inf
            ),
            conditional_probability_alive=model.fitter.conditional_probability_alive,
        ),
    )
    with pytest.raises(fitting.ModelFitError) as failed:
        holdout.holdout_validation(broken, outcomes_of(summary, actual), horizon=13.0)
    assert failed.value.reason.code == "no_finite_prediction"
    assert failed.value.reason.figures["model"] == "BG/NBD"


def test_period_transactions_count_every_bucket_zeros_included(summary):
    """Three customers with 0, 0 and 9 repeat purchases (9 counts as 7 or more): the buckets
    between hold nobody, in the data and, for these young customers, mostly in the model."""
    model = fitting.fit_purchase_model(summary, "bgnbd")
    three = pd.DataFrame({"frequency": [0.0, 0.0, 9.0], "recency": [0.0, 0.0, 9.0], "T": 10.0})
    table = prediction.period_transactions(model, three, seed=1)
    assert list(table.columns) == ["repeat_purchases", "actual", "model"]
    assert table["repeat_purchases"].tolist() == list(range(8))
    assert table["actual"].tolist() == [2, 0, 0, 0, 0, 0, 0, 1]
    assert table["model"].sum() == 3 and (table["model"] == 0).sum() >= 5
    assert table["actual"].dtype.kind == table["model"].dtype.kind == "i"  # customers, counted


def test_value_snapshot_and_base_summary_by_hand(engine, orders):
    """The base valued at 2025Q3's end in weeks with a purchase penalty of 0.01: its summary,
    model, margin and horizon are those the parameters ask for, and every headline figure is
    the sum or mean of the customers' predictions."""
    from helpers.core.config import load_config
    from helpers.models import valuation

    from .conftest import PROJECT

    config = load_config(
        PROJECT / "params", "2025Q3", overrides={"clv": {"purchase_penalty": 0.01}}
    )
    quarter = config.period
    snapshot = valuation.value_snapshot(engine, config, quarter, "bgnbd")
    assert snapshot.quarter == "2025Q3" and snapshot.model.estimate.penalty == 0.01
    summary = queries.customer_summary(engine, quarter.end, 7.0)
    p = snapshot.predictions
    assert "first_order_ts" not in p and (p["T"].to_numpy() == summary["T"].to_numpy()).all()
    rate = queries.gross_margin_rate(engine, quarter.end)
    assert snapshot.margin_rate == rate and 0 < rate < 1
    horizon = valuation.horizon_for(config, quarter)
    assert horizon.next_quarter == 92 / 7  # 2025Q4 in weeks
    plain = predict_customers(snapshot.model, snapshot.spend, summary, horizon, None)
    np.testing.assert_allclose(p["clv"], plain["clv"] * rate, rtol=1e-12)
    in_12_months = 12 * 4.345  # lifetimes' months, in weeks
    np.testing.assert_allclose(
        p["p_order_horizon"],
        prediction.probability_of_purchase(snapshot.model, in_12_months, summary),
        rtol=1e-12,
    )
    errors = snapshot.standard_errors
    assert set(errors) == set(valuation.CLV_FIGURES)
    assert errors["clv_mean"] == pytest.approx(errors["clv_total"] / len(p))
    figures = valuation.base_summary(snapshot, engine, quarter)
    year_before = orders[(orders["order_ts"] >= "2024-10-01") & (orders["order_ts"] < quarter.end)]
    assert figures == pytest.approx(
        {
            "customers": len(p),
            "expected_alive": p["p_alive"].sum(),
            "expected_buyers_horizon": p["p_order_horizon"].sum(),
            "bought_last_12_months": year_before["customer_id"].nunique(),
            "clv_mean": p["clv"].mean(),
            "clv_total": p["clv"].sum(),
            "expected_revenue_next_quarter": p["expected_revenue_next_quarter"].sum(),
            **{f"{name}_se": errors[name] for name in valuation.CLV_FIGURES},
        }
    )


def test_without_costs_the_clv_error_is_not_scaled_and_a_zero_margin_is_rejected(orders):
    """No cost column: value in revenue, the CLV's standard error as the delta method gives it.
    Costs equal to revenue: a margin rate of exactly 0 is rejected, not used."""
    from helpers.core.config import load_config
    from helpers.models import valuation

    from .conftest import PROJECT

    config = load_config(PROJECT / "params", "2025Q3")
    no_costs = DuckDBEngine({"orders": orders.drop(columns="cost")})
    snapshot = valuation.value_snapshot(no_costs, config, config.period, "bgnbd")
    assert snapshot.margin_rate is None
    summary = queries.customer_summary(no_costs, config.period.end, 7.0)
    horizon = valuation.horizon_for(config, config.period)
    clv_se, _ = lifetimes_standard_errors(snapshot.model, snapshot.spend, summary, horizon)
    assert snapshot.standard_errors["clv_total"] == pytest.approx(clv_se, rel=1e-6)
    at_cost = DuckDBEngine({"orders": orders.assign(cost=orders["revenue"])})
    assert valuation.margin_rates(at_cost, config.period.end) == (None, 0.0)


def test_a_candidate_that_cannot_be_fitted_is_named_with_its_reason(engine, monkeypatch):
    from helpers.core.config import load_config

    from .conftest import PROJECT

    real = holdout.fit_purchase_model

    def no_pareto(outcomes, key, penalty, covariance):
        if key == "pareto":
            raise fitting.ModelFitError("no_convergence", model="Pareto/NBD")
        return real(outcomes, key, penalty, covariance)

    monkeypatch.setattr(holdout, "fit_purchase_model", no_pareto)
    config = load_config(PROJECT / "params", "2025Q3")
    _, results, _, _ = holdout.validate_models(engine, config, config.period, "failing_pareto")
    assert results["pareto"] == {
        "model": "Pareto/NBD",
        "error": Reason("no_convergence", {"model": "Pareto/NBD"}),
    }
    assert {"bgnbd", "mbgnbd"} <= set(results) and "error" not in results["bgnbd"]
    engine.forget("failing_pareto")


def test_predictions_not_finite_are_counted_with_a_first_example():
    rows = pd.DataFrame({"frequency": [1.0, 2.0, 3.0, 4.0], "p": [0.5, np.nan, np.inf, 0.1]})
    model = SimpleNamespace(name="Pareto/NBD")
    prediction.check_predictions(model, rows.iloc[[0, 3]], ["p"])
    with pytest.raises(fitting.ModelFitError) as failed:
        prediction.check_predictions(model, rows, ["p"])
    assert failed.value.reason == Reason(
        "no_finite_prediction", {"model": "Pareto/NBD", "histories": 2, "example": 2.0}
    )


def test_rows_expected_to_buy_nothing_are_worth_0_without_a_warning(summary):
    """Over no time at all nobody is expected to buy: 0, silently."""
    model = fitting.fit_purchase_model(summary, "bgnbd")
    rows = summary[["frequency", "recency", "T"]].head(5)
    none = prediction.Horizon(next_quarter=0.0, months=0, monthly_discount=0.01, unit="weeks")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        worth = prediction.purchase_expectations(model.fitter, rows, none)
    expected = ["expected_purchases_next_quarter", "expected_purchases_horizon"]
    assert (worth[[*expected, "discounted_purchases"]] == 0).all(axis=None)


def test_histories_without_finite_predictions_name_their_model(summary, monkeypatch):
    model = fitting.fit_purchase_model(summary, "bgnbd")
    monkeypatch.setattr(prediction, "alive_probability", lambda fitter, rows: np.nan)
    horizon = prediction.Horizon(next_quarter=13.0, months=12, monthly_discount=0.01, unit="weeks")
    with pytest.raises(fitting.ModelFitError) as failed:
        prediction.history_predictions(model, summary.head(3), horizon)
    assert failed.value.reason.figures["model"] == "BG/NBD"


@pytest.mark.parametrize("missing", ["purchases", "spend"])
def test_without_either_covariance_there_are_no_standard_errors(missing):
    """Either model's covariance missing (Hessian not positive definite): no standard errors,
    nothing else read."""
    covariances = {"purchases": np.eye(4), "spend": np.eye(3), missing: None}
    model, spend = (
        SimpleNamespace(estimate=SimpleNamespace(covariance=covariances[name]))
        for name in ("purchases", "spend")
    )
    assert prediction.headline_standard_errors(model, spend, None, None, None) is None


def test_validate_models_compares_on_a_sample_only_among_several(engine, monkeypatch):
    """One candidate is checked on every calibration customer, whatever selection_customers
    says; several are compared on a sample only when there are more customers than it, and
    the chosen one is then checked on everyone. The horizon is the quarter in the model's
    unit (92 days of 2025Q3 in weeks)."""
    from helpers.core.config import load_config

    from .conftest import PROJECT

    def validated(model, selection, summary="before_2025q3", **clv_params):
        clv_params.update(model=model, selection_customers=selection)
        config = load_config(PROJECT / "params", "2025Q3", overrides={"clv": clv_params})
        return holdout.validate_models(engine, config, config.period, summary)

    _, results, _, (model, _, _) = validated("bgnbd", 1000)
    calibration = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7.0)
    kept = engine.sql("SELECT * FROM before_2025q3 ORDER BY customer_id")  # left for the caller
    pd.testing.assert_frame_equal(kept, calibration, check_dtype=False)
    everyone = len(calibration)
    assert list(results) == ["bgnbd"] and results["bgnbd"]["customers"] == everyone
    assert results["bgnbd"]["params"] == model.params and results["bgnbd"]["note"] is None
    actual = purchase_days_between(engine, pd.Timestamp("2025-07-01"), pd.Timestamp("2025-10-01"))
    outcomes = outcomes_of(calibration, actual)
    _, metrics = holdout.holdout_validation(model, outcomes, horizon=92 / 7)
    assert results["bgnbd"]["predicted_purchases"] == pytest.approx(metrics["predicted_purchases"])
    _, results, _, _ = validated("bgnbd", 1000, purchase_penalty=0.5)
    penalised = fitting.fit_purchase_model(outcomes, "bgnbd", 0.5).params
    assert results["bgnbd"]["params"] == pytest.approx(penalised, rel=1e-9)
    _, results, _, _ = validated("auto", everyone)
    assert [r["customers"] for r in results.values()] == [everyone] * len(holdout.MODEL_KEYS)
    engine.keep("first_500", "SELECT * FROM before_2025q3 ORDER BY customer_id LIMIT 500")
    _, results, _, _ = validated("bgnbd", 1000, summary="first_500")  # the summary held is used
    assert results["bgnbd"]["customers"] == 500
    # only a fit that may be valued (on everyone) gets its parameters' covariance
    fits, fit_model = [], holdout.fit_purchase_model
    monkeypatch.setattr(
        holdout, "fit_purchase_model", lambda *a: fits.append((a[1], a[3])) or fit_model(*a)
    )
    _, results, _, (model, _, _) = validated("auto", 1000)
    assert fits == [(key, False) for key in holdout.MODEL_KEYS] + [(model.key, True)]
    assert model.estimate.covariance is not None
    assert (
        fitting.fit_purchase_model(outcomes, "bgnbd", covariance=False).estimate.covariance is None
    )
    fits.clear()
    validated("auto", everyone)
    assert fits == [(key, True) for key in holdout.MODEL_KEYS]
    monkeypatch.setattr(holdout, "MODEL_KEYS", ("bgnbd", "mbgnbd"))
    _, results, _, _ = validated("auto", 1000)
    assert sorted(r["customers"] for r in results.values()) == [1000, everyone]
    # the other candidate, on 1,000 customers evenly spaced in customer order
    (other,) = [key for key, r in results.items() if r["customers"] == 1000]
    position = np.arange(everyone)
    picked = (position + 1) * 1000 // everyone > position * 1000 // everyone
    sampled = outcomes_of(calibration.sort_values("customer_id")[picked], actual)
    fit = fitting.fit_purchase_model(sampled, other)
    _, metrics = holdout.holdout_validation(fit, sampled, horizon=92 / 7)
    for figure in ("actual_purchases", "predicted_purchases", "log_loss"):
        assert results[other][figure] == pytest.approx(metrics[figure], rel=1e-6)
    assert engine.has("before_2025q3") and not engine.has("before_2025q3_sample")
    monkeypatch.setattr(holdout, "choose_model", lambda *args: "no such model")
    with pytest.raises(KeyError):
        validated("auto", 1000)
    assert not engine.has("before_2025q3")  # nothing left for a caller that failed


def test_holdout_outcomes_in_the_engine_are_the_customers_grouped_by_hand(engine):
    """The engine groups the calibration customers by history and holdout purchase days, and
    sums the repeat buyers' spend per frequency, exactly as pandas does customer by customer."""
    start, end = pd.Timestamp("2025-07-01"), pd.Timestamp("2025-10-01")
    queries.keep_customer_summary(engine, "calibration_test", start, 7.0, origins=False)
    calibration = queries.customer_summary(engine, start, 7.0)
    actual = purchase_days_between(engine, start, end)
    grouped = scores.holdout_outcomes(engine, "calibration_test", start, end)
    pd.testing.assert_frame_equal(grouped, outcomes_of(calibration, actual), check_dtype=False)
    assert grouped["weight"].sum() == len(calibration) and (grouped["actual"] > 0).any()
    spend = scores.holdout_spend(engine, "calibration_test", start, end)
    by_hand = spend_outcomes_of(calibration, actual)
    pd.testing.assert_frame_equal(spend, by_hand, check_dtype=False, rtol=1e-12)
    assert len(spend) > 3


def test_a_sample_of_customers_is_exactly_its_size_and_evenly_spaced(engine):
    summary = queries.customer_summary(engine, pd.Timestamp("2025-07-01"), 7.0)
    queries.keep_customer_summary(
        engine, "sample_base", pd.Timestamp("2025-07-01"), 7.0, origins=False
    )
    for size in (1000, 999, len(summary)):
        scores.keep_sample(engine, "sampled", "sample_base", size)
        ids = engine.sql("SELECT customer_id FROM sampled ORDER BY customer_id")["customer_id"]
        assert len(ids) == size
        positions = summary.index[summary["customer_id"].isin(ids)].to_numpy()
        gaps = np.diff(positions)
        assert gaps.min() >= np.floor(len(summary) / size)
        assert gaps.max() <= np.ceil(len(summary) / size)


def test_the_last_position_of_each_tier_is_where_the_rank_share_passes_its_bound():
    """Brute force over bases of 1 to 400 customers, in the same floating point as SQL; with
    the tiers' bounds, and with 0.35 and 0.7, where bound x customers can fall just under the
    last position (0.7 x 90 is 62.99..., yet 63 / 90 is not above 0.7)."""
    bounds = [0.1, 0.2, 0.35, 0.5, 0.7]
    for customers in range(1, 401):
        expected = [max([k for k in range(customers + 1) if k / customers <= b]) for b in bounds]
        assert scores.last_positions(customers, bounds) == expected


def test_tiers_of_a_base_smaller_than_ten_customers_all_fall_in_the_bottom_tiers():
    predictions = pd.DataFrame(
        {"customer_id": ["a", "b"], "clv": [5.0, 1.0], "p_alive": 0.5, "frequency": 1.0}
    )
    tiers = clv.value_tiers(scored_base(predictions)).set_index("tier")
    assert tiers["customers"].tolist() == [0, 0, 1, 1]
    one = clv.value_tiers(scored_base(predictions.head(1))).set_index("tier")
    assert one["customers"].tolist() == [0, 0, 0, 1]


def test_findings_at_their_thresholds():
    """The spend correlation is said only above its threshold; channels compared only when
    there are two or more and the worst has a positive value (0.50 is one); no concentration
    without tiers; the trust finding quotes the tolerance."""
    validation = {"model": "Pareto/NBD", "aggregate_error_pct": -5.0}
    base = {
        "expected_alive": {"current": 10.0},
        "expected_buyers_horizon": {"current": 8.0},
        "bought_last_12_months": {"current": 12.0},
    }
    thresholds = {"max_holdout_error_pct": 15.0, "horizon_months": 12, "max_spend_correlation": 0.3}

    def said(correlation, channels=None, tiers=None):
        spend = SimpleNamespace(frequency_spend_correlation=correlation)
        current = SimpleNamespace(
            rejected_margin_rate=None, has_clv=True, spend_withheld=None, spend=spend
        )
        found = clv.clv_findings(validation, True, current, tiers, channels, base, thresholds, "x")
        return {f.kind: f for f in found}

    assert "clv.spend_correlation" not in said(-0.3)  # at the threshold: not above it
    assert said(-0.31)["clv.spend_correlation"].figures == {"correlation": -0.31}
    assert said(0.0)["clv.trust"].figures["tolerance_pct"] == 15.0
    two = pd.DataFrame({"acquisition_channel": ["a", "b"], "clv_mean": [0.5, 2.0]})
    assert said(0.0, two)["clv.channel_value"].figures["ratio"] == 4.0
    for fewer_or_worthless in (two.iloc[:1], two.assign(clv_mean=[0.0, 2.0])):
        assert "clv.channel_value" not in said(0.0, fewer_or_worthless)
    assert "clv.concentration" not in said(0.0, tiers=None)


@pytest.mark.parametrize(
    "error, trusted, variant, words",
    [
        (-5.0, True, "under_within", "under-predicted this quarter's purchases by 5.0%"),
        (0.0, True, "over_within", "over-predicted this quarter's purchases by 0.0%"),
        (0.5, True, "over_within", "over-predicted this quarter's purchases by 0.5%"),
        (20.0, False, "over_beyond", "over-predicted this quarter's purchases by 20.0%"),
        (-20.0, False, "under_beyond", "under-predicted this quarter's purchases by 20.0%"),
    ],
)
def test_the_trust_finding_says_which_way_the_model_missed_and_whether_it_is_trusted(
    error, trusted, variant, words
):
    """An error of 0 counts as over-prediction; `trusted` (is_trusted's verdict) decides within
    or beyond the tolerance."""
    current = SimpleNamespace(
        rejected_margin_rate=None, has_clv=False, spend_withheld=None, spend=None
    )
    base = {
        "expected_alive": {"current": 10.0},
        "expected_buyers_horizon": {"current": 8.0},
        "bought_last_12_months": {"current": 12.0},
    }
    thresholds = {"max_holdout_error_pct": 15.0, "horizon_months": 12, "max_spend_correlation": 0.3}
    validation = {"model": "Pareto/NBD", "aggregate_error_pct": error}
    found = clv.clv_findings(validation, trusted, current, None, None, base, thresholds, "x")
    [trust] = [f for f in found if f.kind == "clv.trust"]
    assert trust.variant == variant
    assert words in text.sentences([trust])[0]
    within = "within the tolerance" in text.sentences([trust])[0]
    assert within is trusted
