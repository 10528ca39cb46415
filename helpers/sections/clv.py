"""Customer lifetime value with lifetimes: choose and validate the purchase model on a holdout
quarter, then value the customer base at the quarter's end, a quarter before and a year before.

Shape the data (queries.customer_summary), fit and check the models (clv_models), predict
and summarise (here). A figure whose model could not be fitted soundly is withheld with the
reason, never published.

Work-arounds for lifetimes 0.11.3 on current pandas/numpy/scipy: the calibration/holdout split is
our own (lifetimes' fails without a monetary column); lifetimes.datasets is never imported
(it needs pkg_resources); time units are days or weeks only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.core.config import ClvParams, Config
from helpers.core.periods import Quarter, comparison_periods
from helpers.data import queries
from helpers.models.fitting import (
    LIFETIMES_MONTH,
    MODEL_KEYS,
    MODEL_NAMES,
    FittedModel,
    Horizon,
    ModelFitError,
    SpendModel,
    check_predictions,
    choose_model,
    fit_purchase_model,
    headline_standard_errors,
    holdout_validation,
    monthly_rate,
    probability_of_purchase,
    purchase_expectations,
    spend_model,
    spend_validation,
)
from helpers.sections.kpis import kpi_record

UNIT_DAYS = {"days": 1.0, "weeks": 7.0}
WITHHELD_ADVICE = (
    "The figures appear once the orders hold enough history for a sound model; an analyst can "
    "also try another purchase model (clv.model in the parameters)."
)
CLV_FIGURES = ("clv_mean", "clv_total", "expected_revenue_next_quarter")
BASE_FIGURES = [
    "customers",
    "expected_alive",
    "expected_buyers_horizon",
    "bought_last_12_months",
    *(f"{name}{suffix}" for name in CLV_FIGURES for suffix in ("", "_se")),
]


def predict_customers(
    model: FittedModel,
    spend: SpendModel | None,
    summary: pd.DataFrame,
    horizon: Horizon,
    margin_rate: float | None,
) -> pd.DataFrame:
    """Per customer: P(alive), the chance of an order within the horizon (p_order_horizon),
    expected purchases next quarter, over the horizon and discounted over it, and, with
    a spend model, expected order value, expected revenue next quarter and discounted CLV over
    the horizon (in margin terms when margin_rate is given).

    Purchase predictions depend only on (frequency, recency, T), so they are computed once per
    distinct row and mapped back: the same numbers at a fraction of the cost."""
    keys = ["frequency", "recency", "T"]
    rows = summary[keys].drop_duplicates().reset_index(drop=True)
    per_row = purchase_expectations(model.fitter, rows, horizon).assign(
        p_alive=np.asarray(
            model.fitter.conditional_probability_alive(*(rows[k].to_numpy() for k in keys)),
            dtype=float,
        ),
        p_order_horizon=probability_of_purchase(
            model, horizon.months * LIFETIMES_MONTH[horizon.unit], rows
        ),
    )
    check_predictions(model, per_row, list(per_row.columns))
    out = summary.merge(per_row, on=keys, how="left")
    discounted = out["discounted_purchases"].to_numpy()
    if spend is None:
        return out
    order_value = np.asarray(
        spend.fitter.conditional_expected_average_profit(out["frequency"], out["monetary_value"])
    )
    return out.assign(
        expected_order_value=order_value,
        expected_revenue_next_quarter=out["expected_purchases_next_quarter"] * order_value,
        clv=order_value * discounted * (margin_rate if margin_rate is not None else 1.0),
    )


TIERS = ["Top 10%", "Next 10%", "Middle 30%", "Bottom 50%"]


def clv_tier(clv: pd.Series) -> pd.Series:
    """Tier of each customer by CLV rank: top 10%, next 10%, middle 30%, bottom 50%."""
    rank = clv.rank(ascending=False, method="first") / len(clv)
    return pd.cut(rank, [0, 0.1, 0.2, 0.5, 1.0], labels=TIERS)


def value_tiers(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per CLV tier: customers, total and mean CLV, mean P(alive) and share of all value (NaN
    when the total is not positive: shares of a non-positive total mean nothing)."""
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
    total = table["clv_total"].sum()
    table["value_share"] = table["clv_total"] / total if total > 0 else np.nan
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
    """The customer base valued at one quarter's end. Without a sound spend model, `spend` is
    None, the predictions carry no CLV and `spend_withheld` says why."""

    quarter: str
    model: FittedModel
    spend: SpendModel | None
    spend_withheld: str | None
    predictions: pd.DataFrame
    margin_rate: float | None
    standard_errors: dict[str, float] | None  # of the CLV figures, None when unavailable

    @property
    def has_clv(self) -> bool:
        return self.spend is not None


