"""BG/NBD and Gamma-Gamma maximum likelihood with closed-form gradients, for large bases.

lifetimes differentiates its log-likelihoods with autograd and, after every fit, computes the
Hessian with it too (for standard errors the report does not show): about 5 s per BG/NBD fit
at a million customers. These fits minimise the same objectives as lifetimes 0.11.3 (its
log-likelihood, time scaling, penalizer, starting point and BFGS tolerance) but compute every
term that depends only on the number of purchases once per distinct number, and the gradient
in closed form. The optimum equals lifetimes' (tests/test_clv.py). They return lifetimes
fitters carrying the parameters, so every prediction is still lifetimes' own; having no
Hessian, they have no standard errors (`summary`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import ConvergenceError
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln

START = 0.1  # lifetimes' starting point for every log-parameter
TOLERANCE = 1e-7  # lifetimes' default `tol`


def _minimise(objective, size: int, args: tuple, penalizer: float, name: str) -> np.ndarray:
    """The parameters minimising objective(params, *args) + penalizer * |params|², searched in
    log space from lifetimes' starting point with its solver (BFGS) and tolerance. `objective`
    returns its value and its gradient in the parameters."""

    def penalised(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, gradient = objective(params, *args)
        value += penalizer * np.sum(params**2)
        return value, (gradient + 2 * penalizer * params) * params  # d/d log(param)

    with np.errstate(over="ignore", invalid="ignore"):  # trial steps may overflow; BFGS backs off
        result = minimize(penalised, np.full(size, START), jac=True, method="BFGS", tol=TOLERANCE)
    if not result.success or not np.all(np.isfinite(result.x)):
        raise ConvergenceError(f"{name} did not converge: {result.message}")
    return np.exp(result.x)


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
    r, alpha, a, b = params
    ux, wx, total = h.frequencies, h.frequency_weight, h.weights.sum()
    # terms of the purchase count alone (A1 + A2), once per distinct frequency
    counts = (
        gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + ux) - gammaln(b) - gammaln(a + b + ux)
    )  # fmt: skip
    b_repeat = b + np.maximum(ux, 1) - 1
    rx = r + h.x
    log_age = np.log(alpha + h.ages)[h.age_index]
    log_recency = np.log(alpha + h.recencies)[h.recency_index]
    a3 = -rx * log_age
    gap = np.where(
        h.repeat, (np.log(a) - np.log(b_repeat))[h.frequency_index] - rx * log_recency - a3, -np.inf
    )
    last = a3 + np.logaddexp(0.0, gap)  # log(exp(A3) + exp(A4)), A4 only for repeat buyers
    share = expit(gap)  # weight of A4 in that sum
    w, w4 = h.weights, h.weights * share
    w3 = w - w4
    inv_age = (1.0 / (alpha + h.ages))[h.age_index]
    inv_recency = (1.0 / (alpha + h.recencies))[h.recency_index]
    dr_counts = digamma(r + ux) - digamma(r) + np.log(alpha)
    dab = digamma(a + b) - digamma(a + b + ux)
    gradient = np.array(
        [
            wx @ dr_counts - w3 @ log_age - w4 @ log_recency,
            total * r / alpha - w3 @ (rx * inv_age) - w4 @ (rx * inv_recency),
            wx @ dab + w4.sum() / a,
            wx @ (dab + digamma(b + ux) - digamma(b)) - w4 @ (1.0 / b_repeat)[h.frequency_index],
        ]
    )
    return -(wx @ counts + w @ last) / total, -gradient / total


def fit_bgnbd(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray | None = None,
    penalizer: float = 0.0,
) -> BetaGeoFitter:
    """BG/NBD fitted as lifetimes' BetaGeoFitter(penalizer_coef=penalizer).fit(...) would be;
    raises lifetimes' ConvergenceError when BFGS does not converge, as lifetimes does."""
    x = np.asarray(frequency, dtype=float)
    T = np.asarray(T, dtype=float)
    scale = 1.0 / T.max()  # lifetimes fits on ages scaled to at most 1
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    histories = _PurchaseHistories.build(x, np.asarray(recency, float) * scale, T * scale, weights)
    r, alpha, a, b = _minimise(_bgnbd_objective, 4, (histories,), penalizer, "BG/NBD")
    fitter = BetaGeoFitter(penalizer_coef=penalizer)
    fitter.params_ = pd.Series([r, alpha / scale, a, b], index=["r", "alpha", "a", "b"])
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # as fit() sets
    return fitter


@dataclass
class _Spends:
    """Repeat customers' (frequency, mean spend), with per-frequency lookups."""

    x: np.ndarray
    spend_total: np.ndarray  # x * m
    weights: np.ndarray
    frequencies: np.ndarray
    frequency_weight: np.ndarray
    weighted_log_spend: float  # sum w log m
    weighted_x_log_spend: float  # sum w x log m

    @classmethod
    def build(cls, x: np.ndarray, m: np.ndarray, weights: np.ndarray):
        frequencies, index = np.unique(x, return_inverse=True)
        log_m = np.log(m)
        return cls(
            x,
            x * m,
            weights,
            frequencies,
            np.bincount(index, weights=weights),
            float(weights @ log_m),
            float(weights @ (x * log_m)),
        )


def _gamma_gamma_objective(params: np.ndarray, s: _Spends) -> tuple[float, np.ndarray]:
    """lifetimes' Gamma-Gamma negative mean log-likelihood (Fader, Hardie & Lee 2005b, eq. 1a)
    and its gradient in (p, q, v)."""
    p, q, v = params
    ux, wx, total = s.frequencies, s.frequency_weight, s.weights.sum()
    px = p * ux
    counts = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + px * np.log(ux)
    log_total = np.log(s.spend_total + v)
    wx_log_total = s.weights @ (s.x * log_total)
    value = (
        wx @ counts + p * s.weighted_x_log_spend - s.weighted_log_spend
        - p * wx_log_total - q * (s.weights @ log_total)
    )  # fmt: skip
    gradient = np.array(
        [
            wx @ (ux * (digamma(px + q) - digamma(px) + np.log(ux)))
            + s.weighted_x_log_spend
            - wx_log_total,
            wx @ (digamma(px + q) - digamma(q)) + total * np.log(v) - s.weights @ log_total,
            total * q / v - s.weights @ ((p * s.x + q) / (s.spend_total + v)),
        ]
    )
    return -value / total, -gradient / total


def fit_gamma_gamma(
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    weights: np.ndarray | None = None,
    penalizer: float = 0.0,
) -> GammaGammaFitter:
    """Gamma-Gamma fitted as lifetimes' GammaGammaFitter(penalizer_coef=penalizer).fit(...)
    would be, on repeat customers (frequency > 0) with positive spend."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    if (x <= 0).any() or (m <= 0).any():
        raise ValueError("Gamma-Gamma needs frequency > 0 and monetary_value > 0")
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    p, q, v = _minimise(
        _gamma_gamma_objective, 3, (_Spends.build(x, m, weights),), penalizer, "Gamma-Gamma"
    )
    fitter = GammaGammaFitter(penalizer_coef=penalizer)
    fitter.params_ = pd.Series([p, q, v], index=["p", "q", "v"])
    return fitter
