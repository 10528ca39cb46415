"""Holdout checks: each candidate purchase model fitted on history before the quarter and
scored on what customers did in it (aggregate error, log-loss of who buys, how well P(alive)
separates buyers), the choice among them, and the spend model's own holdout check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.core.config import ClvParams, Config
from helpers.core.periods import Period
from helpers.data import queries, scores
from helpers.models.fitting import (
    MODEL_KEYS,
    MODEL_NAMES,
    UNIT_DAYS,
    FittedModel,
    ModelFitError,
    SpendModel,
    fit_purchase_model,
    try_spend_model,
)
from helpers.models.prediction import (
    alive_probability,
    check_predictions,
    expected_order_value_terms,
    expected_purchases,
    probability_of_purchase,
)


def auc(score: np.ndarray, positive: np.ndarray, weight: np.ndarray | None = None) -> float | None:
    """Area under the ROC curve: the chance a random positive scores above a random negative
    (ties count half), each row counting `weight` times (once by default); None without both
    classes."""
    weight = np.ones(len(score)) if weight is None else np.asarray(weight)
    table = pd.DataFrame(
        {"score": score, "positive": weight * positive, "negative": weight * ~positive}
    )
    by_score = table.groupby("score")[["positive", "negative"]].sum()  # lowest score first
    positives, negatives = by_score["positive"].sum(), by_score["negative"].sum()
    if not positives or not negatives:
        return None
    below = by_score["negative"].cumsum() - by_score["negative"]  # negatives scored lower
    pairs = by_score["positive"] * (below + by_score["negative"] / 2)
    return float(pairs.sum() / (positives * negatives))


def log_loss(
    probability: np.ndarray, outcome: np.ndarray, weight: np.ndarray | None = None
) -> float:
    """Mean negative log-likelihood of binary outcomes (probabilities clipped to 1e-12), each
    row counting `weight` times (once by default)."""
    p = np.clip(probability, 1e-12, 1 - 1e-12)
    return float(-np.average(np.where(outcome, np.log(p), np.log1p(-p)), weights=weight))


def holdout_validation(
    model: FittedModel,
    outcomes: pd.DataFrame,
    horizon: float,
    max_frequency: int = 7,
) -> tuple[pd.DataFrame, dict]:
    """Predicted vs actual purchases in the holdout for every calibration customer, from the
    customers grouped by calibration history and holdout purchases (`outcomes`: frequency,
    recency, T, actual and their number, `weight`; scores.holdout_outcomes).

    Returns the table by number of calibration repeat purchases (capped at `max_frequency`)
    and the metrics: aggregate error in percent (None when nobody bought), per-customer MAE
    and RMSE, the log-loss of P(a purchase in the holdout) against who bought, and the AUC of
    P(alive) for buyers against non-buyers (how well it separates them)."""
    keys = ["frequency", "recency", "T"]
    rows = outcomes[keys].drop_duplicates()
    rows = rows.assign(
        predicted=expected_purchases(model.fitter, horizon, rows),
        p_alive=alive_probability(model.fitter, rows),
        p_purchase=probability_of_purchase(model, horizon, rows),
    )
    check_predictions(model, rows, ["predicted", "p_alive", "p_purchase"])
    grouped = outcomes.merge(rows, on=keys)  # pragma: no mutate (every history has its row)
    weight = grouped["weight"].to_numpy()
    error = grouped["predicted"] - grouped["actual"]
    bought = (grouped["actual"] > 0).to_numpy()
    predicted = float(weight @ grouped["predicted"])
    observed = float(weight @ grouped["actual"])
    metrics = {
        "customers": int(weight.sum()),
        "predicted_purchases": predicted,
        "actual_purchases": observed,
        "aggregate_error_pct": 100 * (predicted / observed - 1) if observed > 0 else None,
        "mae": float(np.average(error.abs(), weights=weight)),
        "rmse": float(np.sqrt(np.average(error**2, weights=weight))),
        "buyers": int(weight @ bought),
        "expected_buyers": float(weight @ grouped["p_purchase"]),
        "log_loss": log_loss(grouped["p_purchase"].to_numpy(), bought, weight),
        "alive_auc": auc(grouped["p_alive"].to_numpy(), bought, weight),
    }
    return _by_calibration_purchases(grouped, max_frequency), metrics


def _by_calibration_purchases(grouped: pd.DataFrame, max_frequency: int) -> pd.DataFrame:
    """Customers and their mean predicted and actual holdout purchases by calibration repeat
    purchases (capped at `max_frequency`)."""
    bucket = grouped["frequency"].clip(upper=max_frequency).astype(int)
    sums = (
        grouped.assign(
            calibration_purchases=bucket,
            predicted=grouped["predicted"] * grouped["weight"],
            actual=grouped["actual"] * grouped["weight"],
        )
        .groupby("calibration_purchases")[["predicted", "actual", "weight"]]
        .sum()
    )
    return pd.DataFrame(
        {
            "predicted": sums["predicted"] / sums["weight"],
            "actual": sums["actual"] / sums["weight"],
            "customers": sums["weight"].astype(int),
        }
    ).reset_index()


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


def spend_validation(spend: SpendModel, bought: pd.DataFrame) -> dict[str, float | None]:
    """Predicted against actual mean order value in the holdout, for calibration repeat
    customers who bought in it (`bought`, per frequency: customers and the sums of their
    mean spend, monetary_value, and of their holdout value per purchase day, value;
    scores.holdout_spend): the spend model's out-of-sample check."""
    customers = int(bought["customers"].sum())
    if not customers:
        return {"customers": 0, "predicted_mean": None, "actual_mean": None, "error_pct": None}
    base, slope = expected_order_value_terms(spend.fitter, bought["frequency"].to_numpy())
    predicted = float(base @ bought["customers"] + slope @ bought["monetary_value"]) / customers
    observed = float(bought["value"].sum()) / customers
    return {
        "customers": customers,
        "predicted_mean": predicted,
        "actual_mean": observed,
        "error_pct": 100 * (predicted / observed - 1),
    }


