"""Every customer's histories, holdout outcomes and scores, held in the engine: a customer
summary (kept by queries.keep_customer_summary) grouped into what the models are fitted and
checked on, joined with the predictions of the distinct (frequency, recency, T) histories its
customers share and the spend model's terms, and the tables the CLV section shows, aggregated
where the customers are. Nothing here builds a pandas table with a row per customer, except
`per_customer` (for tests and interactive use) and `repeat_spend` (two numbers per repeat
customer, what the spend model is fitted on); `export` has the engine write them all.

Customers are ranked by CLV, highest first, ties in customer order: a customer's rank share is
that position over the number of customers (pandas' rank(method="first") / n), and their tier
the first of the rank-share bounds it is at or below.

`# pragma: no mutate (SQL case)`: as in helpers.data.queries.
"""

from __future__ import annotations

import pandas as pd

from helpers.data.engines import DataEngine
from helpers.data.exports import CustomerExport
from helpers.data.queries import purchase_days_sql

HISTORY = ["frequency", "recency", "T"]
HISTORY_PREDICTIONS = [
    "expected_purchases_next_quarter",
    "expected_purchases_horizon",
    "discounted_purchases",
    "p_alive",
    "p_order_horizon",
]
SPEND_TERMS = ["frequency", "order_value_base", "order_value_slope", "margin"]


def histories(engine: DataEngine, summary: str) -> pd.DataFrame:
    """The distinct (frequency, recency, T) rows of a kept summary, with their customers
    (`weight`), in sorted order."""
    return engine.sql(
        f"""SELECT frequency, recency, T, count(*) AS weight FROM {summary}
        GROUP BY frequency, recency, T ORDER BY frequency, recency, T"""
    )


def repeat_spend(engine: DataEngine, summary: str) -> pd.DataFrame:
    """Frequency and mean spend (monetary_value) of the repeat customers with a positive mean
    spend: the customers the spend model is fitted on, in customer order."""
    return engine.sql(
        f"""SELECT frequency, monetary_value FROM {summary}
        WHERE frequency > 0 AND monetary_value > 0 ORDER BY customer_id"""
    )


def keep_sample(engine: DataEngine, name: str, summary: str, size: int) -> None:
    """`size` customers of a kept summary evenly spaced in customer order, kept as `name`: the
    customers at positions p (from 0) where floor((p + 1) size / n) passes a whole number.
    The same customers on every engine, unlike a random sample."""
    (customers,) = engine.first_row(f"SELECT count(*) FROM {summary}")
    engine.keep(
        name,
        f"""SELECT customer_id, frequency, recency, T, monetary_value FROM (
               SELECT *, row_number() OVER (ORDER BY customer_id) - 1 AS position FROM {summary})
        WHERE floor((position + 1) * {int(size)} / {int(customers)})
              > floor(position * {int(size)} / {int(customers)})""",
    )


