"""Targets at every level the targets file gives: the report's period and the quarters and
months in it, each for the whole shop or for one channel, category or region. Each target's
actual and attainment, a weighted KPI scorecard (where the file gives weights), and the
period's own targets, which for an additive metric add up from its quarters' (or months')
where the file gives none for the period itself."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from helpers.core.periods import Month, Period, Year, parse_target_period, within
from helpers.data import queries
from helpers.data.contract import TARGET_LEVELS
from helpers.sections.kpis import known, table_records
from helpers.sections.traffic import add_rates, channel_rates, with_net_orders

ADDITIVE = ("net_revenue", "gross_margin", "orders", "new_customers", "sessions")  # over time
GRAIN_ORDER = {"year": 0, "quarter": 1, "month": 2}  # the scorecard's order: the whole first


def target_rows(targets: pd.DataFrame, period: Period) -> pd.DataFrame:
    """The targets set for `period` or a part of it: period, metric, target, dimension ("" for
    the whole shop, else channel, category or region), member, weight (NaN where none), and
    the parsed period's start, end and grain."""
    parsed = targets["period"].map(parse_target_period)
    inside = [p is not None and within(p, period) for p in parsed]
    rows = targets[inside].copy()
    for column in (*TARGET_LEVELS, "weight"):  # optional columns the file may leave out
        if column not in rows.columns:
            rows[column] = np.nan  # pragma: no mutate (None is as absent)
    named = rows[list(TARGET_LEVELS)].notna()
    rows["dimension"] = named.idxmax(axis=1).where(named.any(axis=1), "")
    rows["member"] = ""
    for level in TARGET_LEVELS:
        at_level = rows["dimension"] == level
        rows.loc[at_level, "member"] = rows.loc[at_level, level].astype(str)
    parts = parsed[inside]
    rows["start"] = [p.start for p in parts]
    rows["end"] = [p.end for p in parts]
    rows["grain"] = [p.grain for p in parts]
    columns = ["period", "metric", "target", "dimension", "member", "weight"]
    return rows[[*columns, "start", "end", "grain"]].reset_index(drop=True)


def _parts(period: Period) -> list[list[Period | Month]]:
    """The ways a period splits into smaller target periods: a year into quarters or months,
    a quarter into months."""
    if isinstance(period, Year):
        return [period.quarters, [Month(period.year, m) for m in range(1, 13)]]
    return [[Month(period.year, 3 * period.q - 2 + i) for i in range(3)]]


def period_targets(targets: pd.DataFrame | None, period: Period) -> dict[str, float]:
    """The whole shop's targets for the period by metric: those the file gives for it, and for
    an additive metric without one, the sum of its parts' targets where every part has one."""
    if targets is None:
        return {}
    rows = target_rows(targets, period)
    shop = rows[rows["dimension"] == ""]
    found = shop[shop["period"] == period.label].set_index("metric")["target"].to_dict()
    for metric in ADDITIVE:
        given = shop[shop["metric"] == metric].set_index("period")["target"]
        for parts in _parts(period):
            labels = [p.label for p in parts]
            if metric not in found and given.index.isin(labels).sum() == len(labels):
                found[metric] = float(given[labels].sum())
    return found


