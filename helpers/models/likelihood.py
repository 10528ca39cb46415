"""Maximum likelihood for the purchase models (BG/NBD, modified BG/NBD, Pareto/NBD) and the
Gamma-Gamma spend model, judged converged by the gradient and with the parameters' covariance.

Every fit minimises lifetimes 0.11.3's own negative mean log-likelihood (BG/NBD, modified
BG/NBD and Gamma-Gamma re-derived here with closed-form gradients and per-frequency terms
computed once; Pareto/NBD by central differences) with BFGS in log space from lifetimes'
starting point. Unlike lifetimes:
- convergence is judged by the gradient at the result (every |d objective / d log param|
  below GRADIENT_TOLERANCE), not by the optimiser's status alone: BFGS reports "precision
  loss" at optima whose gradient is ~1e-7;
- the default is no penalty; a fallback penalty acts on the log-parameters (scale-free),
  never on parameters in currency units;
- Gamma-Gamma is fitted on spend divided by its mean (the model is scale-equivariant: v
  scales with the spend, p and q do not), so the optimum does not depend on the currency;
- the covariance of the log-parameters comes from the Hessian (central differences of the
  gradient), for intervals on what the models predict.
The fits return lifetimes fitters carrying the parameters, so every prediction is still
lifetimes' own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import ConvergenceError
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1, logsumexp

START = 0.1  # lifetimes' starting point for every log-parameter
TOLERANCE = 1e-7  # lifetimes' default `tol`
GRADIENT_TOLERANCE = 1e-4  # largest |d mean negative log-likelihood / d log param| accepted
STEP = 1e-5  # central-difference step in log-parameters (Pareto/NBD gradient, Hessians)

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]  # log params -> value, gradient


class NotConverged(ConvergenceError):
    """The optimiser stopped short of a maximum; `gradient` is the largest gradient left."""

    def __init__(self, message: str, gradient: float):
        super().__init__(message)
        self.gradient = gradient


@dataclass
class Estimate:
    """A fitted model: the lifetimes fitter, the covariance of its log-parameters (None when
    the Hessian is not positive definite) and the penalty used."""

    fitter: object
    covariance: np.ndarray | None
    penalty: float

    @property
    def params(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.fitter.params_.items()}


def _in_logs(objective: Callable, *args) -> Objective:
    """An objective of natural parameters (value, gradient) as one of log-parameters."""

    def wrapped(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, gradient = objective(params, *args)
        return value, gradient * params

    return wrapped


def _central_gradient(value: Callable[[np.ndarray], float]) -> Objective:
    """Value and central-difference gradient of a function of log-parameters."""

    def wrapped(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        steps = np.eye(len(log_params)) * STEP
        gradient = np.array(
            [(value(log_params + h) - value(log_params - h)) / (2 * STEP) for h in steps]
        )
        return value(log_params), gradient

    return wrapped


def _minimise(objective: Objective, size: int, penalty: float, name: str) -> np.ndarray:
    """The log-parameters minimising objective + penalty * |log params|², searched with BFGS
    from lifetimes' starting point; ConvergenceError unless the result is finite and its
    gradient below GRADIENT_TOLERANCE."""

    def penalised(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = objective(log_params)
        return (
            value + penalty * log_params @ log_params,
            gradient + 2 * penalty * log_params,
        )

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # trial steps may
        result = minimize(  # overflow; BFGS backs off
            penalised,
            np.full(size, START),
            jac=True,
            method="BFGS",  # pragma: no mutate (scipy's default here, in any case)
            tol=TOLERANCE,
        )
        # pragma: no mutate block (at a point not finite the gradient is NaN, not converged too)
        gradient = penalised(result.x)[1] if np.all(np.isfinite(result.x)) else [np.inf]
    largest = float(np.max(np.abs(gradient)))
    if not np.isfinite(result.fun) or not largest <= GRADIENT_TOLERANCE:
        raise NotConverged(
            f"{name} did not converge: {result.message} (largest gradient {largest:.1e})",
            largest,
        )
    return result.x


def _covariance(objective: Objective, log_params: np.ndarray, customers: float):
    """Covariance of the log-parameters: the inverse Hessian of the total negative
    log-likelihood, by central differences of the gradient; None if not positive definite."""
    steps = np.eye(len(log_params)) * STEP
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        columns = [
            (objective(log_params + h)[1] - objective(log_params - h)[1]) / (2 * STEP)
            for h in steps
        ]
    hessian = np.array(columns) * customers
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian).min() <= 0:
        return None
    return np.linalg.inv(hessian)


def _estimate(
    objective: Objective,
    names: list[str],
    penalty: float,
    customers: float,
    name: str,
    covariance: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The fitted log-parameters and, unless told not to, their covariance (from the
    unpenalised likelihood)."""
    log_params = _minimise(objective, len(names), penalty, name)
    if not covariance:
        return log_params, None
    return log_params, _covariance(objective, log_params, customers)


