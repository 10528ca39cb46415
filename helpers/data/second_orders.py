"""Every customer's first order and the days to their second, kept in the engine, and what the
repurchase section shows of them, aggregated there: no pandas table with a row per customer
(10M rows with two text columns at 10M customers).

A customer orders again within w days when the second order is at most w days after the
first; a customer without a second order does not. Customers acquired w days or more before a
date had the full window by then."""

from __future__ import annotations

import pandas as pd

from helpers.core.periods import Period
from helpers.data.engines import DataEngine
from helpers.data.queries import second_orders_sql

_AGAIN = "CAST(CASE WHEN days_to_second <= ? THEN 1 ELSE 0 END AS DOUBLE)"  # NULL: not again


def keep(engine: DataEngine, name: str, end: pd.Timestamp) -> None:
    """queries.second_orders_sql at `end`, kept in the engine as table `name`."""
    engine.keep(name, *second_orders_sql(engine, end))


def shares(engine: DataEngine, name: str, at: pd.Timestamp, windows: list[int]) -> pd.DataFrame:
    """Per window (window_days): the customers acquired at least that many days before `at`
    and the share of them who ordered again within it (NaN without any); one scan for all."""
    acquired = "WHERE first_ts <= ?"
    figures, params = [], []
    for window in windows:
        acquired_by = at - pd.Timedelta(days=window)
        figures += [f"count(*) FILTER ({acquired})", f"avg({_AGAIN}) FILTER ({acquired})"]
        params += [acquired_by, window, acquired_by]
    found = engine.first_row(f"SELECT {', '.join(figures)} FROM {name}", params)
    return pd.DataFrame(
        {
            "window_days": list(windows),
            "customers": [int(n) for n in found[::2]],
            "share": [float("nan") if pd.isna(v) else float(v) for v in found[1::2]],
        }
    )


def days_by_channel(engine: DataEngine, name: str) -> pd.DataFrame | None:
    """Per acquisition channel, the customers who ordered again (repeat_customers) and their
    median days to it; None when no such customer has a known channel."""
    table = engine.sql(
        f"""SELECT acquisition_channel, count(*) AS repeat_customers,
               median(days_to_second) AS median_days
        FROM {name} WHERE days_to_second IS NOT NULL AND acquisition_channel IS NOT NULL
        GROUP BY 1 ORDER BY 1"""
    )
    return table if len(table) else None


def cohort_rate(
    engine: DataEngine, name: str, cohort: Period, window: int
) -> tuple[int, float | None]:
    """New customers acquired in `cohort` and the share ordering again within `window` days
    (None without new customers). `name` must be kept at an end at least `window` days after
    the cohort's, so that every second order within the window is in it."""
    customers, share = engine.first_row(
        f"SELECT count(*), avg({_AGAIN}) FROM {name} WHERE first_ts >= ? AND first_ts < ?",
        [window, cohort.start, cohort.end],
    )
    return int(customers), None if not customers else float(share)
