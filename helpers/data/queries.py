"""The one data-access module: every query the report runs. All relational work lives here.

Each query is written once, in DuckDB's SQL, and runs on whichever engine it is given
(engines.py: DuckDB, or Spark through a translation of that SQL); section helpers only see
the pandas tables the functions return.

`# pragma: no mutate (SQL case)` marks SQL text whose upper- or lower-case mutants (make mutate)
are equivalent: DuckDB keywords, functions and names are case-insensitive.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa

from helpers.data.contract import CONTRACT
from helpers.data.engines import DataEngine, rechunked


def _with_periods(engine: DataEngine, periods: pd.DataFrame) -> None:
    columns = periods[["period", "quarter", "start", "end"]]
    engine.register("report_periods", columns)  # pragma: no mutate (SQL case)


FIRST_ORDERS = "first_orders"  # pragma: no mutate (SQL case)
GRAINS = ("month", "quarter", "year")


def _first_orders(engine: DataEngine) -> str:
    """The name of a table of every customer's first order time (customer_id, first_ts), kept
    in the engine by the first query that needs it: at 10M customers each recomputation
    scanned every order again (4 s), and the index page's KPIs and targets needed it 6 times."""
    if not engine.has(FIRST_ORDERS):  # pragma: no mutate (keeping it again gives the same table)
        # pragma: no mutate block (SQL case)
        engine.keep(
            FIRST_ORDERS, "SELECT customer_id, min(order_ts) AS first_ts FROM orders GROUP BY 1"
        )
    return FIRST_ORDERS


def sums_by_period(
    engine: DataEngine, table: str, periods: pd.DataFrame, by: list[str] | tuple = ()
) -> pd.DataFrame:
    """Sum of every numeric contract column present in a daily table (traffic, marketing), per
    compared period and the `by` dimensions: columns period, quarter, *by, and the sums."""
    numeric = [c for c, kind in CONTRACT[table].columns.items() if kind == "number"]
    present = [c for c in numeric if c in engine.columns(table)]
    dims = "".join(f", t.{d}" for d in by)
    sums = ", ".join(f"sum(t.{c})::DOUBLE AS {c}" for c in present)
    _with_periods(engine, periods)
    return engine.sql(f"""
        SELECT p.period, p.quarter{dims}, {sums}
        FROM {table} t JOIN report_periods p ON t.date >= p.start AND t.date < p."end"
        GROUP BY ALL ORDER BY ALL""")


def traffic_by_period(
    engine: DataEngine, periods: pd.DataFrame, by: list[str] | tuple = ()
) -> pd.DataFrame:
    """Every traffic measure summed per compared period (x by)."""
    return sums_by_period(engine, "traffic", periods, by)


def traffic_weekly(
    engine: DataEngine,
    start: pd.Timestamp,
    end: pd.Timestamp,
    by: str = "channel",  # pragma: no mutate (SQL case)
) -> pd.DataFrame:
    """Weekly (Monday-start) sessions, orders and revenue per `by` between start and end.

    Only complete weeks (seven days of data) are returned, so no partial week looks like a drop.
    """
    present = [c for c in ("sessions", "orders", "revenue") if c in engine.columns("traffic")]
    sums = ", ".join(f"sum({c})::DOUBLE AS {c}" for c in present)
    return engine.sql(
        f"""
        SELECT date_trunc('week', date) AS week, {by}, {sums}
        FROM traffic WHERE date >= ? AND date < ?
        GROUP BY ALL HAVING count(DISTINCT date) = 7 ORDER BY ALL""",
        [start, end],
    )


