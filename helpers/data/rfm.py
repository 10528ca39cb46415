"""Every customer's RFM scores and segment, kept in the engine, and the tables the repurchase
section shows, aggregated there (sections.segments says what the scores and segments mean).
Nothing here builds a pandas table with a row per customer, except `batches`."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from helpers.data.engines import DataEngine
from helpers.data.queries import in_customer_order, rfm_inputs_sql

# the column each score ranks (here, not in a function: SQL names, whose case mutants would
# change nothing)
SCORED = {"r_score": "recency_days", "f_score": "orders", "m_score": "revenue"}


def keep_inputs(
    engine: DataEngine, name: str, end: pd.Timestamp, window_start: pd.Timestamp
) -> None:
    """queries.rfm_inputs, kept in the engine as table `name`."""
    engine.keep(name, *rfm_inputs_sql(engine, end, window_start))


def _score(column: str, bins: int, higher_is_better: bool) -> str:
    """Score 1..bins from the percentile rank, ties sharing the lowest rank (SQL's rank()),
    the worst values first."""
    worst_first = "ASC" if higher_is_better else "DESC"  # pragma: no mutate (SQL case)
    return (
        f"ceil(rank() OVER (ORDER BY {column} {worst_first})::DOUBLE / count(*) OVER () "
        f"* {int(bins)})::BIGINT"
    )


def keep_segments(
    engine: DataEngine, name: str, inputs: str, bins: int, grid: pd.DataFrame | None
) -> None:
    """Every customer of kept RFM `inputs` with r_score, f_score, m_score (1..bins) and their
    segment, kept as `name`: from `grid` (columns r, f on 1-5 and segment: the R x F map,
    scores rescaled to 1-5 by ceil(score x 5 / bins)) or, without it, the value matrix
    (importance and kind against the base's means, `<important|general>_<kind>`)."""
    higher_is_better = {"r_score": False, "f_score": True, "m_score": True}
    scores = ", ".join(
        f"{_score(SCORED[score], bins, better)} AS {score}"
        for score, better in higher_is_better.items()
    )
    scored = f"SELECT *, {scores} FROM {inputs}"
    if grid is not None:
        engine.register(f"{name}_grid", grid[["r", "f", "segment"]])
        query = f"""SELECT s.*, g.segment FROM ({scored}) s JOIN {name}_grid g
                    ON g.r = ceil(s.r_score * 5 / {int(bins)})
                   AND g.f = ceil(s.f_score * 5 / {int(bins)})"""
    else:
        query = f"""WITH means AS (SELECT avg(recency_days) AS recency, avg(orders) AS orders,
                                          avg(revenue) AS revenue FROM {inputs})
                    SELECT s.*,
                           CASE WHEN s.revenue > m.revenue THEN 'important' ELSE 'general' END
                           || '_' ||
                           CASE WHEN s.recency_days < m.recency AND s.orders > m.orders
                                     THEN 'value'
                                WHEN s.recency_days < m.recency THEN 'development'
                                WHEN s.orders > m.orders THEN 'retention'
                                ELSE 'winback' END AS segment
                    FROM ({scored}) s CROSS JOIN means m"""
    engine.keep(name, query)


def segment_sums(engine: DataEngine, name: str) -> pd.DataFrame:
    """Per segment with customers: customers, orders, revenue to date, the window's revenue
    and mean days since the last order."""
    return engine.sql(
        f"""SELECT segment, count(*) AS customers, sum(orders) AS orders,
               sum(revenue) AS revenue, sum(window_revenue) AS window_revenue,
               avg(recency_days) AS recency_days
        FROM {name} GROUP BY 1 ORDER BY 1"""
    )


def transitions(engine: DataEngine, current: str, previous: str) -> pd.DataFrame:
    """Customers of `current` by their segment in `previous` (`before`, NULL when new there)
    and now (`now`): how many, and their window revenue."""
    return engine.sql(
        f"""SELECT p.segment AS before, c.segment AS now, count(*) AS customers,
               sum(c.window_revenue) AS revenue
        FROM {current} c LEFT JOIN {previous} p ON p.customer_id = c.customer_id
        GROUP BY 1, 2 ORDER BY 1, 2"""
    )


def batches(engine: DataEngine, name: str, rows: int) -> Iterable[pa.Table]:
    """Every customer's RFM inputs, scores and segment in customer order, `rows` at a time."""
    return in_customer_order(engine, name, rows)


def per_customer(engine: DataEngine, name: str) -> pd.DataFrame:
    """Every customer's RFM inputs, scores and segment as one pandas table (small bases)."""
    return engine.sql(f"SELECT * FROM {name} ORDER BY customer_id")
