"""Predictions of a fitted purchase model: P(alive), the chance of an order and expected purchases
per customer (on distinct histories), their discounted sum over the CLV horizon, the standard
errors of the headline figures, grids for the charts and a draw from the model for its
period-transactions check."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import roots_genlaguerre

from helpers.models import likelihood
from helpers.models.fitting import (
    LIFETIMES_MONTH,
    FittedModel,
    ModelFitError,
    SpendModel,
    compress,
)


def probability_of_purchase(model: FittedModel, t: float, rows: pd.DataFrame) -> np.ndarray:
    """P(at least one purchase within t | frequency, recency, T) per row.

    No purchase means dead at T, or alive with none in t: P(X=0) = 1 - P(alive) + P(alive)
    P(none | alive). BG/NBD and modified BG/NBD: an alive customer leaves only at a purchase,
    so P(none | alive) = ((alpha + T) / (alpha + T + t))^(r + x), the rate's posterior being
    Gamma(r + x, alpha + T). Pareto/NBD: _pareto_none_if_alive (lifetimes' own conditional
    P(X(t) = 0) is NaN for some histories)."""
    f, T = rows["frequency"].to_numpy(), rows["T"].to_numpy()
    params = model.params
    alive = alive_probability(model.fitter, rows)
    if model.key == "pareto":
        none_if_alive = _pareto_none_if_alive(params, f, T, t)
    else:
        none_if_alive = ((params["alpha"] + T) / (params["alpha"] + T + t)) ** (params["r"] + f)
    # the quadrature's weights sum to 1 only to rounding: P(none) may exceed 1 by an ulp
    return np.maximum(alive * (1 - none_if_alive), 0.0)


def check_predictions(model: FittedModel, rows: pd.DataFrame, columns: list[str]) -> None:
    """ModelFitError unless every prediction in `columns` of `rows` is finite (lifetimes'
    Pareto/NBD overflows for some long histories)."""
    broken = ~np.isfinite(rows[columns].to_numpy()).all(axis=1)
    if broken.any():
        example = rows.loc[broken, "frequency"].iloc[0]
        raise ModelFitError(
            "no_finite_prediction", model=model.name, histories=int(broken.sum()), example=example
        )


def monthly_rate(annual_rate: float) -> float:
    """The monthly discount rate equivalent to an annual one."""
    return (1 + annual_rate) ** (1 / 12) - 1


def expected_purchases(fitter, t: float, rows: pd.DataFrame) -> np.ndarray:
    """Expected purchases within t of each (frequency, recency, T) row."""
    found = fitter.conditional_expected_number_of_purchases_up_to_time(
        t, rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy()
    )
    return np.asarray(found, dtype=float)  # pragma: no mutate (lifetimes' floats, as an array)


def alive_probability(fitter, rows: pd.DataFrame) -> np.ndarray:
    """P(alive) of each (frequency, recency, T) row."""
    found = fitter.conditional_probability_alive(
        rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy()
    )
    return np.asarray(found, dtype=float)  # pragma: no mutate (lifetimes' floats, as an array)


@dataclass(frozen=True)
class Horizon:
    """What a valuation looks ahead to: the next quarter (in model time units) and a CLV
    horizon of `months`, discounted monthly."""

    next_quarter: float
    months: int
    monthly_discount: float
    unit: str


def purchase_expectations(fitter, rows: pd.DataFrame, horizon: Horizon) -> pd.DataFrame:
    """Per distinct (frequency, recency, T) row: P(alive) and expected purchases next quarter,
    over the horizon, and over the horizon discounted monthly (lifetimes'
    customer_lifetime_value without the spend factor: same formula and month length).

    In BG/NBD, modified BG/NBD and Pareto/NBD the expectation E(t | x, t_x, T) is f(t; x, T)
    times P(alive | x, t_x, T): recency only enters through the chance of being alive. So
    lifetimes' expectations are computed on one row per distinct (x, T), at recency T (where
    P(alive) is far from 0), as f = E / P(alive), and each row's are f times its P(alive)."""
    month = LIFETIMES_MONTH[horizon.unit]
    by_pair = rows.groupby(["frequency", "T"], sort=False)  # pragma: no mutate (sort=None too)
    pair = by_pair.ngroup().to_numpy()
    at_end = rows.drop_duplicates(["frequency", "T"]).assign(recency=lambda d: d["T"])
    alive_at_end = alive_probability(fitter, at_end)  # first row of each pair, in ngroup order

    def if_alive(t: float) -> np.ndarray:
        return expected_purchases(fitter, t, at_end) / alive_at_end

    cumulative = np.vstack(
        [np.zeros(len(at_end))] + [if_alive(m * month) for m in range(1, horizon.months + 1)]
    )
    discount = (1 + horizon.monthly_discount) ** -np.arange(1, horizon.months + 1)
    alive = alive_probability(fitter, rows)
    return rows.assign(
        p_alive=alive,
        expected_purchases_next_quarter=if_alive(horizon.next_quarter)[pair] * alive,
        expected_purchases_horizon=cumulative[-1][pair] * alive,
        discounted_purchases=(discount @ np.diff(cumulative, axis=0))[pair] * alive,
    )