def orders_by_period(
    engine: DataEngine, periods: pd.DataFrame, by: list[str] | tuple = ()
) -> pd.DataFrame:
    """Orders, net revenue, cost, customers and new customers per compared period (x by).

    A new customer is one whose first valid order ever falls in the period. Orders are first
    summed per customer, so customers are counted rows, not distinct counts (Spark runs two
    distinct counts as two more passes over every order).
    """
    dims = "".join(f", o.{d}" for d in by)
    names = "".join(f", {d}" for d in by)
    cost = _summed_cost(engine)
    _with_periods(engine, periods)
    firsts = _first_orders(engine)
    return engine.sql(f"""
        WITH per_customer AS (
            SELECT p.period, p.quarter{dims}, p.start, p."end", o.customer_id, count(*) AS orders,
                   sum(o.net_revenue) AS net_revenue, {cost}::DOUBLE AS cost
            FROM orders o JOIN report_periods p ON o.order_ts >= p.start AND o.order_ts < p."end"
            GROUP BY ALL)
        SELECT c.period, c.quarter{names},
               sum(c.orders)::DOUBLE AS orders,
               sum(c.net_revenue)::DOUBLE AS net_revenue,
               sum(c.cost)::DOUBLE AS cost,
               count(*)::DOUBLE AS customers,
               count(*) FILTER (WHERE f.first_ts >= c.start AND f.first_ts < c."end")::DOUBLE
                   AS new_customers
        FROM per_customer c JOIN {firsts} f USING (customer_id)
        GROUP BY c.period, c.quarter{names} ORDER BY ALL""")


def _summed_cost(engine: DataEngine) -> str:
    """SQL for the orders' summed cost (`o` the orders), NULL without a cost column."""
    found = "cost" in engine.columns("orders")
    return "sum(o.cost)" if found else "NULL"  # pragma: no mutate (SQL case)


def _first_order_channel(engine: DataEngine) -> str:
    """SQL aggregate for the channel of the earliest order (NULL when orders have none)."""
    found = "channel" in engine.columns("orders")
    return "arg_min(channel, order_ts)" if found else "NULL"  # pragma: no mutate (SQL case)


def customer_summary(
    engine: DataEngine,
    end: pd.Timestamp,
    unit_days: float,
    origins: bool = False,
) -> pd.DataFrame:
    """RFM summary of every customer with an order before `end`, as lifetimes defines it.

    Orders on the same day are merged (values summed). frequency = purchase days - 1;
    recency = days from first to last purchase day; T = days from first purchase day to the
    last day before `end`; both divided by `unit_days` (7 for weeks). monetary_value = mean value
    of the repeat purchase days (0 without repeats), summed as decimals to 4 places so that the
    result does not depend on the order DuckDB's threads add in. Identical to
    `lifetimes.utils.summary_data_from_transaction_data(freq="D", freq_multiplier=unit_days)`.
    With `origins`, also first_order_ts, first_quarter (e.g. 2025Q3), acquisition_channel
    (the first order's; NULL without a channel column) and first_day_value (the first
    purchase day's value), in the same pass.
    """
    query, params = _customer_summary_sql(engine, end, unit_days, origins)
    return engine.sql(f"{query} ORDER BY customer_id", params)


def keep_customer_summary(
    engine: DataEngine, name: str, end: pd.Timestamp, unit_days: float, origins: bool
) -> None:
    """customer_summary, kept in the engine as table `name` (a row per customer stays there)."""
    engine.keep(name, *_customer_summary_sql(engine, end, unit_days, origins))


CUSTOMER_SUMMARIES = "customer_summaries"  # pragma: no mutate (SQL case)


def keep_customer_summaries(
    engine: DataEngine, ends: dict[str, pd.Timestamp], unit_days: float, origins: str
) -> None:
    """keep_customer_summary at several ends from one pass over the orders (at 10M customers
    16 s, against 37 s for three passes): table CUSTOMER_SUMMARIES holds _per_end_sql's
    figures for every end, and each name in `ends` is a view of it, `origins` the one with
    the origins columns. Drop them with forget_customer_summaries."""
    engine.keep(CUSTOMER_SUMMARIES, *_per_end_sql(engine, list(ends.values())))
    for i, (name, end) in enumerate(ends.items()):
        columns = _summary_columns(i, end, unit_days, name == origins)
        query = f"SELECT {columns} FROM {CUSTOMER_SUMMARIES} WHERE days_{i} > 0"
        engine.keep(name, query, stored=False)  # pragma: no mutate (view or table: same rows)


