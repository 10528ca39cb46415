"""The customer base valued at a quarter's end: purchase and spend models fitted on all history
before it, every customer's predictions and CLV at that quarter's own gross margin rate, and
the standard errors of the CLV figures. A spend model that cannot be fitted soundly leaves the
CLV out and says why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.errors import Reason
from helpers.core.periods import Period, next_quarter
from helpers.data import queries
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
    monthly_rate,
    predict_customers,
)

CLV_FIGURES = ("clv_mean", "clv_total", "expected_revenue_next_quarter")
BASE_FIGURES = [
    "customers",
    "expected_alive",
    "expected_buyers_horizon",
    "bought_last_12_months",
    *(f"{name}{suffix}" for name in CLV_FIGURES for suffix in ("", "_se")),
]


@dataclass
class Snapshot:
    """The customer base valued at one quarter's end. Without a sound spend model, `spend` is
    None, the predictions carry no CLV and `spend_withheld` says why."""

    quarter: str
    model: FittedModel
    spend: SpendModel | None
    spend_withheld: Reason | None
    predictions: pd.DataFrame
    margin_rate: float | None
    standard_errors: dict[str, float] | None  # of the CLV figures, None when unavailable
    rejected_margin_rate: float | None = None  # from the costs, but at or below 0: not used

    @property
    def has_clv(self) -> bool:
        return self.spend is not None


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


def value_snapshot(
    engine: queries.DataEngine,
    config: Config,
    quarter: Period,
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
        spend, withheld = try_spend_model(summary, params.spend_penalty)
    else:
        summary, model, spend, withheld = fitted
    margin, rejected = margin_rates(engine, quarter.end)
    horizon = horizon_for(config, quarter)
    predictions = predict_customers(model, spend, summary, horizon, margin)
    at_fit = predictions.pop("discounted_purchases").to_numpy()
    errors = None
    if spend is not None:
        # pragma: no mutate start (at_fit only spares recomputing the same purchases)
        purchases = np.column_stack([at_fit, predictions["expected_purchases_next_quarter"]])
        found = headline_standard_errors(model, spend, summary, horizon, purchases)
        # pragma: no mutate end
        if found is not None:
            clv_se, revenue_se = found
            clv_se *= margin if margin is not None else 1.0
            errors = {
                "clv_total": clv_se,
                "clv_mean": clv_se / len(summary),
                "expected_revenue_next_quarter": revenue_se,
            }
    return Snapshot(quarter.label, model, spend, withheld, predictions, margin, errors, rejected)


def base_summary(
    snapshot: Snapshot, engine: queries.DataEngine, quarter: Period
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