def horizon_for(config: Config, quarter: Quarter) -> Horizon:
    """The next quarter's length and the CLV horizon of the parameters, in model time units."""
    params = config.clv
    next_days = (quarter.shift(1).end - quarter.end).days
    return Horizon(
        next_days / UNIT_DAYS[params.time_unit],
        params.horizon_months,
        monthly_rate(params.annual_discount_rate),
        params.time_unit,
    )


def _try_spend_model(summary: pd.DataFrame, penalty: float) -> tuple[SpendModel | None, str | None]:
    try:
        return spend_model(summary, penalty), None
    except ModelFitError as exc:
        return None, str(exc)


def value_snapshot(
    engine: queries.DataEngine,
    config: Config,
    quarter: Quarter,
    key: str,
    fitted: tuple[pd.DataFrame, FittedModel, SpendModel | None, str | None] | None = None,
    origins: bool = False,
) -> Snapshot:
    """Fit purchase model `key` and Gamma-Gamma on all history before `quarter` ends and value
    every customer at that quarter's own gross margin rate; `fitted` passes a summary of that
    history with its models when already at hand; `origins` adds each customer's first order,
    its quarter, channel and value (customer_summary)."""
    params = config.clv
    if fitted is None:
        summary = queries.customer_summary(
            engine, quarter.end, UNIT_DAYS[params.time_unit], origins=origins
        )
        model = fit_purchase_model(summary, key, params.purchase_penalty)
        spend, withheld = _try_spend_model(summary, params.spend_penalty)
    else:
        summary, model, spend, withheld = fitted
    margin = queries.gross_margin_rate(engine, quarter.end)
    horizon = horizon_for(config, quarter)
    predictions = predict_customers(model, spend, summary, horizon, margin)
    at_fit = predictions.pop("discounted_purchases").to_numpy()
    errors = None
    if spend is not None:
        purchases = np.column_stack([at_fit, predictions["expected_purchases_next_quarter"]])
        found = headline_standard_errors(model, spend, summary, horizon, purchases)
        if found is not None:
            clv_se, revenue_se = found
            clv_se *= margin if margin is not None else 1.0
            errors = {
                "clv_total": clv_se,
                "clv_mean": clv_se / len(summary),
                "expected_revenue_next_quarter": revenue_se,
            }
    return Snapshot(quarter.label, model, spend, withheld, predictions, margin, errors)