@dataclass
class _PurchaseHistories:
    """Distinct (frequency, recency, T) rows, with lookups so that per-frequency terms and
    the logarithms of (alpha + T) and (alpha + recency) are computed per distinct value."""

    x: np.ndarray
    weights: np.ndarray
    frequencies: np.ndarray  # distinct frequencies, their total weight, each row's index
    frequency_weight: np.ndarray
    frequency_index: np.ndarray
    ages: np.ndarray
    age_index: np.ndarray
    recencies: np.ndarray
    recency_index: np.ndarray
    repeat: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, recency: np.ndarray, T: np.ndarray, weights: np.ndarray):
        frequencies, frequency_index = np.unique(x, return_inverse=True)
        ages, age_index = np.unique(T, return_inverse=True)
        recencies, recency_index = np.unique(recency, return_inverse=True)
        return cls(
            x,
            weights,
            frequencies,
            np.bincount(frequency_index, weights=weights),
            frequency_index,
            ages,
            age_index,
            recencies,
            recency_index,
            x > 0,
        )


def _bgnbd_objective(params: np.ndarray, h: _PurchaseHistories) -> tuple[float, np.ndarray]:
    """lifetimes' BG/NBD negative mean log-likelihood (Fader, Hardie & Lee 2005, section 7,
    with the log-sum-exp of A3 and A4) and its gradient in (r, alpha, a, b)."""
    return _beta_geometric_objective(params, h, modified=False)  # pragma: no mutate (truth read)


def _mbgnbd_objective(params: np.ndarray, h: _PurchaseHistories) -> tuple[float, np.ndarray]:
    """lifetimes' modified BG/NBD negative mean log-likelihood (Batislam, Denizel & Filiztekin
    2007: a customer may also leave at time 0, so A4 counts for every customer and the beta
    terms take x + 1) and its gradient in (r, alpha, a, b)."""
    return _beta_geometric_objective(params, h, modified=True)


def _beta_geometric_objective(
    params: np.ndarray, h: _PurchaseHistories, modified: bool
) -> tuple[float, np.ndarray]:
    """The BG/NBD likelihood, or its modified form: log L = A1 + A2 + log(exp(A3) + exp(A4)),
    the count terms A1 + A2 once per distinct frequency."""
    r, alpha, a, b = params
    ux, wx, total = h.frequencies, h.frequency_weight, h.weights.sum()
    beta_x = ux + 1 if modified else ux  # the purchases the beta terms of A2 count
    counts = (
        gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + beta_x) - gammaln(b) - gammaln(a + b + beta_x)
    )  # fmt: skip
    b_a4 = b + ux if modified else b + np.maximum(ux, 1) - 1
    rx = r + h.x
    log_age = np.log(alpha + h.ages)[h.age_index]
    log_recency = np.log(alpha + h.recencies)[h.recency_index]
    a3 = -rx * log_age
    gap = (np.log(a) - np.log(b_a4))[h.frequency_index] - rx * log_recency - a3  # A4 - A3
    if not modified:
        gap = np.where(h.repeat, gap, -np.inf)  # A4 only for repeat buyers
    last = a3 + np.logaddexp(0.0, gap)  # log(exp(A3) + exp(A4))
    share = expit(gap)  # weight of A4 in that sum
    w, w4 = h.weights, h.weights * share
    w3 = w - w4
    inv_age = (1.0 / (alpha + h.ages))[h.age_index]
    inv_recency = (1.0 / (alpha + h.recencies))[h.recency_index]
    dr_counts = digamma(r + ux) - digamma(r) + np.log(alpha)
    dab = digamma(a + b) - digamma(a + b + beta_x)
    gradient = np.array(
        [
            wx @ dr_counts - w3 @ log_age - w4 @ log_recency,
            total * r / alpha - w3 @ (rx * inv_age) - w4 @ (rx * inv_recency),
            wx @ dab + w4.sum() / a,
            wx @ (dab + digamma(b + beta_x) - digamma(b)) - w4 @ (1.0 / b_a4)[h.frequency_index],
        ]
    )
    return -(wx @ counts + w @ last) / total, -gradient / total


