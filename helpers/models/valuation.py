"""The customer base valued at a quarter's end: purchase and spend models fitted on all history
before it, every customer's predictions and CLV at that quarter's own gross margin rate, and
the standard errors of the CLV figures. A spend model that cannot be fitted soundly leaves the
CLV out and says why."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.core.config import Config
from helpers.core.errors import Reason
from helpers.core.periods import Period, next_quarter
from helpers.data import queries, scores
from helpers.models.fitting import (
    UNIT_DAYS,
    FittedModel,
    SpendModel,
    fit_purchase_model,
    try_spend_model,
)
from helpers.models.prediction import (
    Horizon,
    headline_standard_errors,
    history_predictions,
    monthly_rate,
    spend_terms,
)

CLV_FIGURES = ("clv_mean", "clv_total", "expected_revenue_next_quarter")


@dataclass
class Snapshot:
    """The customer base valued at one quarter's end. Every customer's scores stay in the
    engine, as `table` (helpers.data.scores); `histories` holds the predictions of
    their distinct histories with their customers (`weight`). Without a sound spend model,
    `spend` is None, the scores carry no CLV and `spend_withheld` says why."""

    quarter: str
    model: FittedModel
    spend: SpendModel | None
    spend_withheld: Reason | None
    engine: queries.DataEngine
    table: str
    histories: pd.DataFrame
    margin_rate: float | None
    standard_errors: dict[str, float] | None  # of the CLV figures, None when unavailable
    rejected_margin_rate: float | None = None  # from the costs, but at or below 0: not used

    @property
    def has_clv(self) -> bool:
        return self.spend is not None

    @property
    def predictions(self) -> pd.DataFrame:
        """Every customer's scores as one pandas table (small bases: tests, exploring)."""
        return scores.per_customer(self.engine, self.table)

    def release(self) -> None:
        """Drop the scores and customer summary from the engine (a base no longer shown)."""
        scores.release(self.engine, self.table, summary_table(self.quarter))


def margin_rates(
    engine: queries.DataEngine, end: pd.Timestamp
) -> tuple[float | None, float | None]:
    """The gross margin rate to measure value with, and the one rejected: costs at or above
    revenue for the whole shop (a rate at or below 0) are far likelier a cost column in another
    unit than the shop's economics, so value is then measured in revenue and the rate is
    reported instead. (None, None) without costs."""
    rate = queries.gross_margin_rate(engine, end)
    if rate is not None and rate <= 0:
        return None, rate
    return rate, None


def horizon_for(config: Config, quarter: Period) -> Horizon:
    """The next quarter's length and the CLV horizon of the parameters, in model time units."""
    params = config.clv
    following = next_quarter(quarter)
    next_days = (following.end - following.start).days
    return Horizon(
        next_days / UNIT_DAYS[params.time_unit],
        params.horizon_months,
        monthly_rate(params.annual_discount_rate),
        params.time_unit,
    )


def summary_table(quarter: str) -> str:
    """The engine table of the customer summary at a quarter's end."""
    return f"customers_{quarter}"


def value_snapshot(
    engine: queries.DataEngine,
    config: Config,
    quarter: Period,
    key: str,
    fitted: tuple[FittedModel, SpendModel | None, Reason | None] | None = None,
) -> Snapshot:
    """Fit purchase model `key` and Gamma-Gamma on all history before `quarter` ends and value
    every customer at that quarter's own gross margin rate, in the engine (table
    customer_scores_<quarter>); `fitted` passes the models of that history when already at
    hand. The customer summary is the one kept as summary_table(quarter) where there is one
    (validate_models leaves it; clv.build_section keeps every compared base's), else kept
    here (without the origins columns: clv.build_section keeps those)."""
    params = config.clv
    summary = summary_table(quarter.label)
    if not engine.has(summary):
        queries.keep_customer_summary(
            engine,
            summary,
            quarter.end,
            UNIT_DAYS[params.time_unit],
            origins=False,  # pragma: no mutate (unread columns)
        )
    histories = scores.histories(engine, summary)
    if fitted is None:
        model = fit_purchase_model(histories, key, params.purchase_penalty)
        spend, withheld = try_spend_model(
            scores.repeat_spend(engine, summary), params.spend_penalty
        )
    else:
        model, spend, withheld = fitted
    margin, rejected = margin_rates(engine, quarter.end)
    name = f"customer_scores_{quarter.label}"
    predicted, errors = score_base(
        engine, summary, name, (model, spend), histories, horizon_for(config, quarter), margin
    )
    return Snapshot(
        quarter.label, model, spend, withheld, engine, name, predicted, margin, errors, rejected
    )


def score_base(
    engine: queries.DataEngine,
    summary: str,
    name: str,
    models: tuple[FittedModel, SpendModel | None],
    histories: pd.DataFrame,
    horizon: Horizon,
    margin: float | None,
) -> tuple[pd.DataFrame, dict[str, float] | None]:
    """Score every customer of the engine's customer summary `summary` as table `name`
    (scores.keep_scores) with the purchase and spend models, from its distinct `histories`
    (scores.histories). Returns the histories' predictions with their customers (`weight`)
    and the standard errors of the CLV figures (None without a spend model or covariance)."""
    model, spend = models
    predicted = history_predictions(model, histories, horizon)
    terms = None if spend is None else spend_terms(spend, histories["frequency"], margin)
    scores.keep_scores(engine, name, summary, predicted, terms)
    predicted = predicted.assign(weight=histories["weight"].to_numpy())
    errors = (
        None if spend is None else _clv_errors(engine, name, predicted, models, horizon, margin)
    )
    return predicted, errors


def _clv_errors(
    engine: queries.DataEngine,
    name: str,
    histories: pd.DataFrame,
    models: tuple[FittedModel, SpendModel],
    horizon: Horizon,
    margin: float | None,
) -> dict[str, float] | None:
    """The standard errors of the CLV figures of scored base `name` (its `histories` with
    their customers), or None."""
    model, spend = models
    found = headline_standard_errors(
        model,
        spend,
        scores.order_value_by_history(engine, name),
        scores.purchases_by_frequency(engine, name),
        horizon,
    )
    if found is None:
        return None
    clv_se, revenue_se = found
    clv_se *= margin if margin is not None else 1.0
    return {
        "clv_total": clv_se,
        "clv_mean": clv_se / histories["weight"].sum(),
        "expected_revenue_next_quarter": revenue_se,
    }


def base_summary(
    snapshot: Snapshot, engine: queries.DataEngine, quarter: Period
) -> dict[str, float | None]:
    """Headline figures of a valued customer base, with the standard errors of its CLV
    figures (keys ending in _se)."""
    found = scores.totals(engine, snapshot.table, snapshot.has_clv)
    year_before = quarter.end - pd.DateOffset(months=12)
    figures = {
        "customers": found["customers"],
        "expected_alive": found["expected_alive"],
        "expected_buyers_horizon": found["expected_buyers_horizon"],
        "bought_last_12_months": float(queries.customers_between(engine, year_before, quarter.end)),
    }
    errors = snapshot.standard_errors or {}
    for name in CLV_FIGURES:
        figures[name] = found.get(name)
        figures[f"{name}_se"] = errors.get(name)
    return figures
