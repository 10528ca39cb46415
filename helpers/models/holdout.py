"""Holdout checks: each candidate purchase model fitted on history before the quarter and
scored on what customers did in it (aggregate error, log-loss of who buys, how well P(alive)
separates buyers), the choice among them, and the spend model's own holdout check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.config import ClvParams, Config
from helpers.core.periods import Period
from helpers.data import queries
from helpers.models.fitting import (
    MODEL_KEYS,
    MODEL_NAMES,
    UNIT_DAYS,
    FittedModel,
    ModelFitError,
    SpendModel,
    fit_purchase_model,
    repeat_buyers,
    try_spend_model,
)
from helpers.models.prediction import (
    alive_probability,
    check_predictions,
    expected_purchases,
    probability_of_purchase,
)


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
    rows = calibration[keys].drop_duplicates()
    rows = rows.assign(
        predicted=expected_purchases(model.fitter, horizon, rows),
        p_alive=alive_probability(model.fitter, rows),
        p_purchase=probability_of_purchase(model, horizon, rows),
    )
    check_predictions(model, rows, ["predicted", "p_alive", "p_purchase"])
    # every calibration customer's row is there: a left join is an inner one
    per_customer = calibration[["customer_id", *keys]].merge(rows, on=keys)  # pragma: no mutate
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


def is_trusted(error_pct: float | None, tolerance_pct: float) -> bool:
    """Whether a model's forecasts can be used: its aggregate holdout error, either way, is
    within the tolerance; an unchecked model (no holdout buyer) is not."""
    return error_pct is not None and abs(error_pct) <= tolerance_pct


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
        reasons = []
        for result in results.values():  # each different reason once, in order
            if result["error"] not in reasons:
                reasons.append(result["error"])
        raise ModelFitError("no_model_fitted", reasons=reasons)

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
    holdout_buyers = actual[actual["purchases"] > 0]
    bought = repeat.merge(holdout_buyers, on="customer_id")  # pragma: no mutate (the only key)
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


def validate_models(
    engine: queries.DataEngine, config: Config, quarter: Period
) -> tuple[pd.DataFrame, dict[str, dict], dict, tuple]:
    """Fit each candidate on history before the quarter, predict the quarter, compare.

    With several candidates and more calibration customers than `selection_customers`, the
    candidates are compared on a seeded random sample of that many, and the chosen one is then
    fitted and checked on everyone (its row says how many customers it was checked on).

    Returns the calibration-vs-holdout table of the chosen model, every candidate's metrics
    (or its failure), the spend model's holdout check, and the calibration summary with the
    chosen model and the spend model: the customer base and its models at the previous
    quarter's end. ModelFitError when no candidate could be fitted."""
    params = config.clv
    unit_days = UNIT_DAYS[params.time_unit]
    calibration = queries.customer_summary(engine, quarter.start, unit_days)
    actual = queries.purchase_days_between(engine, quarter.start, quarter.end)
    horizon = (quarter.end - quarter.start).days / unit_days
    candidates = list(MODEL_KEYS) if params.model == "auto" else [params.model]
    compared = calibration
    if len(candidates) > 1 and len(calibration) > params.selection_customers:
        compared = calibration.sample(params.selection_customers, random_state=config.seed)
    results, fitted = {}, {}
    for key in candidates:
        try:
            fitted[key], results[key] = _holdout_check(key, compared, actual, horizon, params)
        except ModelFitError as exc:
            results[key] = {"model": MODEL_NAMES[key], "error": exc.reason}
    chosen = choose_model(results, params.max_holdout_error_pct)
    if compared is not calibration:
        fitted[chosen], results[chosen] = _holdout_check(
            chosen, calibration, actual, horizon, params
        )
    model, table = fitted[chosen]
    spend, withheld = try_spend_model(calibration, params.spend_penalty)
    spend_check = spend_validation(spend, calibration, actual) if spend is not None else {}
    return table, results, spend_check, (calibration, model, spend, withheld)


def _holdout_check(
    key: str,
    calibration: pd.DataFrame,
    actual: pd.DataFrame,
    horizon: float,
    params: ClvParams,
) -> tuple[tuple[FittedModel, pd.DataFrame], dict]:
    """Model `key` fitted on the calibration customers, with its holdout table and metrics."""
    model = fit_purchase_model(calibration, key, params.purchase_penalty)
    table, metrics = holdout_validation(model, calibration, actual, horizon)
    return (model, table), {
        "model": model.name,
        "params": model.params,
        "note": model.note,
        **metrics,
    }