def validate_models(
    engine: queries.DataEngine, config: Config, quarter: Period, summary: str
) -> tuple[pd.DataFrame, dict[str, dict], dict, tuple]:
    """Fit each candidate on history before the quarter, predict the quarter, compare.

    With several candidates and more calibration customers than `selection_customers`, the
    candidates are compared on a sample of that many (evenly spaced in customer order), and
    the chosen one is then fitted and checked on everyone (its row says how many customers it
    was checked on). The customers stay in the engine: their summary before the quarter (the
    base at the previous quarter's end, which value_snapshot then values with these models) as
    table `summary` (kept here unless the engine holds it), kept for the caller unless this
    raises.

    Returns the calibration-vs-holdout table of the chosen model, every candidate's metrics
    (or its failure), the spend model's holdout check, and the chosen model with the spend
    model (or the reason it is withheld): the models of the base at the previous quarter's
    end. ModelFitError when no candidate could be fitted."""
    params = config.clv
    if not engine.has(summary):  # kept already by clv.build_section, with the others
        queries.keep_customer_summary(
            engine,
            summary,
            quarter.start,
            UNIT_DAYS[params.time_unit],
            origins=False,  # pragma: no mutate (unread columns)
        )
    try:
        return _validate(engine, summary, params, quarter)
    except BaseException:
        engine.forget(summary)
        raise
    finally:
        engine.forget(f"{summary}_sample")


def _validate(
    engine: queries.DataEngine, calibration: str, params: ClvParams, quarter: Period
) -> tuple[pd.DataFrame, dict[str, dict], dict, tuple]:
    horizon = (quarter.end - quarter.start).days / UNIT_DAYS[params.time_unit]
    candidates = list(MODEL_KEYS) if params.model == "auto" else [params.model]
    everyone = scores.holdout_outcomes(engine, calibration, quarter.start, quarter.end)
    compared = everyone
    customers = everyone["weight"].sum()
    # sampling one candidate, or everyone, gives the same figures: the chosen is refitted on all
    if len(candidates) > 1 and customers > params.selection_customers:  # pragma: no mutate
        sample = f"{calibration}_sample"
        scores.keep_sample(engine, sample, calibration, params.selection_customers)
        compared = scores.holdout_outcomes(engine, sample, quarter.start, quarter.end)
    results, fitted = {}, {}
    sampled = compared is not everyone  # then only the chosen one's refit is ever valued
    for key in candidates:
        try:
            fitted[key], results[key] = _holdout_check(
                key, compared, horizon, params, covariance=not sampled
            )
        except ModelFitError as exc:
            results[key] = {"model": MODEL_NAMES[key], "error": exc.reason}
    chosen = choose_model(results, params.max_holdout_error_pct)
    if sampled:
        fitted[chosen], results[chosen] = _holdout_check(chosen, everyone, horizon, params)
    model, table = fitted[chosen]
    spend, withheld = try_spend_model(
        scores.repeat_spend(engine, calibration), params.spend_penalty
    )
    spend_check = (
        spend_validation(
            spend, scores.holdout_spend(engine, calibration, quarter.start, quarter.end)
        )
        if spend is not None
        else {}
    )
    return table, results, spend_check, (model, spend, withheld)


def _holdout_check(
    key: str, outcomes: pd.DataFrame, horizon: float, params: ClvParams, covariance: bool = True
) -> tuple[tuple[FittedModel, pd.DataFrame], dict]:
    """Model `key` fitted on the calibration customers of `outcomes` (with the parameters'
    covariance unless `covariance` is false), with its holdout table and metrics."""
    model = fit_purchase_model(outcomes, key, params.purchase_penalty, covariance)
    table, metrics = holdout_validation(model, outcomes, horizon)
    return (model, table), {
        "model": model.name,
        "params": model.params,
        "note": model.note,
        **metrics,
    }
