"""Targets at every level the targets file gives: the report's period and the quarters and
months in it, each for the whole shop or for one channel, category or region. Each target's
actual and attainment, a weighted KPI scorecard (where the file gives weights), and the
period's own targets, which for an additive metric add up from its quarters' (or months')
where the file gives none for the period itself."""

from __future__ import annotations

import pandas as pd

from helpers.core.periods import Month, Period, Quarter, Year, parse_target_period, within
from helpers.data import queries
from helpers.data.contract import TARGET_LEVELS
from helpers.sections.kpis import known
from helpers.sections.traffic import add_rates, channel_rates, with_net_orders

ADDITIVE = ("net_revenue", "gross_margin", "orders", "new_customers", "sessions")  # sum over time
GRAIN_ORDER = {"year": 0, "quarter": 1, "month": 2}


def target_rows(targets: pd.DataFrame, period: Period) -> pd.DataFrame:
    """The targets set for `period` or a part of it: period, metric, target, dimension ("" for
    the whole shop, else channel, category or region), member, weight (NaN where none), and
    the parsed period's start, end and grain."""
    parsed = targets["period"].map(parse_target_period)
    inside = parsed.map(lambda p: p is not None and within(p, period)).astype(bool)
    rows = targets[inside].copy()
    parts = parsed[inside]
    levels = [c for c in TARGET_LEVELS if c in rows.columns]
    named = rows[levels].notna() if levels else pd.DataFrame(index=rows.index)
    rows["dimension"] = named.idxmax(axis=1).where(named.any(axis=1), "") if levels else ""
    rows["member"] = [
        "" if level == "" else str(rows.at[index, level])
        for index, level in zip(rows.index, rows["dimension"], strict=True)
    ]
    rows["weight"] = rows["weight"] if "weight" in rows.columns else float("nan")
    rows["start"] = [p.start for p in parts]
    rows["end"] = [p.end for p in parts]
    rows["grain"] = [p.grain for p in parts]
    columns = ["period", "metric", "target", "dimension", "member", "weight"]
    return rows[[*columns, "start", "end", "grain"]].reset_index(drop=True)


def _parts(period: Period) -> list[list[Quarter | Month]]:
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
    own = shop[shop["period"].astype(str) == period.label]
    found = dict(zip(own["metric"], own["target"].astype(float), strict=True))
    for metric in ADDITIVE:
        given = shop[shop["metric"] == metric].set_index("period")["target"]
        for parts in _parts(period):
            labels = [p.label for p in parts]
            if metric not in found and all(label in given.index for label in labels):
                found[metric] = float(given[labels].sum())
    return found


def _order_measures(frame: pd.DataFrame) -> pd.DataFrame:
    """Headline measures from order sums (orders_by_period or category sums)."""
    frame = frame.copy()
    frame["gross_margin"] = frame["net_revenue"] - frame["cost"]
    frame["margin_rate"] = frame["gross_margin"] / frame["net_revenue"].where(
        frame["net_revenue"] > 0
    )
    if "orders" in frame:
        frame["aov"] = frame["net_revenue"] / frame["orders"].where(frame["orders"] > 0)
    return frame


def _measured(engine: queries.DataEngine, periods: pd.DataFrame, level: str) -> pd.DataFrame:
    """Every measure a target may name, per period and member of `level` ("" for the whole
    shop), from the tables present: long, columns period, member, metric, actual."""
    by = [level] if level else []
    frames = []
    if engine.has("orders") and level in ("", "channel", "region"):
        present = level == "" or level in engine.columns("orders")
        if present:
            frames.append(_order_measures(queries.orders_by_period(engine, periods, by)))
    if engine.has("order_items") and level == "category":
        lines = queries.merchandise_by_period(engine, periods)
        sums = lines.groupby(["period", "category"], as_index=False)[["net_sales", "cost"]].sum(
            min_count=1
        )
        frames.append(_order_measures(sums.rename(columns={"net_sales": "net_revenue"})))
    if engine.has("traffic") and level in ("", "channel"):
        traffic = (
            channel_rates(engine, periods)
            if level
            else add_rates(
                with_net_orders(engine, periods, queries.traffic_by_period(engine, periods))
            )
        )
        frames.append(traffic[["period", *by, "sessions", "conversion_rate"]])
    long = [
        frame.melt(id_vars=["period", *by], var_name="metric", value_name="actual").rename(
            columns={level: "member"} if level else {}
        )
        for frame in frames
    ]
    if not long:
        return pd.DataFrame(columns=["period", "member", "metric", "actual"])
    found = pd.concat(long, ignore_index=True)
    if not level:
        found["member"] = ""
    return found[["period", "member", "metric", "actual"]]


SUMS = ("net_revenue", "gross_margin", "orders", "customers", "new_customers", "sessions")


def _measurable(engine: queries.DataEngine, metric: str, dimension: str) -> bool:
    """Whether the tables present measure `metric` at `dimension` ("" for the whole shop)."""
    if metric in ("sessions", "conversion_rate"):
        return engine.has("traffic")
    if dimension == "category":
        return engine.has("order_items") and "category" in engine.columns("order_items")
    return engine.has("orders") and (dimension == "" or dimension in engine.columns("orders"))


def actuals(engine: queries.DataEngine, rows: pd.DataFrame) -> pd.Series:
    """Each target row's actual; rows as target_rows returns them. A sum with nothing to add
    in its period (no order from that channel that month) is 0; a rate then, or a metric
    the data cannot measure (a table or column absent), is NaN."""
    periods = rows.drop_duplicates("period")[["period", "start", "end"]].assign(
        quarter=lambda p: p["period"]
    )
    found = pd.concat(
        [_measured(engine, periods, by).assign(dimension=by) for by in rows["dimension"].unique()],
        ignore_index=True,
    )
    found["member"] = found["member"].astype(str)
    keys = ["period", "dimension", "member", "metric"]
    merged = (
        rows[keys].astype({"period": str}).merge(found.astype({"period": str}), on=keys, how="left")
    )
    found = merged["actual"].astype(float).set_axis(rows.index)
    nothing = [
        metric in SUMS and _measurable(engine, metric, dimension)
        for metric, dimension in zip(rows["metric"], rows["dimension"], strict=True)
    ]
    return found.where(found.notna() | ~pd.Series(nothing, rows.index), 0.0)


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
    rows = rows[(rows["period"].astype(str) == period.label) | (rows["dimension"] == "")]
    if rows.empty:
        return rows.reset_index(drop=True)
    rows = rows.reset_index(drop=True)
    rows["actual"] = actuals(engine, rows)
    rows["attainment"] = rows["actual"] / rows["target"].where(rows["target"] > 0)
    rows["score"] = rows["weight"] * rows["attainment"].clip(upper=cap_pct / 100)
    order = rows["grain"].map(GRAIN_ORDER)
    return (
        rows.assign(_order=order)
        .sort_values(["_order", "start", "dimension", "member"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def weighted_score(card: pd.DataFrame) -> float | None:
    """The scorecard's total: the weighted mean of the capped attainments of the rows with a
    weight and an actual; None without any."""
    if card.empty:
        return None
    scored = card[card["weight"].notna() & card["score"].notna() & (card["weight"] > 0)]
    if scored.empty:
        return None
    return known(scored["score"].sum() / scored["weight"].sum())