def expected_order_value_terms(
    spend_fitter, frequency: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gamma-Gamma's expected order value is linear in a customer's mean spend m at each
    frequency: base + slope * m. Both terms from lifetimes' conditional_expected_average_profit
    at m = 0 and m = 1."""
    f = np.asarray(frequency, dtype=float)  # pragma: no mutate (numbers either way)
    base = np.asarray(spend_fitter.conditional_expected_average_profit(f, np.zeros(len(f))))
    at_one = np.asarray(spend_fitter.conditional_expected_average_profit(f, np.ones(len(f))))
    return base, at_one - base


def spend_terms(
    spend: SpendModel, frequencies: np.ndarray, margin_rate: float | None
) -> pd.DataFrame:
    """Per frequency, the spend model's expected order value terms (order_value_base and
    order_value_slope: base + slope x mean spend) and the margin rate CLV is measured at (1:
    revenue)."""
    frequency = np.unique(np.asarray(frequencies, dtype=float))  # pragma: no mutate (numbers)
    base, slope = expected_order_value_terms(spend.fitter, frequency)
    return pd.DataFrame(
        {
            "frequency": frequency,
            "order_value_base": base,
            "order_value_slope": slope,
            "margin": margin_rate if margin_rate is not None else 1.0,
        }
    )


def history_predictions(
    model: FittedModel, histories: pd.DataFrame, horizon: Horizon
) -> pd.DataFrame:
    """Per distinct (frequency, recency, T) history: expected purchases next quarter, over the
    horizon and discounted over it, P(alive) and the chance of an order within the horizon
    (p_order_horizon). ModelFitError when any is not finite. Purchase predictions depend only
    on the history, so every customer's are their history's."""
    rows = histories[["frequency", "recency", "T"]]
    per_row = purchase_expectations(model.fitter, rows, horizon).assign(
        p_order_horizon=probability_of_purchase(
            model, horizon.months * LIFETIMES_MONTH[horizon.unit], rows
        ),
    )
    check_predictions(model, per_row, list(per_row.columns))
    return per_row


def _refitted(estimate: likelihood.Estimate, log_params: np.ndarray):
    """A copy of the estimate's fitter with other parameters (for finite differences)."""
    fitter = copy.copy(estimate.fitter)
    fitter.params_ = pd.Series(np.exp(log_params), index=estimate.fitter.params_.index)
    return fitter


PURCHASE_TOTALS = ["discounted_purchases", "expected_purchases_next_quarter"]


def headline_standard_errors(
    model: FittedModel,
    spend: SpendModel,
    by_history: pd.DataFrame,
    by_frequency: pd.DataFrame,
    horizon: Horizon,
    step: float = 1e-4,
) -> np.ndarray | None:
    """Standard errors of (total undiscounted-by-margin CLV, expected revenue next quarter)
    of a base from the models' parameter uncertainty: the delta method with each model's
    covariance of log-parameters and finite-difference derivatives. None when a covariance is
    not available (Hessian not positive definite).

    Both totals are sums over customers of expected order value x purchases. `by_history`
    (distinct histories with their customers' summed expected order value, `order_value`)
    gives them as the purchase model's parameters vary; `by_frequency` (per frequency, the
    customers' summed discounted and next-quarter purchases, plain and times mean spend:
    scores.purchases_by_frequency) gives them as the spend model's do, its order value being
    linear in mean spend. Both are small at any number of customers."""
    if model.estimate.covariance is None or spend.estimate.covariance is None:
        return None
    rows = by_history[["frequency", "recency", "T"]]
    order_value = by_history["order_value"].to_numpy()
    plain = by_frequency[["discounted", "next_quarter"]].to_numpy()
    spent = by_frequency[["discounted_spend", "next_quarter_spend"]].to_numpy()

    def vary_model(fitter) -> np.ndarray:
        return (
            order_value @ purchase_expectations(fitter, rows, horizon)[PURCHASE_TOTALS].to_numpy()
        )

    def vary_spend(fitter) -> np.ndarray:
        base, slope = expected_order_value_terms(fitter, by_frequency["frequency"].to_numpy())
        return base @ plain + slope @ spent

    jacobian = []
    for estimate, vary in ((model.estimate, vary_model), (spend.estimate, vary_spend)):
        at_fit = vary(estimate.fitter)
        log_params = np.log(estimate.fitter.params_.to_numpy())
        columns = [
            (vary(_refitted(estimate, log_params + step * e)) - at_fit) / step
            for e in np.eye(len(log_params))
        ]
        jacobian.append((np.array(columns).T, estimate.covariance))
    variance = sum(j @ cov @ j.T for j, cov in jacobian)
    return np.sqrt(np.diag(variance))


QUADRATURE_NODES = 16