@dataclass
class _Spends:
    """Repeat customers' (frequency, mean spend), with per-frequency lookups."""

    x: np.ndarray
    spend_total: np.ndarray  # x * m
    frequencies: np.ndarray
    frequency_count: np.ndarray
    log_spend: float  # sum log m
    x_log_spend: float  # sum x log m

    @classmethod
    def build(cls, x: np.ndarray, m: np.ndarray):
        frequencies, index = np.unique(x, return_inverse=True)
        log_m = np.log(m)
        return cls(x, x * m, frequencies, np.bincount(index), float(log_m.sum()), float(x @ log_m))


def _gamma_gamma_objective(params: np.ndarray, s: _Spends) -> tuple[float, np.ndarray]:
    """lifetimes' Gamma-Gamma negative mean log-likelihood (Fader, Hardie & Lee 2005b, eq. 1a)
    and its gradient in (p, q, v)."""
    p, q, v = params
    ux, wx, total = s.frequencies, s.frequency_count, len(s.x)
    px = p * ux
    counts = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + px * np.log(ux)
    log_total = np.log(s.spend_total + v)
    x_log_total = s.x @ log_total
    value = wx @ counts + p * s.x_log_spend - s.log_spend - p * x_log_total - q * log_total.sum()
    gradient = np.array(
        [
            wx @ (ux * (digamma(px + q) - digamma(px) + np.log(ux))) + s.x_log_spend - x_log_total,
            wx @ (digamma(px + q) - digamma(q)) + total * np.log(v) - log_total.sum(),
            total * q / v - ((p * s.x + q) / (s.spend_total + v)).sum(),
        ]
    )
    return -value / total, -gradient / total