def _from_orders(engine: queries.DataEngine, periods: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Orders, customers, net revenue, gross margin, its rate and AOV per period (x by)."""
    frame = queries.orders_by_period(engine, periods, by)
    frame["aov"] = frame["net_revenue"] / frame["orders"]  # a row holds at least one order
    return _margins(frame)


def _from_order_lines(
    engine: queries.DataEngine, periods: pd.DataFrame, by: list[str]
) -> pd.DataFrame:
    """Net sales (as net revenue), gross margin and its rate per period and category; the
    margin is unknown (NaN) where the lines carry no cost."""
    lines = queries.merchandise_by_period(engine, periods)
    sums = lines.groupby(["period", *by])[["net_sales", "cost"]].sum(min_count=1)
    return _margins(sums.reset_index().rename(columns={"net_sales": "net_revenue"}))


def _from_traffic(engine: queries.DataEngine, periods: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sessions and the conversion rate per period (x channel), as the traffic page has them."""
    if by:
        return channel_rates(engine, periods)
    totals = queries.traffic_by_period(engine, periods)
    return add_rates(with_net_orders(engine, periods, totals))


def _margins(frame: pd.DataFrame) -> pd.DataFrame:
    frame["gross_margin"] = frame["net_revenue"] - frame["cost"]
    positive = frame["net_revenue"].where(frame["net_revenue"] > 0)
    frame["margin_rate"] = frame["gross_margin"] / positive
    return frame


Source = tuple[str, tuple[str, ...], tuple[str, ...], Callable]
SOURCES: tuple[Source, ...] = (  # table, levels it measures, metrics, how
    (
        "orders",
        ("", "channel", "region"),
        ("net_revenue", "gross_margin", "margin_rate", "orders", "customers", "new_customers")
        + ("aov",),
        _from_orders,
    ),
    (
        "order_items",
        ("category",),
        ("net_revenue", "gross_margin", "margin_rate"),
        _from_order_lines,
    ),
    ("traffic", ("", "channel"), ("sessions", "conversion_rate"), _from_traffic),
)
SUMS = ("net_revenue", "gross_margin", "orders", "customers", "new_customers", "sessions")


def _sources(engine: queries.DataEngine, level: str) -> list[Source]:
    """The sources that can measure at `level` with the tables and columns present."""
    return [
        source
        for source in SOURCES
        if engine.has(source[0])
        and level in source[1]
        and (level == "" or level in engine.columns(source[0]))
    ]


def _measured(engine: queries.DataEngine, periods: pd.DataFrame, level: str) -> pd.DataFrame:
    """Every measure a target may name at `level` ("" for the whole shop), per period and
    member: columns period, member, metric, actual."""
    by = [level] if level else []
    found = []
    for _, _, metrics, measure in _sources(engine, level):
        wide = measure(engine, periods, by)
        long = wide.melt(id_vars=["period", *by], value_vars=list(metrics), var_name="metric")
        long["member"] = long[level] if level else ""
        found.append(long.rename(columns={"value": "actual"}))
    columns = ["period", "member", "metric", "actual"]
    return (
        pd.concat([frame[columns] for frame in found]) if found else pd.DataFrame(columns=columns)
    )


def actuals(engine: queries.DataEngine, rows: pd.DataFrame) -> np.ndarray:
    """Each target row's actual, in row order; rows as target_rows returns them. A sum with
    nothing to add (no order from that channel that month) is 0; a rate then, or a metric the
    data cannot measure (a table or column absent, orders without cost for a margin), is NaN."""
    periods = rows.drop_duplicates("period")[["period", "start", "end"]]
    periods = periods.assign(quarter=periods["period"])  # pragma: no mutate (a label, unread)
    found = pd.concat(
        [_measured(engine, periods, by).assign(dimension=by) for by in rows["dimension"].unique()]
    )
    keys = ["period", "dimension", "member", "metric"]
    merged = rows[keys].merge(found, how="left", indicator=True)  # on the key columns
    measurable = [
        metric in SUMS and any(metric in source[2] for source in _sources(engine, dimension))
        for metric, dimension in rows[["metric", "dimension"]].to_numpy()
    ]
    nothing_sold = (merged["_merge"] == "left_only").to_numpy() & np.array(measurable)
    actual = merged["actual"].astype(float)  # pragma: no mutate (pandas reads astype(None) so too)
    return np.where(nothing_sold, 0.0, actual)


def scorecard(
    engine: queries.DataEngine, targets: pd.DataFrame | None, period: Period, cap_pct: float
) -> pd.DataFrame:
    """The targets of the period (at every level) and of its quarters and months (for the
    whole shop), each with its actual and attainment (actual / target), and where the row has
    a weight, its score: weight x attainment capped at `cap_pct` percent (an overshoot earns
    at most that). Ordered year, quarters, months; whole shop before levels."""
    if targets is None:
        return pd.DataFrame()
    rows = target_rows(targets, period)
    # the period's own targets at every level; its parts' for the whole shop only (a
    # quarter's channel targets are in that quarter's report)
    rows = rows[(rows["period"] == period.label) | (rows["dimension"] == "")]
    rows = rows.assign(order=rows["grain"].map(GRAIN_ORDER))
    rows = rows.sort_values(["order", "start", "dimension", "member"]).drop(columns="order")
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return rows
    rows["actual"] = actuals(engine, rows)
    rows["attainment"] = rows["actual"] / rows["target"].where(rows["target"] > 0)
    rows["score"] = rows["weight"] * rows["attainment"].clip(upper=cap_pct / 100)
    return rows


def weighted_score(card: pd.DataFrame) -> float | None:
    """The scorecard's total: the weighted mean of the capped attainments of the rows with a
    weight and an actual; None without any."""
    if card.empty:
        return None
    scored = card[(card["weight"] > 0) & card["score"].notna()]  # pragma: no mutate (>= 0 too)
    if scored.empty:
        return None
    return known(scored["score"].sum() / scored["weight"].sum())


def records(card: pd.DataFrame) -> list[dict]:
    """The scorecard's rows, JSON-ready (NaN as None; the period bounds left out)."""
    rows = table_records(card.drop(columns=["start", "end"], errors="ignore"))
    return [{k: known(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