def forget_customer_summaries(engine: DataEngine, names: list[str]) -> None:
    """Drop what keep_customer_summaries kept under `names`, and the table under them."""
    for name in [*names, CUSTOMER_SUMMARIES]:
        engine.forget(name)


def _customer_summary_sql(
    engine: DataEngine, end: pd.Timestamp, unit_days: float, origins: bool
) -> tuple[str, list]:
    query, params = _per_end_sql(engine, [end])
    columns = _summary_columns(0, end, unit_days, origins)
    return f"SELECT {columns} FROM ({query}) AS per_end", params


def _per_end_sql(engine: DataEngine, ends: list[pd.Timestamp]) -> tuple[str, list]:
    """SQL (and its parameters) for every customer with an order before the latest of `ends`:
    first purchase day, its value (first_purchase_value), first order time and channel, and
    per end i the purchase days (days_i), last purchase day (last_day_i) and total net
    revenue (total_i) before it. A day's orders are merged, their values summed as decimals to 4
    places, so that no figure depends on the order DuckDB's threads add in."""
    per_end = ", ".join(
        f"""count(*) FILTER (WHERE day < ?)::INTEGER AS days_{i},
            max(day) FILTER (WHERE day < ?) AS last_day_{i},
            sum(value) FILTER (WHERE day < ?)::DECIMAL(18, 4) AS total_{i}"""
        for i in range(len(ends))
    )
    query = f"""
        WITH days AS (
            SELECT customer_id, order_ts::DATE AS day, sum(net_revenue::DECIMAL(18, 4)) AS value,
                   min(order_ts) AS first_ts, {_first_order_channel(engine)} AS first_channel
            FROM orders WHERE order_ts < ? GROUP BY 1, 2)
        SELECT customer_id, min(day) AS first_day, arg_min(value, day) AS first_purchase_value,
               min(first_ts) AS first_order_ts,
               arg_min(first_channel, day) AS acquisition_channel, {per_end}
        FROM days GROUP BY customer_id"""
    return query, [max(ends), *(end.date() for end in ends for _ in range(3))]


def _summary_columns(i: int, end: pd.Timestamp, unit_days: float, origins: bool) -> str:
    """customer_summary's columns from _per_end_sql's figures at its `i`-th end, `end`:
    frequency = purchase days - 1; recency = days from first to last purchase day; T = days
    from the first purchase day to the last day before `end`, both in units of `unit_days`;
    monetary_value = mean value of the repeat days ((total - first day's) / repeat days, 0
    without repeats); with `origins`, the first order's time, quarter, channel and value."""
    unit = f"{float(unit_days)!r}::DOUBLE"
    last_day = (end - pd.Timedelta(days=1)).date()
    extra = (
        """, first_order_ts,
               year(first_order_ts) || 'Q' || quarter(first_order_ts) AS first_quarter,
               acquisition_channel, first_purchase_value::DOUBLE AS first_day_value"""
        if origins
        else ""
    )
    return f"""customer_id, (days_{i} - 1)::DOUBLE AS frequency,
               date_diff('day', first_day, last_day_{i}) / {unit} AS recency,
               date_diff('day', first_day, DATE '{last_day}') / {unit} AS T,
               coalesce((total_{i} - first_purchase_value)::DOUBLE / nullif(days_{i} - 1, 0), 0)
                   AS monetary_value{extra}"""


def purchase_days_sql() -> str:
    """Per customer: distinct purchase days in [start, end) (lifetimes' holdout frequency)
    and the mean net revenue per purchase day (value); SQL taking `start` and `end` as
    parameters, for use in a larger query."""
    days = "count(DISTINCT order_ts::DATE)"  # pragma: no mutate (SQL case)
    return f"""
        SELECT customer_id, {days}::DOUBLE AS purchases,
               (sum(net_revenue) / {days})::DOUBLE AS value
        FROM orders WHERE order_ts >= ? AND order_ts < ? GROUP BY 1"""


