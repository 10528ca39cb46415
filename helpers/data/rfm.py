"""Every customer's RFM scores and segment, kept in the engine, and the tables the repurchase
section shows, aggregated there (sections.segments says what the scores and segments mean).
Nothing here builds a pandas table with a row per customer, except `per_customer` (small
bases); `export` has the engine write them."""

from __future__ import annotations

import pandas as pd

from helpers.data.engines import DataEngine
from helpers.data.exports import CustomerExport
from helpers.data.queries import rfm_inputs_sql


def keep_inputs(
    engine: DataEngine, name: str, end: pd.Timestamp, window_start: pd.Timestamp
) -> None:
    """queries.rfm_inputs, kept in the engine as table `name`."""
    engine.keep(name, *rfm_inputs_sql(engine, end, window_start))


# each score's column, and whether its higher values are the better ones
SCORED = {
    "r_score": ("recency_days", False),
    "f_score": ("orders", True),
    "m_score": ("revenue", True),
}


def _scored(inputs: str, bins: int) -> str:
    """SQL for every customer of `inputs` with r_score, f_score and m_score: 1..bins from the
    percentile rank, ties sharing the lowest rank (SQL's rank()), the worst values first. Each
    rank is found once per distinct value (the customers before it, plus one) and joined back:
    no sort of every customer (with three of them, repurchase peaked at 4.4 GB instead of 3.2
    at 10M customers). The inputs hold no NULL (every customer has an order)."""
    ranks, joins, scores = [], [], []
    for score, (column, higher_is_better) in SCORED.items():
        worst_first = "ASC" if higher_is_better else "DESC"  # pragma: no mutate (SQL case)
        ranks.append(
            f"""{score}_ranks AS (
                SELECT {column}, sum(count(*)) OVER (ORDER BY {column} {worst_first})
                                 - count(*) + 1 AS position
                FROM {inputs} GROUP BY {column})"""
        )
        joins.append(f"JOIN {score}_ranks ON {score}_ranks.{column} = i.{column}")
        scores.append(
            f"ceil({score}_ranks.position::DOUBLE / n.customers * {int(bins)})::BIGINT AS {score}"
        )
    return f"""WITH n AS (SELECT count(*) AS customers FROM {inputs}), {", ".join(ranks)}
        SELECT i.*, {", ".join(scores)} FROM {inputs} i {" ".join(joins)} CROSS JOIN n"""


def keep_segments(
    engine: DataEngine, name: str, inputs: str, bins: int, grid: pd.DataFrame | None
) -> None:
    """Every customer of kept RFM `inputs` with r_score, f_score, m_score (1..bins) and their
    segment, kept as `name`: from `grid` (columns r, f on 1-5 and segment: the R x F map,
    scores rescaled to 1-5 by ceil(score x 5 / bins)) or, without it, the value matrix
    (importance and kind against the base's means, `<important|general>_<kind>`)."""
    scored = _scored(inputs, bins)
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


def export(engine: DataEngine, name: str) -> CustomerExport:
    """Every customer's RFM inputs, scores and segment, in customer order."""
    return CustomerExport(engine, name)


def per_customer(engine: DataEngine, name: str) -> pd.DataFrame:
    """Every customer's RFM inputs, scores and segment as one pandas table (small bases)."""
    return engine.sql(f"SELECT * FROM {name} ORDER BY customer_id")
