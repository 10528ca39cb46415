"""Purchase and spend models for CLV, fitted with a convergence fallback and checked against
their own assumptions before use.

A model that cannot be fitted soundly raises ModelFitError with a reason a reader can act on;
the section then withholds the figures that need it. Fits run on the distinct (frequency,
recency, T) rows with the number of customers as weights (helpers.models.likelihood).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from lifetimes.utils import ConvergenceError

from helpers.core.errors import Reason, ReportError
from helpers.models import likelihood

MODEL_KEYS = ("bgnbd", "mbgnbd", "pareto")
MODEL_NAMES = likelihood.NAMES
FALLBACK_PENALTIES = (0.01, 0.1)  # on log-parameters, tried only when a fit does not converge
MIN_REPEAT_CUSTOMERS = 20  # fewer repeat customers than this give no spend model
MIN_CUSTOMERS = 50  # fewer customers than this give no purchase model
LIFETIMES_MONTH = {"days": 30.0, "weeks": 4.345}  # lifetimes' time units per month
Result = TypeVar("Result")


class ModelFitError(ReportError):
    """No sound model could be fitted; `reason` says why, for the report to word."""

    def __init__(self, code: str, **figures):
        self.reason = Reason(code, figures)
        super().__init__(str(self.reason))


def compress(summary: pd.DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, T) rows with the number of customers as `weight`: one
    per row of a customer summary, or the weights a table of histories already has."""
    weight = summary["weight"] if "weight" in summary else pd.Series(1, index=summary.index)
    return (
        summary.assign(weight=weight)
        .groupby(["frequency", "recency", "T"])["weight"]  # sorted: the same rows in any order
        .sum()
        .reset_index()
    )


def with_fallback(
    fit: Callable[[float], Result], penalty: float, name: str
) -> tuple[Result, Reason | None]:
    """fit(penalty); if it does not converge, fit again with each FALLBACK_PENALTIES above it.

    Returns the result and a note for the report (None when the first try converged). Only a
    convergence failure leads to a retry: any other error is a bug and surfaces as it is."""
    ladder = [penalty] + [p for p in FALLBACK_PENALTIES if p > penalty]
    for coef in ladder:
        try:
            result = fit(coef)
        except ConvergenceError as exc:
            gradient = getattr(exc, "gradient", None)
            continue
        note = (
            None
            if coef == penalty
            else Reason("penalty_fallback", {"model": name, "penalty": penalty, "used": coef})
        )
        return result, note
    raise ModelFitError("no_convergence", model=name, gradient=gradient, penalties=ladder[1:])


class _FromEstimate:
    """The fitter and parameters of a model's `estimate`."""

    estimate: likelihood.Estimate

    @property
    def fitter(self):
        return self.estimate.fitter

    @property
    def params(self) -> dict[str, float]:
        return self.estimate.params


@dataclass
class FittedModel(_FromEstimate):
    """A fitted purchase model and how it was obtained."""

    key: str
    estimate: likelihood.Estimate
    note: Reason | None

    @property
    def name(self) -> str:
        return MODEL_NAMES[self.key]


def fit_purchase_model(
    summary: pd.DataFrame, key: str, penalty: float = 0.0, covariance: bool = True
) -> FittedModel:
    """Fit purchase model `key` on the distinct rows of a customer summary (or of histories
    with their weights, see compress), with the penalty fallback; without the parameters'
    covariance when `covariance` is false (a fit only compared, never valued)."""
    rows = compress(summary)
    customers = int(rows["weight"].sum())
    if not customers:
        raise ModelFitError("no_customers_before")
    if customers < MIN_CUSTOMERS:
        raise ModelFitError("too_few_customers", customers=customers, need=MIN_CUSTOMERS)
    estimate, note = with_fallback(
        lambda coef: likelihood.fit_purchase_model(
            key, rows["frequency"], rows["recency"], rows["T"], rows["weight"], coef, covariance
        ),
        penalty,
        MODEL_NAMES[key],
    )
    return FittedModel(key, estimate, note)


@dataclass
class SpendModel(_FromEstimate):
    """Gamma-Gamma fitted on repeat customers, with the checks it passed."""

    estimate: likelihood.Estimate
    repeat_customers: int
    frequency_spend_correlation: float
    observed_mean: float  # mean of repeat customers' mean spend per repeat purchase
    model_mean: float  # the model's population mean spend, p v / (q - 1)
    note: Reason | None

    def as_record(self) -> dict:
        return {
            "repeat_customers": self.repeat_customers,
            "frequency_spend_correlation": self.frequency_spend_correlation,
            "params": self.params,
            "observed_mean": self.observed_mean,
            "model_mean": self.model_mean,
            "penalty": self.estimate.penalty,
            "note": self.note,
        }


def repeat_buyers(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers Gamma-Gamma is about: repeat purchases with positive mean spend."""
    return summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]


def spend_model(summary: pd.DataFrame, penalty: float = 0.0) -> SpendModel:
    """Gamma-Gamma on repeat customers with positive spend, used only when it is sound: q > 1
    (else the mean spend p v / (q - 1) is undefined) and a positive, finite expected order
    value for every customer. ModelFitError otherwise, saying why.

    The model assumes spend per order is independent of purchase frequency; the Pearson
    correlation between the two is kept so the report can warn when it is not."""
    repeat = repeat_buyers(summary)
    if len(repeat) < MIN_REPEAT_CUSTOMERS:
        raise ModelFitError(
            "too_few_repeat_customers", customers=len(repeat), need=MIN_REPEAT_CUSTOMERS
        )
    estimate, note = with_fallback(
        lambda coef: likelihood.fit_gamma_gamma(
            repeat["frequency"], repeat["monetary_value"], penalty=coef
        ),
        penalty,
        "Gamma-Gamma spend",
    )
    p, q, v = (estimate.params[k] for k in ("p", "q", "v"))
    if not q > 1:
        raise ModelFitError("spend_q_not_above_1", q=q)
    expected = estimate.fitter.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    )
    if not (np.isfinite(expected).all() and (expected > 0).all()):
        raise ModelFitError("spend_not_positive")
    correlation = (
        float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
        if repeat["frequency"].nunique() > 1
        else 0.0
    )
    return SpendModel(
        estimate,
        len(repeat),
        correlation,
        float(repeat["monetary_value"].mean()),
        p * v / (q - 1),
        note,
    )


UNIT_DAYS = {"days": 1.0, "weeks": 7.0}


def try_spend_model(
    summary: pd.DataFrame, penalty: float
) -> tuple[SpendModel | None, Reason | None]:
    """The spend model, or None and the reason it is not sound."""
    try:
        return spend_model(summary, penalty), None
    except ModelFitError as exc:
        return None, exc.reason
