"""Headline business KPIs for the index page: revenue, orders, customers, traffic, targets."""

from __future__ import annotations

import pandas as pd

from helpers.core.periods import COMPARISONS, Year, comparison_periods, parse_period
from helpers.data import queries
from helpers.sections.kpis import kpi_record
from helpers.sections.targets import period_targets
from helpers.sections.traffic import add_rates, with_net_orders

ORDER_KPIS = {  # column: unit
    "net_revenue": "currency",
    "orders": "count",
    "customers": "count",
    "new_customers": "count",
    "aov": "currency",
}
MARGIN_KPIS = {"gross_margin": "currency", "margin_rate": "rate"}  # where orders carry a cost
TRAFFIC_KPIS = {"sessions": "count", "conversion_rate": "rate"}
HEADLINE_UNITS = {**ORDER_KPIS, **MARGIN_KPIS, **TRAFFIC_KPIS}  # also every metric a target names
TARGETS_QUERY = "SELECT * FROM targets"  # pragma: no mutate (SQL case)


def headline_kpis(engine: queries.DataEngine, periods: pd.DataFrame) -> dict[str, dict]:
    """KPI records for the compared periods from the orders and traffic tables present."""
    frames, by_period = [], None
    if engine.has("orders"):
        by_period = queries.orders_by_period(engine, periods)
        orders = by_period.assign(
            aov=by_period["net_revenue"] / by_period["orders"],
            gross_margin=by_period["net_revenue"] - by_period["cost"],
            margin_rate=lambda o: o["gross_margin"] / o["net_revenue"],
        ).set_index("period")
        with_cost = list(MARGIN_KPIS) if orders["cost"].notna().any() else []
        frames.append(orders[list(ORDER_KPIS) + with_cost])
    if engine.has("traffic"):
        sums = queries.traffic_by_period(engine, periods)
        traffic = add_rates(
            with_net_orders(
                engine,
                periods,  # pragma: no mutate (unread: the orders are given)
                sums,
                orders=by_period,
            )
        ).set_index("period")
        frames.append(traffic[[c for c in TRAFFIC_KPIS if traffic[c].notna().any()]])
    if not frames:
        return {}
    # the queries give the periods they have in this order, and a missing one reads as unknown
    values = pd.concat(frames, axis=1).reindex(list(COMPARISONS))  # pragma: no mutate
    targets = period_targets(
        engine.sql(TARGETS_QUERY) if engine.has("targets") else None,
        parse_period(periods.loc[periods["period"] == "current", "quarter"].iloc[0]),
    )
    return {
        name: kpi_record(
            f"overview.{name}", HEADLINE_UNITS[name], values[name].to_dict(), targets.get(name)
        )
        for name in values.columns
    }


def quarters_side_by_side(engine: queries.DataEngine, year: Year) -> list[dict]:
    """Each headline KPI in each quarter of the year and over the year: key, unit, and values
    by period label (the quarters', then the year's)."""
    found = {}
    for period in [*year.quarters, year]:
        for name, record in headline_kpis(engine, comparison_periods(period)).items():
            row = found.setdefault(
                name, {"key": record["key"], "unit": record["unit"], "values": {}}
            )
            row["values"][period.label] = record.get("current")
    return list(found.values())
