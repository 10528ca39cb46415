"""Customer lifetime value with lifetimes: validate on a holdout quarter, then predict.

Shape the data (data_access.customer_summary), fit (BG/NBD, Pareto/NBD or modified BG/NBD
for purchases, Gamma-Gamma for spend), predict and summarise. Purchase models are fitted on the
distinct (frequency, recency, T) rows with their number of customers as weights, which gives the
same likelihood as one row per customer at a fraction of the cost. BG/NBD and Gamma-Gamma are
fitted by helpers.likelihood (lifetimes' objectives with closed-form gradients, same optimum);
the other models by lifetimes itself.

Work-arounds for lifetimes 0.11.3 on current pandas/numpy/scipy: the calibration/holdout split is
our own (lifetimes' fails without a monetary column); Pareto/NBD gets a seeded starting point
(lifetimes draws one from numpy's global random state); lifetimes.datasets is never imported
(it needs pkg_resources); time units are days or weeks only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lifetimes import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)
from lifetimes.utils import ConvergenceError

from helpers import data_access, likelihood
from helpers.config import Config
from helpers.errors import ReportError
from helpers.kpis import kpi_record
from helpers.periods import Quarter

MODELS = {"bgnbd": BetaGeoFitter, "pareto": ParetoNBDFitter, "mbgnbd": ModifiedBetaGeoFitter}
MODEL_NAMES = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "Modified BG/NBD"}
UNIT_DAYS = {"days": 1.0, "weeks": 7.0}
LIFETIMES_FREQ = {"days": "D", "weeks": "W"}


class ModelFitError(ReportError):
    """No model could be fitted, even with the fallback penalizers."""


@dataclass
class FittedModel:
    """A fitted purchase model and how it was obtained."""

    key: str
    fitter: object
    penalizer: float
    note: str

    @property
    def name(self) -> str:
        return MODEL_NAMES[self.key]

    @property
    def params(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.fitter.params_.items()}


def compress(summary: pd.DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, T) rows with the number of customers as `weight`."""
    return (
        summary.groupby(["frequency", "recency", "T"], sort=True)
        .size()
        .rename("weight")
        .reset_index()
    )