@dataclass
class _ParetoHistories:
    """Customer histories with the distinct (frequency, recency) and (frequency, T) pairs: the
    Gauss hypergeometric terms of the Pareto/NBD likelihood depend on one pair each, so they
    are computed once per pair."""

    x: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    by_recency: tuple[np.ndarray, np.ndarray, np.ndarray]  # pair frequency, value, row index
    by_age: tuple[np.ndarray, np.ndarray, np.ndarray]

    @staticmethod
    def _pairs(x: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs, index = np.unique(np.column_stack([x, values]), axis=0, return_inverse=True)
        return pairs[:, 0], pairs[:, 1], index.ravel()

    @classmethod
    def build(cls, x: np.ndarray, recency: np.ndarray, T: np.ndarray):
        return cls(x, recency, T, cls._pairs(x, recency), cls._pairs(x, T))


def _pareto_log_likelihood(params: np.ndarray, h: _ParetoHistories) -> np.ndarray:
    """Each history's log-likelihood: lifetimes' ParetoNBDFitter._conditional_log_likelihood
    (Fader & Hardie's note on the Pareto/NBD, eq. 18-20), with the hypergeometric terms per
    distinct pair."""
    r, alpha, s, beta = params
    low, high = min(alpha, beta), max(alpha, beta)

    def log_hypergeometric(pair: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        x, age, index = pair
        rsx = r + s + x
        # at alpha = beta the argument is 0 and the term 1, whichever form
        second = r + x if alpha < beta else np.full_like(x, s + 1)  # pragma: no mutate
        return np.log(hyp2f1(rsx, second, rsx + 1, (high - low) / (high + age)))[index]

    x, rsx = h.x, r + s + h.x
    q_1, q_2 = high + h.recency, high + h.T
    log_a0 = logsumexp(
        [
            log_hypergeometric(h.by_recency) + rsx * np.log(q_2),
            log_hypergeometric(h.by_age) + rsx * np.log(q_1),
        ],
        axis=0,
        b=[np.ones(len(x)), -np.ones(len(x))],
    ) - rsx * np.log(q_1 * q_2)
    a_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    a_2 = np.logaddexp(
        -(r + x) * np.log(alpha + h.T) - s * np.log(beta + h.T),
        np.log(s) + log_a0 - np.log(rsx),
    )
    return a_1 + a_2


PARAMETERS = {
    "bgnbd": ["r", "alpha", "a", "b"],
    "mbgnbd": ["r", "alpha", "a", "b"],
    "pareto": ["r", "alpha", "s", "beta"],
}
FITTERS = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter, "pareto": ParetoNBDFitter}
TIME_SCALED = {"alpha", "beta"}  # rates per unit of time: divided by the time scale
NAMES = {"bgnbd": "BG/NBD", "mbgnbd": "Modified BG/NBD", "pareto": "Pareto/NBD"}


def _purchase_objective(
    key: str, x: np.ndarray, recency: np.ndarray, T: np.ndarray, weights: np.ndarray
) -> Objective:
    """lifetimes' negative mean log-likelihood of model `key` in log-parameters."""
    if key in ("bgnbd", "mbgnbd"):
        objective = _bgnbd_objective if key == "bgnbd" else _mbgnbd_objective
        return _in_logs(objective, _PurchaseHistories.build(x, recency, T, weights))
    histories, total = _ParetoHistories.build(x, recency, T), weights.sum()
    return _central_gradient(
        lambda log_params: (
            -float(weights @ _pareto_log_likelihood(np.exp(log_params), histories)) / total
        )
    )


def fit_purchase_model(
    key: str,
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray,
    penalty: float,
    covariance: bool,
) -> Estimate:
    """Purchase model `key` (bgnbd, mbgnbd, pareto) fitted on weighted customer histories, on
    ages scaled to at most 1 as lifetimes does, with the parameters' covariance unless
    `covariance` is false; ConvergenceError when it does not converge."""
    x, recency, T, weights = (
        np.asarray(values, dtype=float)  # pragma: no mutate (ints or floats: the same fit)
        for values in (frequency, recency, T, weights)
    )
    # any scale gives the same fit (the time-scaled parameters are scaled back): this one,
    # lifetimes' own, keeps the search well conditioned
    scale = 1.0 / T.max()  # pragma: no mutate
    objective = _purchase_objective(key, x, recency * scale, T * scale, weights)
    names = PARAMETERS[key]
    log_params, found = _estimate(objective, names, penalty, weights.sum(), NAMES[key], covariance)
    params = pd.Series(np.exp(log_params), index=names)
    params[[n for n in names if n in TIME_SCALED]] /= scale
    fitter = FITTERS[key](penalizer_coef=penalty)  # pragma: no mutate (unread: it predicts)
    fitter.params_ = params
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # as fit() sets
    return Estimate(fitter, found, penalty)


def fit_gamma_gamma(
    frequency: np.ndarray, monetary_value: np.ndarray, penalty: float = 0.0
) -> Estimate:
    """Gamma-Gamma fitted on repeat customers (frequency > 0) with positive spend; spend is
    divided by its mean while fitting and v multiplied back."""
    x = np.asarray(frequency, dtype=float)  # pragma: no mutate (whole numbers fit alike)
    m = np.asarray(monetary_value, dtype=float)  # pragma: no mutate (the summary's are floats)
    if (x <= 0).any() or (m <= 0).any():
        raise ValueError("Gamma-Gamma needs frequency > 0 and monetary_value > 0")
    scale = float(m.mean())
    objective = _in_logs(_gamma_gamma_objective, _Spends.build(x, m / scale))
    names = ["p", "q", "v"]
    log_params, covariance = _estimate(objective, names, penalty, len(x), "Gamma-Gamma")
    params = pd.Series(np.exp(log_params), index=names)
    params["v"] *= scale
    fitter = GammaGammaFitter(penalizer_coef=penalty)  # pragma: no mutate (unread: it predicts)
    fitter.params_ = params
    return Estimate(fitter, covariance, penalty)