def _pareto_none_if_alive(params: dict, f: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """Pareto/NBD: P(no purchase within t | alive at T, history), by Gauss-Laguerre quadrature
    over the posterior rates, lambda ~ Gamma(r + x, alpha + T) and mu ~ Gamma(s, beta + T).
    Given both, the customer buys at rate lambda until leaving at rate mu, so P(none) =
    (mu + lambda exp(-(lambda + mu) t)) / (lambda + mu)."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    mu_nodes, mu_weights = roots_genlaguerre(QUADRATURE_NODES, s - 1)
    mu_weights = mu_weights / mu_weights.sum()
    out = np.empty(len(f))
    for x in np.unique(f):
        rows = np.flatnonzero(f == x)
        nodes, weights = roots_genlaguerre(QUADRATURE_NODES, r + x - 1)
        lam = nodes[None, :, None] / (alpha + T[rows])[:, None, None]
        mu = mu_nodes[None, None, :] / (beta + T[rows])[:, None, None]
        none = (mu + lam * np.exp(-(lam + mu) * t)) / (lam + mu)
        out[rows] = np.einsum(
            "ikj,k,j->i",  # pragma: no mutate (einsum reads upper-case labels alike)
            none,
            weights / weights.sum(),
            mu_weights,
        )
    return out


def _on_grid(predict: Callable, T: float, max_frequency: int, points: int) -> pd.DataFrame:
    """predict(frequency, recency, T) on a frequency (rows) x recency (columns) grid for
    customers of age T, recency in whole time units (about `points` of them, evenly spaced,
    so an axis reads 0, 3, 6 rather than 2.6, 5.2); with no repeat purchase, recency is 0 by
    definition."""
    frequency = np.arange(max_frequency + 1)
    step = max(1, round(T / (points - 1)))
    recency = np.arange(0, np.floor(T) + 1, step)
    f, r = np.meshgrid(frequency, recency, indexing="ij")
    values = np.asarray(
        predict(f.ravel(), np.where(f.ravel() == 0, 0, r.ravel()), np.full(f.size, T))
    )
    return pd.DataFrame(values.reshape(f.shape), columns=recency.astype(int))  # rows: frequency


def alive_matrix(
    model: FittedModel,
    T: float,
    max_frequency: int,
    points: int = 25,  # pragma: no mutate (the grid's resolution)
) -> pd.DataFrame:
    """P(alive) by frequency and recency for customers of age T."""
    return _on_grid(model.fitter.conditional_probability_alive, T, max_frequency, points)


def expected_purchases_matrix(
    model: FittedModel,
    T: float,
    horizon: float,
    max_frequency: int,
    points: int = 25,  # pragma: no mutate (the grid's resolution)
) -> pd.DataFrame:
    """Expected purchases within `horizon` by frequency and recency for customers of age T."""
    fitter = model.fitter
    return _on_grid(
        lambda f, r, t: fitter.conditional_expected_number_of_purchases_up_to_time(
            horizon, f, r, t
        ),
        T,
        max_frequency,
        points,
    )


def simulate_repeat_purchases(
    key: str, params: dict[str, float], ages: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Repeat purchases of customers of the given ages, drawn from fitted model `key`.

    Each customer draws a purchase rate from Gamma(r, alpha) and buys as a Poisson process
    while alive. Pareto/NBD: alive for an exponential lifetime with a Gamma(s, beta) rate.
    BG/NBD: after each purchase, leaves with a Beta(a, b) probability, so the count is capped
    by a geometric draw; modified BG/NBD can also leave at the first purchase. Vectorised, and
    counting every purchase as the likelihood does (lifetimes' simulators loop per customer in
    Python and merge purchases within one time unit)."""
    size = len(ages)
    rate = rng.gamma(params["r"], 1 / params["alpha"], size)
    if key == "pareto":
        lifetime = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], size))
        return rng.poisson(rate * np.minimum(lifetime, ages))
    purchases_before_leaving = rng.geometric(rng.beta(params["a"], params["b"], size))
    if key == "mbgnbd":
        purchases_before_leaving -= 1
    return np.minimum(rng.poisson(rate * ages), purchases_before_leaving)


def period_transactions(
    model: FittedModel, histories: pd.DataFrame, seed: int, max_frequency: int = 7
) -> pd.DataFrame:
    """Customers by number of repeat purchases: actual against one draw from the model with
    every customer's own age T (lifetimes' period-transactions check, seeded), from the
    distinct histories and their customers (`weight`; see fitting.compress)."""
    rows = compress(histories)
    ages = np.repeat(rows["T"].to_numpy(), rows["weight"].to_numpy())
    simulated = simulate_repeat_purchases(
        model.key, model.params, ages, np.random.default_rng(seed)
    )
    buckets = range(max_frequency + 1)

    def count(frequency: np.ndarray, weight: np.ndarray) -> np.ndarray:
        clipped = pd.Series(weight).groupby(np.minimum(frequency, max_frequency)).sum()
        return clipped.reindex(buckets, fill_value=0).to_numpy()

    return pd.DataFrame(
        {
            "repeat_purchases": list(buckets),
            "actual": count(rows["frequency"].to_numpy(), rows["weight"].to_numpy()),
            "model": count(simulated, np.ones(len(simulated), dtype=int)),
        }
    )