def holdout_outcomes(
    engine: DataEngine, summary: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """The customers of a kept summary by history and by purchase days in [start, end)
    (`actual`, 0 for those who bought nothing), with their number (`weight`)."""
    return engine.sql(
        f"""WITH holdout AS ({purchase_days_sql()})
        SELECT s.frequency, s.recency, s.T, coalesce(h.purchases, 0)::DOUBLE AS actual,
               count(*) AS weight
        FROM {summary} s LEFT JOIN holdout h ON h.customer_id = s.customer_id
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
        [start, end],
    )


def holdout_spend(
    engine: DataEngine, summary: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Per frequency, the summary's repeat customers with a positive mean spend who bought in
    [start, end): how many, the sum of their mean spend (monetary_value) and of their mean
    value per purchase day there (value)."""
    return engine.sql(
        f"""WITH holdout AS ({purchase_days_sql()})
        SELECT s.frequency, count(*) AS customers, sum(s.monetary_value) AS monetary_value,
               sum(h.value) AS value
        FROM {summary} s JOIN holdout h ON h.customer_id = s.customer_id
        WHERE s.frequency > 0 AND s.monetary_value > 0 AND h.purchases > 0
        GROUP BY 1 ORDER BY 1""",
        [start, end],
    )


def keep_scores(
    engine: DataEngine,
    name: str,
    summary: str,
    predictions: pd.DataFrame,
    spend_terms: pd.DataFrame | None,
) -> None:
    """Every customer of `summary` with their history's `predictions` (HISTORY and
    HISTORY_PREDICTIONS columns) under `name`; with `spend_terms` (SPEND_TERMS, one row per
    frequency) also expected_order_value = base + slope * monetary_value, expected revenue next
    quarter and clv = order value x discounted purchases x margin. A view: computed when read."""
    engine.register(f"{name}_histories", predictions[HISTORY + HISTORY_PREDICTIONS])
    columns = ", ".join(f"h.{c}" for c in HISTORY_PREDICTIONS)
    same_history = " AND ".join(f"h.{c} = s.{c}" for c in HISTORY)  # pragma: no mutate (SQL case)
    joins = f"JOIN {name}_histories h ON {same_history}"  # not USING: Spark puts keys first
    if spend_terms is not None:
        engine.register(f"{name}_spend", spend_terms[SPEND_TERMS])
        joins += f" JOIN {name}_spend g ON g.frequency = s.frequency"
        # SQL case, as the module's docstring says
        value = "(g.order_value_base + g.order_value_slope * s.monetary_value)"  # pragma: no mutate
        columns += f""", {value} AS expected_order_value,
            h.expected_purchases_next_quarter * {value} AS expected_revenue_next_quarter,
            {value} * h.discounted_purchases * g.margin AS clv"""
    query = f"SELECT s.*, {columns} FROM {summary} s {joins}"
    engine.keep(name, query, stored=False)  # pragma: no mutate (view or table: same rows)


def per_customer(engine: DataEngine, name: str) -> pd.DataFrame:
    """Every customer's scores as one pandas table, in customer order (small bases only)."""
    return engine.sql(f"SELECT * FROM {name} ORDER BY customer_id")


def totals(engine: DataEngine, name: str, with_clv: bool) -> dict[str, float]:
    """customers, expected_alive, expected_buyers_horizon and, `with_clv`, clv_total,
    clv_mean and expected_revenue_next_quarter of a scored base."""
    clv = (
        ", sum(clv) AS clv_total, avg(clv) AS clv_mean, "  # pragma: no mutate (SQL case)
        "sum(expected_revenue_next_quarter) "  # pragma: no mutate (SQL case)
        "AS expected_revenue_next_quarter"  # pragma: no mutate (SQL case)
        if with_clv
        else ""
    )
    found = engine.sql(
        f"""SELECT count(*)::DOUBLE AS customers, sum(p_alive) AS expected_alive,
               sum(p_order_horizon) AS expected_buyers_horizon{clv}
        FROM {name}"""
    )
    return {column: float(value) for column, value in found.iloc[0].items()}


def last_positions(customers: int, bounds: list[float]) -> list[int]:
    """For each rank-share bound, the last position (from 1) whose share position / customers
    is at or below it, in the same floating-point arithmetic as the comparison itself."""
    found = []
    for bound in bounds:
        k = int(bound * customers)  # pragma: no mutate (a start the loops correct: only speed)
        while k < customers and (k + 1) / customers <= bound:
            k += 1  # pragma: no mutate (a step of 2 overshoots by one: the loop below undoes it)
        # pragma: no mutate block (a guard no test reaches: floor(bound x customers) has not been
        # seen to overshoot, for any bound and up to 20M customers for the tiers' bounds)
        while k > 0 and k / customers > bound:
            k -= 1
        found.append(k)
    return found


def _tier_sql(engine: DataEngine, name: str, bounds: list[float]) -> tuple[str, list]:
    """SQL for each customer's 0-based tier (the first rank-share bound its share is at or
    below) and its parameters: the customer at each bound's last position is found once (a
    window over CLV and ids only); a customer is in that tier or a better one when ranked at
    or ahead of it (a higher CLV, or the same CLV and an id not after it). No window over
    every column, no sort of every customer."""
    (customers,) = engine.first_row(f"SELECT count(*) FROM {name}")
    positions = last_positions(int(customers), bounds)
    wanted = ", ".join(map(str, positions))  # an empty tier's position, 0, is no row's
    edges = engine.sql(
        f"""SELECT position, clv, customer_id FROM (
               SELECT clv, customer_id,
                      row_number() OVER (ORDER BY clv DESC, customer_id) AS position
               FROM {name})
        WHERE position IN ({wanted})"""
    ).set_index("position")
    cases, params = [], []
    for tier, k in enumerate(positions):
        if k > 0:
            cases.append(f"WHEN clv > ? OR (clv = ? AND customer_id <= ?) THEN {tier}")
            clv, customer = edges.loc[k, "clv"], edges.loc[k, "customer_id"]
            params += [float(clv), float(clv), customer]
    if not cases:  # too few customers for any bounded tier: all in the last
        return str(len(bounds)), []
    return f"CASE {' '.join(cases)} ELSE {len(bounds)} END", params


def tiers(engine: DataEngine, name: str, bounds: list[float]) -> pd.DataFrame:
    """Per CLV tier that has customers (tier: 0-based, cut at the rank-share `bounds`):
    customers, total and mean CLV, mean P(alive) and mean frequency."""
    tier, params = _tier_sql(engine, name, bounds)
    return engine.sql(
        f"""SELECT {tier} AS tier, count(*) AS customers,
               sum(clv) AS clv_total, avg(clv) AS clv_mean, avg(p_alive) AS p_alive,
               avg(frequency) AS frequency
        FROM {name} GROUP BY 1 ORDER BY 1""",
        params,
    )


def clv_by(engine: DataEngine, name: str, column: str) -> pd.DataFrame:
    """Customers, mean and total CLV and mean P(alive) per known value of `column`."""
    return engine.sql(
        f"""SELECT {column}, count(*) AS customers, avg(clv) AS clv_mean,
               sum(clv) AS clv_total, avg(p_alive) AS p_alive
        FROM {name} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1"""
    )


def new_by_channel(engine: DataEngine, name: str, quarters: list[str]) -> pd.DataFrame:
    """Per acquisition channel, the customers first seen in `quarters`: how many, their mean
    CLV and the mean value of their first purchase day."""
    wanted = ", ".join("?" for _ in quarters)
    return engine.sql(
        f"""SELECT acquisition_channel, count(*) AS new_customers, avg(clv) AS new_clv_mean,
               avg(first_day_value) AS new_first_value_mean
        FROM {name}
        WHERE acquisition_channel IS NOT NULL AND first_quarter IN ({wanted})
        GROUP BY 1 ORDER BY 1""",
        list(quarters),
    )


def has_values(engine: DataEngine, name: str, column: str) -> bool:
    """Whether any customer has a value in `column`."""
    (count,) = engine.first_row(f"SELECT count({column}) FROM {name}")
    return count > 0


def order_value_by_history(engine: DataEngine, name: str) -> pd.DataFrame:
    """Per distinct history, the sum of its customers' expected order values (`order_value`)."""
    return engine.sql(
        f"""SELECT frequency, recency, T, sum(expected_order_value) AS order_value
        FROM {name} GROUP BY frequency, recency, T ORDER BY frequency, recency, T"""
    )


def purchases_by_frequency(engine: DataEngine, name: str) -> pd.DataFrame:
    """Per frequency, the sums of the customers' discounted purchases and expected purchases
    next quarter, plain and times their mean spend (`_spend`)."""
    return engine.sql(
        f"""SELECT frequency, sum(discounted_purchases) AS discounted,
               sum(expected_purchases_next_quarter) AS next_quarter,
               sum(monetary_value * discounted_purchases) AS discounted_spend,
               sum(monetary_value * expected_purchases_next_quarter) AS next_quarter_spend
        FROM {name} GROUP BY frequency ORDER BY frequency"""
    )


def export(
    engine: DataEngine, name: str, tier_bounds: list[float] | None, tier_names: list[str]
) -> CustomerExport:
    """Every customer's scores, in customer order; with `tier_bounds`, each customer's CLV
    tier too (column clv_tier: its name from `tier_names`, one more than the bounds)."""
    if tier_bounds is None:
        return CustomerExport(engine, name)
    tier, params = _tier_sql(engine, name, tier_bounds)
    named = " ".join(f"WHEN {number} THEN ?" for number in range(len(tier_names)))
    return CustomerExport(
        engine, name, f"*, CASE ({tier}) {named} END AS clv_tier", [*params, *tier_names]
    )


def release(engine: DataEngine, name: str, summary: str) -> None:
    """Drop scored base `name`, what it was built from and its customer summary."""
    for table in (name, f"{name}_histories", f"{name}_spend", summary):
        engine.forget(table)