def validate_models(
    engine: queries.DataEngine, config: Config, quarter: Quarter
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
            results[key] = {"model": MODEL_NAMES[key], "error": str(exc)}
    chosen = choose_model(results, params.max_holdout_error_pct)
    if compared is not calibration:
        fitted[chosen], results[chosen] = _holdout_check(
            chosen, calibration, actual, horizon, params
        )
    model, table = fitted[chosen]
    spend, withheld = _try_spend_model(calibration, params.spend_penalty)
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


def base_summary(
    snapshot: Snapshot, engine: queries.DataEngine, quarter: Quarter
) -> dict[str, float | None]:
    """Headline figures of a valued customer base, with the standard errors of its CLV
    figures (keys ending in _se)."""
    p = snapshot.predictions
    year_before = quarter.end - pd.DateOffset(months=12)
    figures = {
        "customers": float(len(p)),
        "expected_alive": float(p["p_alive"].sum()),
        "expected_buyers_horizon": float(p["p_order_horizon"].sum()),
        "bought_last_12_months": float(queries.customers_between(engine, year_before, quarter.end)),
    }
    for name in CLV_FIGURES:
        column = "clv" if name != "expected_revenue_next_quarter" else name
        if not snapshot.has_clv:
            figures[name] = None
        else:
            figures[name] = float(p[column].mean() if name == "clv_mean" else p[column].sum())
        errors = snapshot.standard_errors or {}
        figures[f"{name}_se"] = errors.get(name)
    return figures


BASE_LABELS = {
    "customers": ("Customers to date", "count"),
    "expected_alive": ("Expected active customers (sum of P(alive))", "count"),
    "expected_buyers_horizon": ("Customers expected to order over the CLV horizon", "count"),
    "bought_last_12_months": ("Customers who ordered in the last 12 months", "count"),
    "clv_mean": ("Mean CLV per customer", "currency"),
    "clv_total": ("Total CLV of the customer base", "currency"),
    "expected_revenue_next_quarter": (
        "Expected revenue from existing customers, next quarter",
        "currency",
    ),
}
BASE_DEFINITIONS = (
    "Expected active customers: the sum over all customers of the model's probability that "
    "each is still a customer (P(alive)); an active customer who buys rarely may not order in "
    "a given year. Customers expected to order over the CLV horizon: the sum of each one's "
    "chance of at least one order in it. Customers who ordered in the last 12 months: a plain "
    "count of distinct customers with an order in the 12 months to the quarter's end. "
    "± figures: 95% intervals from the models' parameter uncertainty (delta method); a change "
    "within the combined uncertainty of both periods is not called material."
)


def base_kpis(base: pd.DataFrame, withheld: str | None) -> dict[str, dict]:
    """KPI records of the valued bases (columns current, previous, year_ago); CLV figures
    carry their standard errors, or the reason they are withheld."""
    kpis = {}
    for name, (label, unit) in BASE_LABELS.items():
        values = base.loc[name].to_dict()
        errors = base.loc[f"{name}_se"].to_dict() if f"{name}_se" in base.index else None
        kpis[name] = kpi_record(label, unit, values, standard_errors=errors)
        if name in CLV_FIGURES and withheld:
            kpis[name]["withheld"] = withheld
    return kpis


def clv_findings(
    validation: dict,
    trusted: bool,
    current: Snapshot,
    tiers: pd.DataFrame | None,
    by_channel: pd.DataFrame | None,
    base: dict[str, dict],
    thresholds: dict,
    currency: str,
    basis: str,
) -> list[str]:
    """Plain-language findings: trust first, then activity, concentration and channels."""
    notes = [_trust_finding(validation, trusted, thresholds["max_holdout_error_pct"])]
    alive, bought = base["expected_alive"]["current"], base["bought_last_12_months"]["current"]
    buyers = base["expected_buyers_horizon"]["current"]
    notes.append(
        f"The {validation['model']} model expects {alive:,.0f} customers to be still active, "
        f"and {buyers:,.0f} to order over the next {thresholds['horizon_months']} months; "
        f"{bought:,.0f} "
        "ordered in the last 12 months."
    )
    if not current.has_clv:
        notes.append(f"CLV figures are withheld: {current.spend_withheld}.")
        return notes
    if tiers is not None and tiers["value_share"].notna().all():
        top10 = tiers.loc[tiers["tier"] == "Top 10%", "value_share"].iloc[0]
        top20 = top10 + tiers.loc[tiers["tier"] == "Next 10%", "value_share"].iloc[0]
        notes.append(
            f"The top 10% of customers hold {top10:.0%} of expected future {basis}, the "
            f"top 20% hold {top20:.0%}."
        )
    if by_channel is not None and len(by_channel) > 1:
        ranked = by_channel.sort_values("clv_mean")
        best, worst = ranked.iloc[-1], ranked.iloc[0]
        if worst["clv_mean"] > 0:
            notes.append(
                f"Customers acquired through {best['acquisition_channel']} are worth "
                f"{currency}{best['clv_mean']:,.0f} each over the horizon, "
                f"{best['clv_mean'] / worst['clv_mean']:.1f}x those from "
                f"{worst['acquisition_channel']} ({currency}{worst['clv_mean']:,.0f})."
            )
    corr = current.spend.frequency_spend_correlation
    if abs(corr) > thresholds["max_spend_correlation"]:
        notes.append(
            f"Spend per order correlates with purchase frequency (r = {corr:.2f}); "
            "Gamma-Gamma assumes independence, so expected order values are biased."
        )
    return notes


def _trust_finding(validation: dict, trusted: bool, tolerance: float) -> str:
    error = validation["aggregate_error_pct"]
    if error is None:
        return (
            f"No customer known before the quarter bought in it, so the {validation['model']} "
            "model could not be checked; treat its forecasts as indicative only."
        )
    direction = "under" if error < 0 else "over"
    return (
        f"The {validation['model']} model {direction}-predicted this quarter's purchases by "
        f"{abs(error):.1f}% when fitted on history before the quarter: "
        + (
            "within the tolerance, so its forecasts can be used."
            if trusted
            else f"beyond the {tolerance:.0f}% tolerance; treat the CLV figures as indicative only."
        )
    )


@dataclass
class ClvSection:
    """Every table the CLV notebook shows. Without a sound purchase model only `withheld` (the
    reason) is set; without a sound spend model, the CLV tables are None."""

    withheld: str | None = None
    validation_table: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    chosen: dict = field(default_factory=dict)
    spend_check: dict = field(default_factory=dict)
    trusted: bool = False
    current: Snapshot | None = None
    base: pd.DataFrame | None = None
    tiers: pd.DataFrame | None = None
    by_channel: pd.DataFrame | None = None
    by_cohort: pd.DataFrame | None = None
    alive: pd.DataFrame | None = None
    expected: pd.DataFrame | None = None
    matrix_age: float = 0.0
    period_check: pd.DataFrame | None = None
    basis: str = "revenue"
    snapshot_notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    kpis: dict[str, dict] = field(default_factory=dict)

    @property
    def clv_withheld(self) -> str | None:
        """Why there are no CLV figures (no purchase or no spend model), or None."""
        if self.withheld:
            return self.withheld
        return self.current.spend_withheld


def value_bases(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame, key: str, calibrated
) -> tuple[Snapshot, pd.DataFrame, list[str]]:
    """The current base valued whole, the headline figures of every compared base (the
    validation fit is the model of the base at the previous quarter's end), and notes on any
    compared base whose models fell back or failed. ModelFitError when the current base
    cannot be valued; a compared base that cannot is shown without figures."""
    base, notes, current = {}, [], None
    for name, label in zip(periods["period"], periods["quarter"], strict=True):
        quarter = Quarter.parse(label)
        fitted = calibrated if name == "previous" else None
        try:
            snapshot = value_snapshot(
                engine, config, quarter, key, fitted, origins=name == "current"
            )
        except ModelFitError as exc:
            if name == "current":
                raise
            notes.append(f"{label}: not valued, {exc}.")
            base[name] = dict.fromkeys(BASE_FIGURES)
            continue
        base[name] = base_summary(snapshot, engine, quarter)
        fallbacks = [snapshot.model.note, snapshot.spend.note if snapshot.spend else ""]
        if snapshot.spend_withheld:
            fallbacks.append(f"no CLV, {snapshot.spend_withheld}.")
        notes += [f"{label}: {note}" for note in fallbacks if note]
        if name == "current":
            current = snapshot
    return current, pd.DataFrame(base, index=BASE_FIGURES), notes


def build_section(engine: queries.DataEngine, config: Config, periods: pd.DataFrame) -> ClvSection:
    """Validate on the quarter, refit to its end, value the base now, last quarter, a year ago."""
    quarter = config.period
    try:
        validation_table, results, spend_check, calibrated = validate_models(
            engine, config, quarter
        )
    except ModelFitError as exc:
        reason = f"no purchase model could be fitted: {exc}"
        return ClvSection(withheld=reason, findings=[f"CLV is not available: {reason}."])
    key = calibrated[1].key
    chosen = results[key]
    error = chosen["aggregate_error_pct"]
    trusted = error is not None and abs(error) <= config.clv.max_holdout_error_pct
    try:
        current, base, snapshot_notes = value_bases(engine, config, periods, key, calibrated)
    except ModelFitError as exc:
        reason = f"the customer base could not be valued: {exc}"
        return ClvSection(withheld=reason, findings=[f"CLV is not available: {reason}."])
    del calibrated  # a 1M-row summary at scale
    kpis = base_kpis(base, current.spend_withheld)
    kpis["holdout_error_pct"] = {
        "label": "Holdout error of the purchase model",
        "unit": "pct",
        "current": error,
    }
    p = current.predictions
    tiers = value_tiers(p) if current.has_clv else None
    has_channel = p["acquisition_channel"].notna().any()
    by_channel = (
        channel_values(p, quarter, current.margin_rate) if has_channel and current.has_clv else None
    )
    typical_age = float(p["T"].median())
    max_f = int(min(p["frequency"].quantile(0.99), 30))
    basis = "gross margin" if current.margin_rate is not None else "revenue"
    return ClvSection(
        validation_table=validation_table,
        candidates=pd.DataFrame(results.values()).assign(
            chosen=lambda d: d["model"] == chosen["model"]
        ),
        chosen=chosen,
        spend_check=spend_check,
        trusted=trusted,
        current=current,
        base=base.reset_index(names="measure"),
        tiers=tiers,
        by_channel=by_channel,
        by_cohort=clv_by(p, "first_quarter") if current.has_clv else None,
        alive=alive_matrix(current.model, typical_age, max_f),
        expected=expected_purchases_matrix(
            current.model, typical_age, horizon_for(config, quarter).next_quarter, max_f
        ),
        matrix_age=typical_age,
        period_check=period_transactions(current.model, p, config.seed),
        basis=basis,
        snapshot_notes=snapshot_notes,
        findings=clv_findings(
            chosen,
            trusted,
            current,
            tiers,
            by_channel,
            kpis,
            config.clv.model_dump(),
            config.currency,
            basis,
        ),
        kpis=kpis,
    )


def channel_values(
    predictions: pd.DataFrame, quarter: Quarter, margin_rate: float | None
) -> pd.DataFrame:
    """CLV per acquisition channel (clv_by), plus this quarter's new customers of each: how
    many, their mean CLV and the mean value of their first purchase day, both in the CLV's
    basis (margin when known): what marketing ROI sets against CAC."""
    new = predictions[predictions["first_quarter"] == quarter.label]
    cohort = new.groupby("acquisition_channel", observed=True).agg(
        new_customers=("clv", "size"),
        new_clv_mean=("clv", "mean"),
        new_first_value_mean=("first_day_value", "mean"),
    )
    cohort["new_first_value_mean"] *= margin_rate if margin_rate is not None else 1.0
    table = clv_by(predictions, "acquisition_channel")
    return table.merge(cohort.reset_index(), on="acquisition_channel", how="left")


def customer_export(section: ClvSection) -> pd.DataFrame:
    """The CRM table: one row per customer with summary, predictions, CLV and value tier."""
    p = section.current.predictions
    if not section.current.has_clv:
        return p
    return p.assign(clv_tier=clv_tier(p["clv"]).astype(str))


def valuation_note(section: ClvSection, horizon_months: int, annual_rate: float) -> str:
    """How CLV was measured: margin or revenue basis, horizon and discount rate."""
    margin = section.current.margin_rate
    basis = (
        f"gross margin (revenue x gross margin rate {margin:.1%} from order costs to the "
        "quarter's end; each compared quarter at its own rate)"
        if margin is not None
        else "revenue, because the orders carry no cost"
    )
    return f"CLV is measured in {basis}, over {horizon_months} months at {annual_rate:.0%} a year."


def model_note(section: ClvSection, currency: str) -> str:
    """The fitted parameters of both models, their checks, and any fallback used."""
    model, spend = section.current.model, section.current.spend
    parts = [
        f"Purchase model {model.name}: "
        + ", ".join(f"{k} = {v:.3g}" for k, v in model.params.items())
        + ".",
        model.note,
    ]
    if spend is None:
        parts.append(f"No spend model: {section.current.spend_withheld}.")
    else:
        parts += [
            f"Gamma-Gamma spend model on {spend.repeat_customers:,} repeat customers: "
            + ", ".join(f"{k} = {v:.3g}" for k, v in spend.params.items())
            + f"; its mean spend per order {currency}{spend.model_mean:,.2f} against "
            f"{currency}{spend.observed_mean:,.2f} observed; frequency-spend correlation "
            f"{spend.frequency_spend_correlation:.2f} (the model assumes none).",
            spend.note,
        ]
    check = section.spend_check
    if check.get("error_pct") is not None:
        parts.append(
            f"Spend holdout check: for {check['customers']:,} repeat customers who bought in "
            f"the quarter, predicted mean order value {currency}{check['predicted_mean']:,.2f} "
            f"against {currency}{check['actual_mean']:,.2f} actual ({check['error_pct']:+.1f}%)."
        )
    parts += section.snapshot_notes
    return " ".join(part for part in parts if part)


def value_by_channel(engine: queries.DataEngine, config: Config) -> pd.DataFrame | None:
    """CLV per acquisition channel at the quarter's end (what the CLV section saves as
    clv_by_channel), for sections run without it; None when orders carry no channel or no
    sound model could be fitted."""
    return build_section(engine, config, comparison_periods(config.period)).by_channel
