"""The report's engine-side work on hand-made pandas tables, each in a DuckDB engine of its
own: customers scored (CLV) or segmented (RFM), holdout outcomes grouped customer by customer,
and the standard errors worked customer by customer with lifetimes, for tests that compare
the report's figures with independent ones."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from helpers.data import queries, rfm, scores
from helpers.data.engines import DuckDBEngine
from helpers.models import valuation
from helpers.models.prediction import Horizon
from helpers.sections import clv
from tests.conftest import exported


def scored(
    model, spend, summary: pd.DataFrame, horizon: Horizon, margin: float | None = None
) -> tuple[pd.DataFrame, dict | None]:
    """Every customer's scores (in the summary's customer order) and the CLV figures'
    standard errors."""
    engine = DuckDBEngine({"summary": summary})
    histories = scores.histories(engine, "summary")
    _, errors = valuation.score_base(
        engine, "summary", "scored", (model, spend), histories, horizon, margin
    )
    by_customer = scores.per_customer(engine, "scored").set_index("customer_id")
    return by_customer.loc[summary["customer_id"]].reset_index(), errors


def predict_customers(model, spend, summary, horizon, margin=None) -> pd.DataFrame:
    """Every customer's scores, as scored."""
    return scored(model, spend, summary, horizon, margin)[0]


def export_of(section) -> pd.DataFrame:
    """The CLV section's CRM table, as written."""
    return exported(clv.customer_export(section))


def lifetimes_standard_errors(model, spend, summary: pd.DataFrame, horizon: Horizon) -> np.ndarray:
    """Standard errors of (total CLV in revenue, expected revenue next quarter) by the delta
    method computed customer by customer with lifetimes' own functions (customer_lifetime_value
    and conditional_expected_number_of_purchases_up_to_time): what the report's aggregated
    computation must equal."""
    f, r, T, m = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))
    freq = {"weeks": "W", "days": "D"}[horizon.unit]

    def totals(purchase_fitter, spend_fitter) -> np.ndarray:
        with np.errstate(divide="ignore"):  # lifetimes' log(0) for histories without repeats
            return _totals(purchase_fitter, spend_fitter)

    def _totals(purchase_fitter, spend_fitter) -> np.ndarray:
        clv = spend_fitter.customer_lifetime_value(
            purchase_fitter,
            f,
            r,
            T,
            m,
            time=horizon.months,
            discount_rate=horizon.monthly_discount,
            freq=freq,
        )
        order_value = spend_fitter.conditional_expected_average_profit(f, m)
        purchases = purchase_fitter.conditional_expected_number_of_purchases_up_to_time(
            horizon.next_quarter, f, r, T
        )
        return np.array([clv.sum(), (order_value * purchases).sum()])

    step = 1e-4
    jacobians = []
    for which, estimate in enumerate((model.estimate, spend.estimate)):
        at_fit = totals(model.fitter, spend.fitter)
        log_params = np.log(estimate.fitter.params_.to_numpy())
        columns = []
        for e in np.eye(len(log_params)):
            moved = copy.copy(estimate.fitter)
            moved.params_ = pd.Series(
                np.exp(log_params + step * e), index=estimate.fitter.params_.index
            )
            if which == 0:  # customer_lifetime_value calls predict, bound to the original
                moved.predict = moved.conditional_expected_number_of_purchases_up_to_time
            fitters = (moved, spend.fitter) if which == 0 else (model.fitter, moved)
            columns.append((totals(*fitters) - at_fit) / step)
        jacobian = np.array(columns).T
        jacobians.append(jacobian @ estimate.covariance @ jacobian.T)
    return np.sqrt(np.diag(sum(jacobians)))


def purchase_days_between(engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every customer's purchase days and mean value per purchase day in [start, end)."""
    return engine.sql(f"{queries.purchase_days_sql()} ORDER BY 1", [start, end])


def outcomes_of(calibration: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Calibration customers by history and holdout purchases (`actual`, 0 for customers not
    in `actual`), with their number (`weight`): what the holdout check is computed from."""
    purchases = calibration["customer_id"].map(actual.set_index("customer_id")["purchases"])
    return (
        calibration.assign(actual=purchases.fillna(0.0).astype(float))
        .groupby(["frequency", "recency", "T", "actual"], sort=True)
        .size()
        .rename("weight")
        .reset_index()
    )


def spend_outcomes_of(calibration: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Per frequency, the calibration's repeat buyers with a positive mean spend who bought in
    the holdout: how many, the sum of their mean spend and of their holdout value per
    purchase day."""
    repeat = calibration[(calibration["frequency"] > 0) & (calibration["monetary_value"] > 0)]
    bought = repeat.merge(actual[actual["purchases"] > 0], on="customer_id")
    return (
        bought.groupby("frequency", sort=True)
        .agg(
            customers=("customer_id", "size"),
            monetary_value=("monetary_value", "sum"),
            value=("value", "sum"),
        )
        .reset_index()
    )


def segmented(customers: pd.DataFrame, bins: int = 5, scheme=None) -> pd.DataFrame:
    """Hand-made RFM inputs scored and segmented in an engine, as the report does."""
    from helpers.sections import segments

    engine = DuckDBEngine({"inputs": customers.assign(window_revenue=0.0)})
    segments.segment_customers(engine, "segmented", "inputs", bins, scheme or segments.RF_MAP)
    return rfm.per_customer(engine, "segmented")


def migrated(previous: pd.DataFrame, current: pd.DataFrame, scheme=None):
    """segments.migration of hand-made segments before and now, their transitions counted in
    an engine."""
    from helpers.sections import segments

    engine = DuckDBEngine(
        {
            "now": current.assign(segment=current["segment"].astype(str)),
            "before": previous.assign(segment=previous["segment"].astype(str)),
        }
    )
    return segments.migration(rfm.transitions(engine, "now", "before"), scheme or segments.RF_MAP)


def segment_table_of(scored: pd.DataFrame, scheme=None) -> pd.DataFrame:
    """segments.segment_table of hand-made segmented customers, summed in an engine."""
    from helpers.sections import segments

    engine = DuckDBEngine({"segmented": scored.assign(segment=scored["segment"].astype(str))})
    return segments.segment_table(rfm.segment_sums(engine, "segmented"), scheme or segments.RF_MAP)
