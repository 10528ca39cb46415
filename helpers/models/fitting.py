"""Purchase and spend models for CLV: fitted with a convergence fallback, checked against their
own assumptions before use, scored on a holdout, and carrying their parameter uncertainty to
the headline figures.

A model that cannot be fitted soundly raises ModelFitError with a reason a reader can act on;
the section then withholds the figures that need it. Fits run on the distinct (frequency,
recency, T) rows with the number of customers as weights (helpers.models.likelihood).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from lifetimes.utils import ConvergenceError
from scipy.special import roots_genlaguerre

from helpers.core.errors import ReportError
from helpers.models import likelihood

MODEL_KEYS = ("bgnbd", "mbgnbd", "pareto")
MODEL_NAMES = likelihood.NAMES
FALLBACK_PENALTIES = (0.01, 0.1)  # on log-parameters, tried only when a fit does not converge
MIN_REPEAT_CUSTOMERS = 20  # fewer repeat customers than this give no spend model
MIN_CUSTOMERS = 50  # fewer customers than this give no purchase model
LIFETIMES_MONTH = {"days": 30.0, "weeks": 4.345}  # lifetimes' time units per month
Result = TypeVar("Result")


class ModelFitError(ReportError):
    """No sound model could be fitted; the message says why in plain words."""


def compress(summary: pd.DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, T) rows with the number of customers as `weight`."""
    return (
        summary.groupby(["frequency", "recency", "T"], sort=True)
        .size()
        .rename("weight")
        .reset_index()
    )


def with_fallback(fit: Callable[[float], Result], penalty: float, name: str) -> tuple[Result, str]:
    """fit(penalty); if it does not converge, fit again with each FALLBACK_PENALTIES above it.

    Returns the result and a note for the report (empty when the first try converged). Only a
    convergence failure leads to a retry: any other error is a bug and surfaces as it is."""
    ladder = [penalty] + [p for p in FALLBACK_PENALTIES if p > penalty]
    failures = []
    for coef in ladder:
        try:
            result = fit(coef)
        except ConvergenceError as exc:
            failures.append(str(exc))
            continue
        note = (
            ""
            if coef == penalty
            else f"{name} did not converge with penalty {penalty}; fitted with a penalty of "
            f"{coef} on its log-parameters instead (estimates shrink towards 1)."
        )
        return result, note
    raise ModelFitError(
        f"the {name} model could not be fitted ({failures[-1]}; also tried penalties {ladder[1:]})"
    )


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
    note: str

    @property
    def name(self) -> str:
        return MODEL_NAMES[self.key]