def customers_between(engine: DataEngine, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Distinct customers with an order in [start, end)."""
    (count,) = engine.first_row(
        "SELECT count(DISTINCT customer_id) FROM orders "  # pragma: no mutate (SQL case)
        "WHERE order_ts >= ? AND order_ts < ?",  # pragma: no mutate (SQL case)
        [start, end],
    )
    return int(count)


def gross_margin_rate(engine: DataEngine, end: pd.Timestamp) -> float | None:
    """(revenue - cost) / revenue over orders before `end` with a cost; None without costs."""
    if "cost" not in engine.columns("orders"):
        return None
    revenue, cost = engine.first_row(
        """
        SELECT sum(revenue), sum(cost) FROM orders
        WHERE order_ts < ? AND cost IS NOT NULL""",
        [end],
    )
    return None if pd.isna(revenue) or not revenue else float((revenue - cost) / revenue)


def _grain(grain: str) -> str:
    if grain not in ("month", "quarter"):
        raise ValueError(f"grain must be month or quarter, not {grain!r}")
    return grain


def repurchase_by_period(engine: DataEngine, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Per month, quarter and year before `end` (keys "month", "quarter", "year"): customers,
    customers with 2+ orders in the period, and returning customers (first order before the
    period). Each grain is its own scan of the orders, joined to the customers' first orders:
    rolled up from one table of every customer's months, 10M customers took 1.9 GB more."""
    firsts = _first_orders(engine)
    grains = " UNION ALL ".join(  # pragma: no mutate (SQL case)
        f"""
        SELECT '{grain}' AS grain, c.period, count(*)::DOUBLE AS customers,
               count(*) FILTER (WHERE c.orders > 1)::DOUBLE AS repeat_customers,
               count(*) FILTER (WHERE f.first_ts < c.period)::DOUBLE AS returning_customers
        FROM (SELECT customer_id, date_trunc('{grain}', order_ts) AS period, count(*) AS orders
              FROM orders WHERE order_ts < ? GROUP BY 1, 2) c
        JOIN {firsts} f USING (customer_id)
        GROUP BY 1, 2"""
        for grain in GRAINS
    )
    both = engine.sql(f"{grains} ORDER BY 1, 2", [end] * len(GRAINS))
    return {
        grain: rows.drop(columns="grain").reset_index(drop=True)
        for grain, rows in both.groupby("grain")
    }


def cohort_activity(engine: DataEngine, grain: str, end: pd.Timestamp) -> pd.DataFrame:
    """Per acquisition cohort (month or quarter of first order) and period offset k:
    cohort size, customers ordering in period k after the first, and their net revenue.
    Orders are first rolled up per customer and period, so no distinct count; the cohort is
    the customer's first order's (a window over every customer's periods took twice as long)."""
    g = _grain(grain)
    months = 1 if g == "month" else 3
    firsts = _first_orders(engine)
    cohort = f"date_trunc('{g}', f.first_ts)"
    return engine.sql(
        f"""
        WITH periods AS (
            SELECT customer_id, date_trunc('{g}', order_ts) AS period, sum(net_revenue) AS revenue
            FROM orders WHERE order_ts < ? GROUP BY 1, 2),
        cells AS (
            SELECT {cohort} AS cohort,
                   (date_diff('month', {cohort}, p.period) // {months})::INT AS k,
                   count(*)::DOUBLE AS active, sum(p.revenue)::DOUBLE AS revenue
            FROM periods p JOIN {firsts} f USING (customer_id) GROUP BY ALL)
        SELECT cohort, max(active) FILTER (WHERE k = 0) OVER (PARTITION BY cohort) AS cohort_size,
               k, active, revenue
        FROM cells ORDER BY 1, 3""",
        [end],
    )


def second_orders_sql(engine: DataEngine, end: pd.Timestamp) -> tuple[str, list]:
    """SQL (and its parameters) for every customer acquired before `end`: first order time,
    acquisition channel (if known), and days to the second order (NULL when there is none
    before `end`; 0 when two orders share the first time); unordered."""
    channel = _first_order_channel(engine)
    query = f"""
        SELECT customer_id, first_two[1] AS first_ts, acquisition_channel,
               date_diff('second', first_two[1], first_two[2]) / 86400::DOUBLE AS days_to_second
        FROM (SELECT customer_id, min(order_ts, 2) AS first_two,
                     {channel} AS acquisition_channel
              FROM orders WHERE order_ts < ? GROUP BY 1)"""
    return query, [end]


def second_orders(engine: DataEngine, end: pd.Timestamp) -> pd.DataFrame:
    """second_orders_sql's customers as one pandas table, in customer order (small data:
    tests, notebooks; the section keeps them in the engine, see data.second_orders)."""
    query, params = second_orders_sql(engine, end)
    return engine.sql(f"{query} ORDER BY 1", params)


def evenly_spaced(engine: DataEngine, name: str, column: str, at_most: int) -> pd.Series:
    """`column` of every row of `name` that has a value, or with more than `at_most` of them,
    every k-th in customer order (k the smallest step that keeps at most `at_most`): enough
    for a histogram."""
    (rows,) = engine.first_row(f"SELECT count({column}) FROM {name}")
    step = max(1, -(-int(rows) // at_most))
    return engine.sql(
        f"""SELECT {column} FROM (
               SELECT {column}, row_number() OVER (ORDER BY customer_id) - 1 AS position
               FROM {name} WHERE {column} IS NOT NULL)
        WHERE position % {step} = 0 ORDER BY position"""
    )[column]


SORTED_AT_ONCE = 1_000_000  # customers sorted at a time, reading a table in customer order
SAMPLED_ONE_IN = 1_000  # of which one in this many (by hash) place the ranges' bounds


def in_customer_order(
    engine: DataEngine, name: str, rows: int, columns: str = "*", params: list | None = None
) -> Iterator[pa.Table]:
    """`columns` (SQL, taking `params`) of every row of `name`, a table with a row per
    customer, in customer order, `rows` at a time. The customers are sorted a range of about
    SORTED_AT_ONCE at a time (one sort of 10M customers' CLV scores held 2 GB): the ranges
    are cut at the ids of a sample of them, and change nothing in what is read."""
    tables = itertools.chain.from_iterable(
        engine.batches(
            f"SELECT {columns} FROM {name} WHERE {where} ORDER BY customer_id",
            rows,
            [*(params or []), *bounds],
        )
        for where, bounds in _customer_ranges(engine, name)
    )
    first = next(tables)
    batches = (batch for part in itertools.chain([first], tables) for batch in part.to_batches())
    yield from rechunked(batches, rows, first.schema)


def _customer_ranges(engine: DataEngine, name: str) -> list[tuple[str, list]]:
    """SQL conditions (with their parameters) cutting `name`'s customers into consecutive
    ranges of about SORTED_AT_ONCE each, in customer order; one range without a cut."""
    sampled = (
        engine.sql(
            f"SELECT customer_id FROM {name} "
            f"WHERE customer_id IS NOT NULL AND hash(customer_id) % {SAMPLED_ONE_IN} = 0"
        )["customer_id"]
        .sort_values()
        .to_numpy()
    )
    pieces = -(-len(sampled) * SAMPLED_ONE_IN // SORTED_AT_ONCE)
    cuts = sorted({sampled[len(sampled) * i // pieces] for i in range(1, pieces)})
    if not cuts:
        return [("TRUE", [])]
    first = "customer_id < ?"  # pragma: no mutate (SQL case)
    between = "customer_id >= ? AND customer_id < ?"  # pragma: no mutate (SQL case)
    last = "customer_id >= ? OR customer_id IS NULL"  # pragma: no mutate (SQL case)
    ranges = [(between, [low, high]) for low, high in itertools.pairwise(cuts)]
    return [(first, [cuts[0]]), *ranges, (last, [cuts[-1]])]


def rfm_inputs_sql(
    engine: DataEngine, end: pd.Timestamp, window_start: pd.Timestamp
) -> tuple[str, list]:
    """SQL (and its parameters) for every customer with an order before `end`: days since the
    last order (at `end`), orders, net revenue to date, net revenue since `window_start`, and
    member flag (NULL when orders carry none); unordered."""
    found = "is_member" in engine.columns("orders")
    member = "bool_or(is_member)" if found else "NULL"  # pragma: no mutate (SQL case)
    query = f"""
        SELECT customer_id,
               date_diff('day', max(order_ts)::DATE, CAST(? AS DATE))::DOUBLE AS recency_days,
               count(*)::DOUBLE AS orders,
               sum(net_revenue)::DOUBLE AS revenue,
               coalesce(sum(net_revenue) FILTER (WHERE order_ts >= ?), 0)::DOUBLE AS window_revenue,
               {member} AS is_member
        FROM orders WHERE order_ts < ? GROUP BY 1"""
    return query, [end, window_start, end]


def member_repurchase(engine: DataEngine, periods: pd.DataFrame) -> pd.DataFrame:
    """Per compared period and member flag: customers, repeat customers (2+ orders in the
    period), returning customers, orders and net revenue."""
    _with_periods(engine, periods)
    firsts = _first_orders(engine)
    return engine.sql(f"""
        WITH per_customer AS (
            SELECT p.period, any_value(p.quarter) AS quarter, o.customer_id,
                   bool_or(o.is_member) AS is_member,
                   count(*) AS orders, sum(o.net_revenue) AS revenue,
                   any_value(f.first_ts) < any_value(p.start) AS is_returning
            FROM orders o JOIN {firsts} f USING (customer_id)
            JOIN report_periods p ON o.order_ts >= p.start AND o.order_ts < p."end"
            GROUP BY p.period, o.customer_id)
        SELECT period, any_value(quarter) AS quarter, is_member, count(*)::DOUBLE AS customers,
               count(*) FILTER (WHERE orders > 1)::DOUBLE AS repeat_customers,
               count(*) FILTER (WHERE is_returning)::DOUBLE AS returning_customers,
               sum(orders)::DOUBLE AS orders, sum(revenue)::DOUBLE AS revenue
        FROM per_customer GROUP BY ALL ORDER BY ALL""")


def marketing_by_period(
    engine: DataEngine, periods: pd.DataFrame, by: list[str] | tuple = ()
) -> pd.DataFrame:
    """Every marketing measure summed per compared period (x by)."""
    return sums_by_period(engine, "marketing", periods, by)


def marketing_weekly(engine: DataEngine, end: pd.Timestamp) -> pd.DataFrame:
    """Weekly spend and attributed revenue per channel before `end` (complete weeks only)."""
    return engine.sql(
        """
        SELECT date_trunc('week', date) AS week, channel,
               sum(spend)::DOUBLE AS spend, sum(attributed_revenue)::DOUBLE AS revenue
        FROM marketing WHERE date < ?
        GROUP BY ALL HAVING count(DISTINCT date) = 7 ORDER BY ALL""",
        [end],
    )


def channel_names(engine: DataEngine) -> list[str]:
    """Every channel any table names (orders, traffic, marketing), sorted: the same list on
    every page, so that a channel keeps its colour across the report."""
    parts = [
        f"SELECT DISTINCT channel FROM {table}"
        for table in ("orders", "traffic", "marketing")
        if engine.has(table) and "channel" in engine.columns(table)
    ]
    if not parts:
        return []
    query = " UNION ".join(parts) + " ORDER BY 1"  # pragma: no mutate (SQL case)
    found = engine.sql(query)["channel"]
    return [str(name) for name in found.dropna()]


def merchandise_by_period(engine: DataEngine, periods: pd.DataFrame) -> pd.DataFrame:
    """Per compared period, category and SKU: units, net sales, discount and cost of the order
    lines. An order's net revenue and discount are shared among its lines by their gross value
    (quantity x unit price), so categories add up to the orders' net revenue; cost is
    quantity x unit cost (NULL where the lines carry no cost)."""
    lines = engine.columns("order_items")
    # SQL text below: its case mutants change nothing
    category = "coalesce(i.category, '')" if "category" in lines else "''"  # pragma: no mutate
    cost = "i.quantity * i.unit_cost" if "unit_cost" in lines else "NULL"  # pragma: no mutate
    has_discount = "discount" in engine.columns("orders")
    discount = "coalesce(o.discount, 0)" if has_discount else "0"  # pragma: no mutate (SQL case)
    _with_periods(engine, periods)
    # each order's revenue and discount per unit of its lines' gross value, then summed over
    # its lines: a window over the lines would hold five quarters of them in memory
    return engine.sql(f"""
        WITH in_periods AS (
            SELECT o.order_id, p.period, p.quarter, o.net_revenue, {discount} AS discount
            FROM orders o JOIN report_periods p ON o.order_ts >= p.start AND o.order_ts < p."end"
        ),
        gross AS (
            SELECT i.order_id, sum(i.quantity * i.unit_price) AS gross
            FROM order_items i SEMI JOIN in_periods USING (order_id) GROUP BY 1
        ),
        per_gross AS (
            SELECT o.order_id, o.period, o.quarter,
                   o.net_revenue / nullif(g.gross, 0) AS revenue_per_gross,
                   o.discount / nullif(g.gross, 0) AS discount_per_gross
            FROM in_periods o JOIN gross g USING (order_id)
        )
        SELECT o.period, o.quarter, {category} AS category, i.sku,
               sum(i.quantity)::DOUBLE AS units,
               sum(i.quantity * i.unit_price * o.revenue_per_gross)::DOUBLE AS net_sales,
               sum(i.quantity * i.unit_price * o.discount_per_gross)::DOUBLE AS discount,
               sum({cost})::DOUBLE AS cost
        FROM order_items i JOIN per_gross o USING (order_id)
        GROUP BY ALL ORDER BY ALL""")


def basket_pairs(
    engine: DataEngine, start: pd.Timestamp, end: pd.Timestamp, level: str, min_orders: int
) -> pd.DataFrame:
    """Pairs of categories (or SKUs: `level`) bought in the same order between start and end,
    in at least `min_orders` orders: columns a, b (a < b), orders (with both), orders_a,
    orders_b and baskets. Only orders with two or more different items count: a one-item
    order can hold no pair, and counting it would put every pair's lift below 1."""
    if level not in ("category", "sku"):  # pragma: no mutate (SQL case)
        raise ValueError(f"level must be category or sku, not {level!r}")
    return engine.sql(
        f"""
        WITH items AS (
            SELECT DISTINCT i.order_id, i.{level} AS item
            FROM order_items i JOIN orders o USING (order_id)
            WHERE o.order_ts >= ? AND o.order_ts < ? AND i.{level} IS NOT NULL
        ),
        baskets AS (
            SELECT * FROM items
            WHERE order_id IN (SELECT order_id FROM items GROUP BY 1 HAVING count(*) > 1)
        ),
        singles AS (SELECT item, count(*)::DOUBLE AS orders FROM baskets GROUP BY item),
        pairs AS (
            SELECT x.item AS a, y.item AS b, count(*)::DOUBLE AS orders
            FROM baskets x JOIN baskets y ON x.order_id = y.order_id AND x.item < y.item
            GROUP BY ALL HAVING count(*) >= ?
        )
        SELECT p.a, p.b, p.orders, sa.orders AS orders_a, sb.orders AS orders_b,
               (SELECT count(DISTINCT order_id) FROM baskets)::DOUBLE AS baskets
        FROM pairs p JOIN singles sa ON sa.item = p.a JOIN singles sb ON sb.item = p.b
        ORDER BY p.orders DESC, p.a, p.b""",
        [start, end, min_orders],
    )


def repeat_customers_by_period(
    engine: DataEngine, periods: pd.DataFrame, by: list[str] | tuple = ()
) -> pd.DataFrame:
    """Customers and repeat customers (two or more orders in the period) per compared period
    (x by); a customer counts once per value of `by` they ordered in."""
    dims = "".join(f", o.{d}" for d in by)  # pragma: no mutate (one dimension at most)
    names = "".join(f", {d}" for d in by)  # pragma: no mutate (one dimension at most)
    _with_periods(engine, periods)
    return engine.sql(f"""
        WITH per AS (
            SELECT p.period{dims}, o.customer_id, count(*) AS orders
            FROM orders o JOIN report_periods p ON o.order_ts >= p.start AND o.order_ts < p."end"
            GROUP BY ALL
        )
        SELECT period{names}, count(*)::DOUBLE AS customers,
               count(*) FILTER (WHERE orders > 1)::DOUBLE AS repeat_customers
        FROM per GROUP BY ALL ORDER BY ALL""")


def marketing_daily(engine: DataEngine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Spend and budget per day, channel and campaign between start and end (budget NULL
    where the marketing table has none; campaign '' where it names none)."""
    columns = engine.columns("marketing")
    # SQL text: its case mutants change nothing
    budget = "sum(budget)" if "budget" in columns else "NULL"  # pragma: no mutate
    campaign = "coalesce(campaign, '')" if "campaign" in columns else "''"  # pragma: no mutate
    return engine.sql(
        f"""
        SELECT date, channel, {campaign} AS campaign, sum(spend)::DOUBLE AS spend,
               {budget}::DOUBLE AS budget
        FROM marketing WHERE date >= ? AND date < ?
        GROUP BY ALL ORDER BY ALL""",
        [start, end],
    )


def daily_sales(engine: DataEngine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per day between start and end: orders, net revenue, cost (NULL without costs), new
    customers (their first order that day), and marketing spend and attributed revenue where
    there is a marketing table (NULL otherwise). Days without orders are absent."""
    cost = _summed_cost(engine)
    marketing = engine.has("marketing")
    spend = "m.spend" if marketing else "NULL"  # pragma: no mutate (SQL case)
    attributed = "m.attributed_revenue" if marketing else "NULL"  # pragma: no mutate (SQL case)
    join = (
        """LEFT JOIN (SELECT date, sum(spend) AS spend, sum(attributed_revenue) AS
           attributed_revenue FROM marketing GROUP BY 1) m ON m.date = d.day"""
        if marketing
        else ""
    )
    firsts = _first_orders(engine)
    return engine.sql(
        f"""
        WITH d AS (
            SELECT CAST(o.order_ts AS DATE) AS day, count(*)::DOUBLE AS orders,
                   sum(o.net_revenue)::DOUBLE AS net_revenue, {cost}::DOUBLE AS cost,
                   count(DISTINCT o.customer_id) FILTER (
                       WHERE CAST(f.first_ts AS DATE) = CAST(o.order_ts AS DATE))::DOUBLE
                       AS new_customers
            FROM orders o JOIN {firsts} f USING (customer_id)
            WHERE o.order_ts >= ? AND o.order_ts < ?
            GROUP BY 1
        )
        SELECT d.day AS date, d.orders, d.net_revenue, d.cost, d.new_customers,
               {spend}::DOUBLE AS spend, {attributed}::DOUBLE AS attributed_revenue
        FROM d {join} ORDER BY 1""",
        [start, end],
    )