def _fit_once(key: str, rows: pd.DataFrame, penalizer: float, seed: int):
    if key == "bgnbd":
        return likelihood.fit_bgnbd(
            rows["frequency"], rows["recency"], rows["T"], rows["weight"], penalizer
        )
    fitter = MODELS[key](penalizer_coef=penalizer)
    kwargs = {"weights": rows["weight"].to_numpy()}
    if key == "pareto":  # lifetimes would start from numpy's global random state
        kwargs["initial_params"] = np.random.default_rng(seed).normal(1.0, 0.05, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fitter.fit(
            rows["frequency"].to_numpy(),
            rows["recency"].to_numpy(),
            rows["T"].to_numpy(),
            **kwargs,
        )
    if not np.all(np.isfinite(fitter.params_.to_numpy())):
        raise ConvergenceError("non-finite parameters")
    return fitter


def _with_fallback(
    fit: Callable[[float], Any], penalizer: float, name: str, hint: str
) -> tuple[Any, float, str]:
    """Call fit(penalizer); on non-convergence retry with 10x and 100x the penalizer.

    Returns the result, the penalizer used and a note for the report (empty if the first try
    converged). Raises ModelFitError naming the model and every penalizer tried.
    """
    ladder = [penalizer] + [max(penalizer, 1e-3) * factor for factor in (10, 100)]
    for attempt, coef in enumerate(ladder):
        try:
            result = fit(coef)
        except (ConvergenceError, ValueError, np.linalg.LinAlgError):
            continue
        note = (
            ""
            if attempt == 0
            else (
                f"{name} did not converge with penalizer {penalizer}; fitted with {coef} instead "
                "(parameters shrink towards zero)."
            )
        )
        return result, coef, note
    raise ModelFitError(f"{name} did not converge with penalizers {ladder}; {hint}")


def fit_purchase_model(summary: pd.DataFrame, key: str, penalizer: float, seed: int) -> FittedModel:
    """Fit purchase model `key` on the summary's distinct rows, with the penalizer fallback."""
    rows = compress(summary)
    fitter, coef, note = _with_fallback(
        lambda coef: _fit_once(key, rows, coef, seed),
        penalizer,
        MODEL_NAMES[key],
        "try another model (clv.model) or more history",
    )
    return FittedModel(key, fitter, coef, note)


def holdout_validation(
    model: FittedModel,
    calibration: pd.DataFrame,
    actual: pd.DataFrame,
    horizon: float,
    max_frequency: int = 7,
) -> tuple[pd.DataFrame, dict]:
    """Predicted vs actual purchases in the holdout for every calibration customer.

    Returns the table by number of calibration repeat purchases (capped at `max_frequency`)
    and the error metrics: aggregate error in percent, per-customer MAE and RMSE.
    """
    predicted = model.fitter.conditional_expected_number_of_purchases_up_to_time(
        horizon, calibration["frequency"], calibration["recency"], calibration["T"]
    )
    per_customer = calibration[["customer_id", "frequency"]].assign(
        predicted=np.asarray(predicted, dtype=float),
        actual=calibration["customer_id"]
        .map(actual.set_index("customer_id")["purchases"])
        .fillna(0.0)
        .to_numpy(),
    )
    error = per_customer["predicted"] - per_customer["actual"]
    metrics = {
        "customers": len(per_customer),
        "predicted_purchases": float(per_customer["predicted"].sum()),
        "actual_purchases": float(per_customer["actual"].sum()),
        "mae": float(error.abs().mean()),
        "rmse": float(np.sqrt((error**2).mean())),
    }
    metrics["aggregate_error_pct"] = 100 * (
        metrics["predicted_purchases"] / metrics["actual_purchases"] - 1
    )
    bucket = per_customer["frequency"].clip(upper=max_frequency).astype(int)
    by_frequency = (
        per_customer.groupby(bucket)[["predicted", "actual"]]
        .mean()
        .join(bucket.value_counts().rename("customers"))
        .reset_index()
        .rename(columns={"frequency": "calibration_purchases"})
    )
    return by_frequency, metrics


def spend_model(summary: pd.DataFrame, penalizer: float) -> tuple[GammaGammaFitter, dict]:
    """Gamma-Gamma fitted on repeat customers with positive spend, plus its diagnostics.

    The model assumes spend per order is independent of purchase frequency; the Pearson
    correlation between the two is returned so the report can warn when it is not.
    """
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < 20:
        raise ModelFitError(
            f"only {len(repeat)} repeat customers with spend: too few for Gamma-Gamma"
        )

    ggf, coef, note = _with_fallback(
        lambda coef: likelihood.fit_gamma_gamma(
            repeat["frequency"], repeat["monetary_value"], penalizer=coef
        ),
        penalizer,
        "Gamma-Gamma",
        "spend per order may be too uneven to model",
    )
    correlation = float(np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
    return ggf, {
        "repeat_customers": len(repeat),
        "frequency_spend_correlation": correlation,
        "params": {k: float(v) for k, v in ggf.params_.items()},
        "penalizer": coef,
        "note": note,
    }


def monthly_rate(annual_rate: float) -> float:
    """The monthly discount rate equivalent to an annual one."""
    return (1 + annual_rate) ** (1 / 12) - 1


LIFETIMES_MONTH = {"days": 30.0, "weeks": 4.345}  # lifetimes' time units per month


def _expected_purchases(fitter, t: float, rows: pd.DataFrame) -> np.ndarray:
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
        + [_expected_purchases(fitter, m * month, pairs) for m in range(1, months + 1)]
    )
    discount = (1 + monthly_discount) ** -np.arange(1, months + 1)
    per_pair = discount @ np.diff(cumulative, axis=0)
    return per_pair[pair] * horizon_purchases / cumulative[-1][pair]


def predict_customers(
    model: FittedModel,
    ggf: GammaGammaFitter,
    summary: pd.DataFrame,
    unit: str,
    next_quarter_days: int,
    months: int,
    annual_rate: float,
    margin_rate: float | None,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases next quarter and in `months`, expected order
    value, and discounted CLV over `months` (in margin terms when margin_rate is given).

    Purchase predictions depend only on (frequency, recency, T), so they are computed once per
    distinct row and mapped back: the same numbers at a fraction of the cost."""
    fitter, unit_days = model.fitter, UNIT_DAYS[unit]
    keys = ["frequency", "recency", "T"]
    rows = summary[keys].drop_duplicates().reset_index(drop=True)
    horizon = _expected_purchases(fitter, months * LIFETIMES_MONTH[unit], rows)
    per_row = rows.assign(
        p_alive=np.asarray(
            fitter.conditional_probability_alive(*(rows[k].to_numpy() for k in keys)), float
        ),
        expected_purchases_next_quarter=_expected_purchases(
            fitter, next_quarter_days / unit_days, rows
        ),
        expected_purchases_horizon=horizon,
        discounted_purchases=discounted_purchases(
            fitter, rows, horizon, months, monthly_rate(annual_rate), unit
        ),
    )
    out = summary.merge(per_row, on=keys, how="left")
    spend = np.asarray(
        ggf.conditional_expected_average_profit(out["frequency"], out["monetary_value"])
    )
    clv = spend * out.pop("discounted_purchases").to_numpy()
    return out.assign(
        expected_order_value=spend,
        expected_revenue_next_quarter=out["expected_purchases_next_quarter"] * spend,
        clv=clv * (margin_rate if margin_rate is not None else 1.0),
    )


TIERS = ["Top 10%", "Next 10%", "Middle 30%", "Bottom 50%"]


def clv_tier(clv: pd.Series) -> pd.Series:
    """Tier of each customer by CLV rank: top 10%, next 10%, middle 30%, bottom 50%."""
    rank = clv.rank(ascending=False, method="first") / len(clv)
    return pd.cut(rank, [0, 0.1, 0.2, 0.5, 1.0], labels=TIERS)


def value_tiers(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per CLV tier: customers, total and mean CLV, mean P(alive) and share of all value."""
    table = (
        predictions.assign(tier=clv_tier(predictions["clv"]))
        .groupby("tier", observed=False)
        .agg(
            customers=("clv", "size"),
            clv_total=("clv", "sum"),
            clv_mean=("clv", "mean"),
            p_alive=("p_alive", "mean"),
            frequency=("frequency", "mean"),
        )
    )
    table["value_share"] = table["clv_total"] / table["clv_total"].sum()
    return table.reset_index()


def clv_by(predictions: pd.DataFrame, column: str) -> pd.DataFrame:
    """Customers, mean and total CLV, mean P(alive) per value of `column`."""
    return (
        predictions.groupby(column, observed=True)
        .agg(
            customers=("clv", "size"),
            clv_mean=("clv", "mean"),
            clv_total=("clv", "sum"),
            p_alive=("p_alive", "mean"),
        )
        .reset_index()
        .sort_values(column)
    )


def _on_grid(predict: Callable, T: float, max_frequency: int, points: int) -> pd.DataFrame:
    """predict(frequency, recency, T) on a frequency (rows) x recency (columns) grid for
    customers of age T; with no repeat purchase, recency is 0 by definition."""
    frequency = np.arange(max_frequency + 1)
    recency = np.linspace(0, T, points)
    f, r = np.meshgrid(frequency, recency, indexing="ij")
    values = np.asarray(
        predict(f.ravel(), np.where(f.ravel() == 0, 0, r.ravel()), np.full(f.size, T)), dtype=float
    )
    return pd.DataFrame(values.reshape(f.shape), index=frequency, columns=np.round(recency, 1))


def alive_matrix(
    model: FittedModel, T: float, max_frequency: int, points: int = 25
) -> pd.DataFrame:
    """P(alive) by frequency and recency for customers of age T."""
    return _on_grid(model.fitter.conditional_probability_alive, T, max_frequency, points)


def expected_purchases_matrix(
    model: FittedModel, T: float, horizon: float, max_frequency: int, points: int = 25
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
    model: FittedModel, summary: pd.DataFrame, seed: int, max_frequency: int = 7
) -> pd.DataFrame:
    """Customers by number of repeat purchases: actual against one draw from the model with
    every customer's own age T (lifetimes' period-transactions check, seeded)."""
    simulated = simulate_repeat_purchases(
        model.key, model.params, summary["T"].to_numpy(), np.random.default_rng(seed)
    )
    buckets = range(max_frequency + 1)

    def count(frequency: pd.Series) -> pd.Series:
        return frequency.clip(upper=max_frequency).astype(int).value_counts()

    return pd.DataFrame(
        {
            "repeat_purchases": list(buckets),
            "actual": count(summary["frequency"]).reindex(buckets, fill_value=0),
            "model": count(pd.Series(simulated)).reindex(buckets, fill_value=0),
        }
    ).reset_index(drop=True)


@dataclass
class Snapshot:
    """The customer base valued at one quarter's end."""

    quarter: str
    model: FittedModel
    spend: dict
    predictions: pd.DataFrame


def value_snapshot(
    engine: data_access.DataEngine,
    config: Config,
    quarter: Quarter,
    key: str,
    margin_rate: float | None,
    fitted: tuple[pd.DataFrame, FittedModel] | None = None,
    origins: bool = False,
) -> Snapshot:
    """Fit `key` and Gamma-Gamma on all history before `quarter` ends and value every customer;
    `fitted` passes a summary of that history and its purchase model when already at hand;
    `origins` adds each customer's first order, its quarter and channel (customer_summary)."""
    params = config.clv
    if fitted is None:
        summary = data_access.customer_summary(
            engine, quarter.end, UNIT_DAYS[params.time_unit], origins=origins
        )
        model = fit_purchase_model(summary, key, params.penalizer, config.seed)
    else:
        summary, model = fitted
    ggf, spend = spend_model(summary, params.penalizer)
    next_days = (quarter.shift(1).end - quarter.end).days
    predictions = predict_customers(
        model,
        ggf,
        summary,
        params.time_unit,
        next_days,
        params.horizon_months,
        params.annual_discount_rate,
        margin_rate,
    )
    return Snapshot(quarter.label, model, spend, predictions)


def validate_models(
    engine: data_access.DataEngine, config: Config, quarter: Quarter
) -> tuple[pd.DataFrame, dict[str, dict], tuple[pd.DataFrame, FittedModel]]:
    """Fit each candidate on history before the quarter, predict the quarter, compare.

    Returns the calibration-vs-holdout table of the chosen model, every candidate's metrics
    (or its failure), and the calibration summary with the chosen model (lowest absolute
    aggregate error): the customer base and its model at the previous quarter's end.
    """
    params = config.clv
    unit_days = UNIT_DAYS[params.time_unit]
    calibration = data_access.customer_summary(engine, quarter.start, unit_days)
    actual = data_access.purchase_days_between(engine, quarter.start, quarter.end)
    horizon = (quarter.end - quarter.start).days / unit_days
    candidates = list(MODELS) if params.model == "auto" else [params.model]
    results, tables, models = {}, {}, {}
    for key in candidates:
        try:
            model = fit_purchase_model(calibration, key, params.penalizer, config.seed)
        except ModelFitError as exc:
            results[key] = {"model": MODEL_NAMES[key], "error": str(exc)}
            continue
        models[key] = model
        tables[key], metrics = holdout_validation(model, calibration, actual, horizon)
        results[key] = {"model": model.name, "params": model.params, "note": model.note, **metrics}
    fitted = list(tables)
    if not fitted:
        raise ModelFitError("; ".join(r["error"] for r in results.values()))
    chosen = min(fitted, key=lambda k: abs(results[k]["aggregate_error_pct"]))
    return tables[chosen], results, (calibration, models[chosen])


def base_summary(snapshot: Snapshot) -> dict[str, float]:
    """Headline figures of a valued customer base."""
    p = snapshot.predictions
    return {
        "customers": float(len(p)),
        "active_customers": float((p["p_alive"] >= 0.5).sum()),
        "clv_mean": float(p["clv"].mean()),
        "clv_total": float(p["clv"].sum()),
        "expected_revenue_next_quarter": float(p["expected_revenue_next_quarter"].sum()),
    }


BASE_LABELS = {
    "customers": ("Customers to date", "count"),
    "active_customers": ("Customers likely active (P(alive) ≥ 50%)", "count"),
    "clv_mean": ("Mean CLV per customer", "currency"),
    "clv_total": ("Total CLV of the customer base", "currency"),
    "expected_revenue_next_quarter": (
        "Expected revenue from existing customers, next quarter",
        "currency",
    ),
}


def clv_findings(
    validation: dict,
    trusted: bool,
    tiers: pd.DataFrame,
    by_channel: pd.DataFrame | None,
    spend: dict,
    thresholds: dict,
    currency: str,
    basis: str,
) -> list[str]:
    """Plain-language findings: trust first, then concentration and channels."""
    error = validation["aggregate_error_pct"]
    direction = "under" if error < 0 else "over"
    notes = [
        f"The {validation['model']} model {direction}-predicted this quarter's purchases by "
        f"{abs(error):.1f}% when fitted on history before the quarter: "
        + (
            "within the tolerance, so its forecasts can be used."
            if trusted
            else f"beyond the {thresholds['max_holdout_error_pct']:.0f}% tolerance; treat the CLV "
            "figures as indicative only."
        )
    ]
    top10 = tiers.loc[tiers["tier"] == "Top 10%", "value_share"].iloc[0]
    top20 = top10 + tiers.loc[tiers["tier"] == "Next 10%", "value_share"].iloc[0]
    notes.append(
        f"The top 10% of customers hold {top10:.0%} of expected future {basis}, the "
        f"top 20% hold {top20:.0%}."
    )
    if by_channel is not None and len(by_channel) > 1:
        ranked = by_channel.sort_values("clv_mean")
        best, worst = ranked.iloc[-1], ranked.iloc[0]
        notes.append(
            f"Customers acquired through {best['acquisition_channel']} are worth "
            f"{currency}{best['clv_mean']:,.0f} each over the horizon, "
            f"{best['clv_mean'] / worst['clv_mean']:.1f}x those from "
            f"{worst['acquisition_channel']} ({currency}{worst['clv_mean']:,.0f})."
        )
    corr = spend["frequency_spend_correlation"]
    if abs(corr) > thresholds["max_spend_correlation"]:
        notes.append(
            f"Spend per order correlates with purchase frequency (r = {corr:.2f}); "
            "Gamma-Gamma assumes independence, so expected order values are biased."
        )
    return notes


@dataclass
class ClvSection:
    """Every table the CLV notebook shows."""

    validation_table: pd.DataFrame
    candidates: pd.DataFrame
    chosen: dict
    trusted: bool
    current: Snapshot
    base: pd.DataFrame
    tiers: pd.DataFrame
    by_channel: pd.DataFrame | None
    by_cohort: pd.DataFrame
    alive: pd.DataFrame
    expected: pd.DataFrame
    matrix_age: float
    period_check: pd.DataFrame
    margin_rate: float | None
    basis: str
    findings: list[str]
    kpis: dict[str, dict]


def build_section(
    engine: data_access.DataEngine, config: Config, periods: pd.DataFrame
) -> ClvSection:
    """Validate on the quarter, refit to its end, value the base now, last quarter, a year ago."""
    quarter = config.period
    validation_table, results, calibrated = validate_models(engine, config, quarter)
    key = calibrated[1].key
    chosen = results[key]
    trusted = abs(chosen["aggregate_error_pct"]) <= config.clv.max_holdout_error_pct
    margin = data_access.gross_margin_rate(engine, quarter.end)
    base = {}  # headline figures of each valued base; only the current one is kept whole
    for name, label in zip(periods["period"], periods["quarter"], strict=True):
        # the validation fit is the model of the base at the previous quarter's end
        fitted = calibrated if name == "previous" else None
        snapshot = value_snapshot(
            engine, config, Quarter.parse(label), key, margin, fitted, origins=name == "current"
        )
        base[name] = base_summary(snapshot)
        if name == "current":
            current = snapshot
    del calibrated  # a 1M-row summary at scale
    base = pd.DataFrame(base)
    tiers = value_tiers(current.predictions)
    has_channel = current.predictions["acquisition_channel"].notna().any()
    by_channel = clv_by(current.predictions, "acquisition_channel") if has_channel else None
    basis = "gross margin" if margin is not None else "revenue"
    typical_age = float(current.predictions["T"].median())
    max_f = int(min(current.predictions["frequency"].quantile(0.99), 30))
    kpis = {name: kpi_record(*BASE_LABELS[name], base.loc[name].to_dict()) for name in base.index}
    kpis["holdout_error_pct"] = {
        "label": "Holdout error of the purchase model",
        "unit": "pct",
        "current": chosen["aggregate_error_pct"],
    }
    thresholds = config.clv.model_dump()
    return ClvSection(
        validation_table=validation_table,
        candidates=pd.DataFrame(results.values()).assign(
            chosen=lambda d: d["model"] == chosen["model"]
        ),
        chosen=chosen,
        trusted=trusted,
        current=current,
        base=base.reset_index(names="measure"),
        tiers=tiers,
        by_channel=by_channel,
        by_cohort=clv_by(current.predictions, "first_quarter"),
        alive=alive_matrix(current.model, typical_age, max_f),
        expected=expected_purchases_matrix(
            current.model,
            typical_age,
            (quarter.shift(1).end - quarter.end).days / UNIT_DAYS[config.clv.time_unit],
            max_f,
        ),
        matrix_age=typical_age,
        period_check=period_transactions(current.model, current.predictions, config.seed),
        margin_rate=margin,
        basis=basis,
        findings=clv_findings(
            chosen, trusted, tiers, by_channel, current.spend, thresholds, config.currency, basis
        ),
        kpis=kpis,
    )


def customer_export(section: ClvSection) -> pd.DataFrame:
    """The CRM table: one row per customer with summary, predictions, CLV and value tier."""
    p = section.current.predictions
    return p.assign(clv_tier=clv_tier(p["clv"]).astype(str))


def valuation_note(section: ClvSection, horizon_months: int, annual_rate: float) -> str:
    """How CLV was measured: margin or revenue basis, horizon and discount rate."""
    basis = (
        f"gross margin (revenue x gross margin rate {section.margin_rate:.1%} from order costs)"
        if section.margin_rate is not None
        else "revenue, because the orders carry no cost"
    )
    return f"CLV is measured in {basis}, over {horizon_months} months at {annual_rate:.0%} a year."


def model_note(section: ClvSection) -> str:
    """The fitted parameters of both models, the independence check, and any fallback used."""
    model, spend = section.current.model, section.current.spend
    parts = [
        f"Purchase model {model.name}: "
        + ", ".join(f"{k} = {v:.3g}" for k, v in model.params.items())
        + ".",
        f"Gamma-Gamma spend model on {spend['repeat_customers']:,} repeat customers: "
        + ", ".join(f"{k} = {v:.3g}" for k, v in spend["params"].items())
        + f"; frequency-spend correlation {spend['frequency_spend_correlation']:.2f} "
        "(the model assumes none).",
        model.note,
        spend["note"],
    ]
    return " ".join(part for part in parts if part)


def value_by_channel(engine: data_access.DataEngine, config: Config) -> pd.DataFrame | None:
    """CLV per acquisition channel at the quarter's end (what the CLV section saves as
    clv_by_channel), for sections run without it; None when orders carry no channel."""
    quarter = config.period
    key = "bgnbd" if config.clv.model == "auto" else config.clv.model
    margin = data_access.gross_margin_rate(engine, quarter.end)
    predictions = value_snapshot(engine, config, quarter, key, margin, origins=True).predictions
    if not predictions["acquisition_channel"].notna().any():
        return None
    return clv_by(predictions, "acquisition_channel")