def fit_purchase_model(summary: pd.DataFrame, key: str, penalty: float = 0.0) -> FittedModel:
    """Fit purchase model `key` on the summary's distinct rows, with the penalty fallback."""
    if summary.empty:
        raise ModelFitError("there are no customers with an order before then")
    if len(summary) < MIN_CUSTOMERS:
        raise ModelFitError(
            f"not enough customers to fit a purchase model: {len(summary)}, need at least "
            f"{MIN_CUSTOMERS}"
        )
    rows = compress(summary)
    estimate, note = with_fallback(
        lambda coef: likelihood.fit_purchase_model(
            key, rows["frequency"], rows["recency"], rows["T"], rows["weight"], coef
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
    note: str

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
            f"not enough repeat customers to fit the spend model: {len(repeat)}, need at "
            f"least {MIN_REPEAT_CUSTOMERS}"
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
        raise ModelFitError(
            f"the spend model's q = {q:.2f} is not above 1, so its mean spend is undefined: "
            "spend per order varies too much between customers to model"
        )
    expected = estimate.fitter.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    )
    if not (np.isfinite(expected).all() and (expected > 0).all()):
        raise ModelFitError("the spend model gives some customers no positive order value")
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


def probability_of_purchase(model: FittedModel, t: float, rows: pd.DataFrame) -> np.ndarray:
    """P(at least one purchase within t | frequency, recency, T) per row.

    No purchase means dead at T, or alive with none in t: P(X=0) = 1 - P(alive) + P(alive)
    P(none | alive). BG/NBD and modified BG/NBD: an alive customer leaves only at a purchase,
    so P(none | alive) = ((alpha + T) / (alpha + T + t))^(r + x), the rate's posterior being
    Gamma(r + x, alpha + T). Pareto/NBD: _pareto_none_if_alive (lifetimes' own conditional
    P(X(t) = 0) is NaN for some histories)."""
    f, r, T = (rows[k].to_numpy(float) for k in ("frequency", "recency", "T"))
    params = model.params
    alive = np.asarray(model.fitter.conditional_probability_alive(f, r, T), dtype=float)
    if model.key == "pareto":
        none_if_alive = _pareto_none_if_alive(params, f, T, t)
    else:
        none_if_alive = ((params["alpha"] + T) / (params["alpha"] + T + t)) ** (params["r"] + f)
    return np.clip(alive * (1 - none_if_alive), 0.0, 1.0)


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve: the chance a random positive scores above a random negative
    (ties count half); None without both classes."""
    positives = int(positive.sum())
    negatives = len(positive) - positives
    if not positives or not negatives:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float(
        (ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def log_loss(probability: np.ndarray, outcome: np.ndarray) -> float:
    """Mean negative log-likelihood of binary outcomes (probabilities clipped to 1e-12)."""
    p = np.clip(probability, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(outcome, np.log(p), np.log1p(-p))))


def holdout_validation(
    model: FittedModel,
    calibration: pd.DataFrame,
    actual: pd.DataFrame,
    horizon: float,
    max_frequency: int = 7,
) -> tuple[pd.DataFrame, dict]:
    """Predicted vs actual purchases in the holdout for every calibration customer.

    Returns the table by number of calibration repeat purchases (capped at `max_frequency`)
    and the metrics: aggregate error in percent (None when nobody bought), per-customer MAE
    and RMSE, the log-loss of P(a purchase in the holdout) against who bought, and the AUC of
    P(alive) for buyers against non-buyers (how well it separates them)."""
    keys = ["frequency", "recency", "T"]
    rows = calibration[keys].drop_duplicates().reset_index(drop=True)
    rows = rows.assign(
        predicted=np.asarray(
            model.fitter.conditional_expected_number_of_purchases_up_to_time(
                horizon, *(rows[k].to_numpy() for k in keys)
            ),
            dtype=float,
        ),
        p_alive=np.asarray(
            model.fitter.conditional_probability_alive(*(rows[k].to_numpy() for k in keys)),
            dtype=float,
        ),
        p_purchase=probability_of_purchase(model, horizon, rows),
    )
    check_predictions(model, rows, ["predicted", "p_alive", "p_purchase"])
    per_customer = calibration[["customer_id", *keys]].merge(rows, on=keys, how="left")
    per_customer["actual"] = (
        per_customer["customer_id"].map(actual.set_index("customer_id")["purchases"]).fillna(0.0)
    )
    error = per_customer["predicted"] - per_customer["actual"]
    bought = (per_customer["actual"] > 0).to_numpy()
    predicted, observed = (
        float(per_customer["predicted"].sum()),
        float(per_customer["actual"].sum()),
    )
    metrics = {
        "customers": len(per_customer),
        "predicted_purchases": predicted,
        "actual_purchases": observed,
        "aggregate_error_pct": 100 * (predicted / observed - 1) if observed > 0 else None,
        "mae": float(error.abs().mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "buyers": int(bought.sum()),
        "expected_buyers": float(per_customer["p_purchase"].sum()),
        "log_loss": log_loss(per_customer["p_purchase"].to_numpy(), bought),
        "alive_auc": auc(per_customer["p_alive"].to_numpy(), bought),
    }
    bucket = per_customer["frequency"].clip(upper=max_frequency).astype(int)
    by_frequency = (
        per_customer.groupby(bucket)[["predicted", "actual"]]
        .mean()
        .join(bucket.value_counts().rename("customers"))
        .reset_index()
        .rename(columns={"frequency": "calibration_purchases"})
    )
    return by_frequency, metrics


def check_predictions(model: FittedModel, rows: pd.DataFrame, columns: list[str]) -> None:
    """ModelFitError unless every prediction in `columns` of `rows` is finite (lifetimes'
    Pareto/NBD overflows for some long histories)."""
    broken = ~np.isfinite(rows[columns].to_numpy(float)).all(axis=1)
    if broken.any():
        example = rows.loc[broken, "frequency"].iloc[0]
        raise ModelFitError(
            f"the {model.name} model gives no finite prediction for {broken.sum():,} "
            f"customer history(ies), e.g. one with {example:.0f} repeat purchases"
        )


def choose_model(results: dict[str, dict], max_error_pct: float) -> str:
    """The candidate to use: among those whose aggregate holdout error is within the tolerance
    (or all fitted ones when none is), and whose P(alive) ranks holdout buyers above
    non-buyers better than chance (AUC above 0.5, where any is), the lowest log-loss of who
    buys in the holdout; ties go to the smaller aggregate error.

    BG/NBD gives every customer without a repeat purchase P(alive) = 1, so on data with many
    one-time buyers its P(alive) ranks them above the repeat buyers who do buy: its sum would
    overstate the active customers, however well it forecasts purchases."""
    fitted = [k for k, r in results.items() if "error" not in r]
    if not fitted:
        raise ModelFitError("; ".join(dict.fromkeys(r["error"] for r in results.values())))

    def error(key: str) -> float:
        value = results[key]["aggregate_error_pct"]
        return np.inf if value is None else abs(value)

    def separates(key: str) -> bool:
        return results[key]["alive_auc"] is None or results[key]["alive_auc"] > 0.5

    within = [k for k in fitted if error(k) <= max_error_pct] or fitted
    within = [k for k in within if separates(k)] or within
    return min(within, key=lambda k: (results[k]["log_loss"], error(k)))


def spend_validation(
    spend: SpendModel, calibration: pd.DataFrame, actual: pd.DataFrame
) -> dict[str, float | None]:
    """Predicted against actual mean order value in the holdout, for calibration repeat
    customers who bought in it: the spend model's out-of-sample check."""
    repeat = repeat_buyers(calibration)
    bought = repeat.merge(actual[actual["purchases"] > 0], on="customer_id")
    if bought.empty:
        return {"customers": 0, "predicted_mean": None, "actual_mean": None, "error_pct": None}
    predicted = float(
        spend.fitter.conditional_expected_average_profit(
            bought["frequency"], bought["monetary_value"]
        ).mean()
    )
    observed = float(bought["value"].mean())
    return {
        "customers": len(bought),
        "predicted_mean": predicted,
        "actual_mean": observed,
        "error_pct": 100 * (predicted / observed - 1),
    }


def monthly_rate(annual_rate: float) -> float:
    """The monthly discount rate equivalent to an annual one."""
    return (1 + annual_rate) ** (1 / 12) - 1


def expected_purchases(fitter, t: float, rows: pd.DataFrame) -> np.ndarray:
    """Expected purchases within t of each (frequency, recency, T) row."""
    return np.asarray(
        fitter.conditional_expected_number_of_purchases_up_to_time(
            t, rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["T"].to_numpy()
        ),
        dtype=float,
    )


def discounted_purchases(
    fitter,
    rows: pd.DataFrame,
    horizon_purchases: np.ndarray,
    months: int,
    monthly_discount: float,
    unit: str,
) -> np.ndarray:
    """Expected purchases in each of `months` months, discounted monthly and summed, per
    distinct (frequency, recency, T) row: lifetimes' customer_lifetime_value without the spend
    factor (same formula and month length). `horizon_purchases` are the rows' expected
    purchases over all `months`.

    In BG/NBD, modified BG/NBD and Pareto/NBD the expectation E(t | x, t_x, T) is f(t; x, T)
    times g(x, t_x, T): recency only enters through the chance of being alive. So the monthly
    expectations are computed on one row per distinct (x, T) and each row's sum is that row's,
    scaled by the ratio of their expectations over the horizon."""
    month = LIFETIMES_MONTH[unit]
    pair = rows.groupby(["frequency", "T"], sort=False).ngroup().to_numpy()
    pairs = rows.drop_duplicates(["frequency", "T"])  # first row of each, in ngroup order
    cumulative = np.vstack(
        [np.zeros(len(pairs))]
        + [expected_purchases(fitter, m * month, pairs) for m in range(1, months + 1)]
    )
    discount = (1 + monthly_discount) ** -np.arange(1, months + 1)
    per_pair = discount @ np.diff(cumulative, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for rows that buy nothing
        return np.nan_to_num(per_pair[pair] * horizon_purchases / cumulative[-1][pair])


@dataclass(frozen=True)
class Horizon:
    """What a valuation looks ahead to: the next quarter (in model time units) and a CLV
    horizon of `months`, discounted monthly."""

    next_quarter: float
    months: int
    monthly_discount: float
    unit: str


def purchase_expectations(fitter, rows: pd.DataFrame, horizon: Horizon) -> pd.DataFrame:
    """Per distinct (frequency, recency, T) row: expected purchases next quarter, over the
    horizon, and discounted over the horizon."""
    over_horizon = expected_purchases(fitter, horizon.months * LIFETIMES_MONTH[horizon.unit], rows)
    return rows.assign(
        expected_purchases_next_quarter=expected_purchases(fitter, horizon.next_quarter, rows),
        expected_purchases_horizon=over_horizon,
        discounted_purchases=discounted_purchases(
            fitter, rows, over_horizon, horizon.months, horizon.monthly_discount, horizon.unit
        ),
    )


def _refitted(estimate: likelihood.Estimate, log_params: np.ndarray):
    """A copy of the estimate's fitter with other parameters (for finite differences)."""
    fitter = copy.copy(estimate.fitter)
    fitter.params_ = pd.Series(np.exp(log_params), index=estimate.fitter.params_.index)
    return fitter


def headline_standard_errors(
    model: FittedModel,
    spend: SpendModel,
    summary: pd.DataFrame,
    horizon: Horizon,
    at_fit: np.ndarray | None = None,
    step: float = 1e-4,
) -> np.ndarray | None:
    """Standard errors of (total undiscounted-by-margin CLV, expected revenue next quarter)
    of the base in `summary` from the models' parameter uncertainty: the delta method with
    each model's covariance of log-parameters and finite-difference derivatives. `at_fit`
    passes each customer's discounted purchases and expected purchases next quarter at the
    fitted parameters when already computed (predict_customers). None when a covariance is
    not available (Hessian not positive definite)."""
    if model.estimate.covariance is None or spend.estimate.covariance is None:
        return None
    keys = ["frequency", "recency", "T"]
    rows = summary[keys].drop_duplicates().reset_index(drop=True)
    row_of = summary[keys].merge(rows.reset_index(), on=keys, how="left")["index"].to_numpy()
    f, m = summary["frequency"], summary["monetary_value"]

    def purchases(fitter) -> np.ndarray:
        table = purchase_expectations(fitter, rows, horizon)
        return table[["discounted_purchases", "expected_purchases_next_quarter"]].to_numpy()[row_of]

    def totals(per_customer: np.ndarray, spend_fitter) -> np.ndarray:
        return np.asarray(spend_fitter.conditional_expected_average_profit(f, m)) @ per_customer

    base_purchases = purchases(model.fitter) if at_fit is None else at_fit
    base = totals(base_purchases, spend.fitter)
    jacobian = []
    for estimate, vary in (
        (model.estimate, lambda fitter: totals(purchases(fitter), spend.fitter)),
        (spend.estimate, lambda fitter: totals(base_purchases, fitter)),
    ):
        log_params = np.log(estimate.fitter.params_.to_numpy())
        columns = [
            (vary(_refitted(estimate, log_params + step * e)) - base) / step
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
        out[rows] = np.einsum("ikj,k,j->i", none, weights / weights.sum(), mu_weights)
    return out
