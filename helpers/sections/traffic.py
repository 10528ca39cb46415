"""Traffic-structure metrics: channel mix, GA4 engagement, conversion, devices, findings.

Definitions (GA4): engagement rate = engaged sessions / sessions; bounce rate = 1 - engagement
rate (or bounces / sessions where only bounces are given); pages per session = pageviews /
sessions; average engagement time = engagement seconds / sessions; conversion rate = orders /
sessions; revenue per session = revenue / sessions. The headline totals count the orders
table's net orders and net revenue (as the index does); by channel and device, the traffic
table's own orders (as web analytics records them, before refunds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.periods import COMPARISONS, trend_start
from helpers.data import queries
from helpers.models.significance import two_proportion_ztest
from helpers.sections.findings import Finding
from helpers.sections.kpis import (
    DIFFERENCE_UNITS,
    comparison_bases,
    is_material,
    known,
    kpi_record,
    mark_material,
    per_period_columns,
)

MEASURES = {  # column: unit
    "sessions": "count",
    "users": "count",
    "new_users": "count",
    "engagement_rate": "rate",
    "bounce_rate": "rate",
    "pages_per_session": "ratio",
    "engagement_time": "seconds",
    "orders": "count",
    "conversion_rate": "rate",
    "revenue_per_session": "currency",
}
HEADLINE = ("sessions", "users", "engagement_rate", "conversion_rate", "revenue_per_session")


def _ratio(frame: pd.DataFrame, numerator: str, denominator: str = "sessions") -> pd.Series | float:
    """numerator / denominator per row; NaN over 0, and throughout without the numerator."""
    if numerator not in frame:
        return np.nan
    return frame[numerator] / frame[denominator].where(frame[denominator] != 0)


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the per-session rates to a table of traffic sums (any grain)."""
    out = frame.copy()
    if "engaged_sessions" in out:
        out["engagement_rate"] = _ratio(out, "engaged_sessions")
        out["bounce_rate"] = 1 - out["engagement_rate"]
    else:
        out["bounce_rate"] = _ratio(out, "bounces")
        out["engagement_rate"] = 1 - out["bounce_rate"]
    out["pages_per_session"] = _ratio(out, "pageviews")
    out["engagement_time"] = _ratio(out, "engagement_seconds")
    out["conversion_rate"] = _ratio(out, "orders")
    out["revenue_per_session"] = _ratio(out, "revenue")
    out["new_user_share"] = _ratio(out, "new_users", "users")
    return out


def period_comparison(totals: pd.DataFrame) -> pd.DataFrame:
    """One row per measure: current, previous, year_ago and the QoQ / YoY changes.

    `totals` has one row per period (column `period`) with sums and rates.
    """
    by_period = totals.set_index("period")
    rows = []
    for column, unit in MEASURES.items():
        if column not in by_period or by_period[column].isna().all():
            continue
        values = by_period[column].reindex(list(COMPARISONS))
        rows.append({"measure": column, **kpi_record(f"traffic.{column}", unit, values.to_dict())})
    return pd.DataFrame(rows)


def measure_records(comparison: pd.DataFrame) -> dict[str, dict]:
    """The comparison as KPI records keyed by measure."""
    return comparison.set_index("measure").to_dict("index")  # pragma: no mutate (any case)


def channel_mix(by_channel: pd.DataFrame) -> pd.DataFrame:
    """Per channel: this quarter's volumes and rates, share of sessions and its shift in pp."""
    sessions = per_period_columns(by_channel.set_index(["channel", "period"])[["sessions"]])
    sessions = sessions["sessions"]
    share = sessions / sessions.sum()
    current = by_channel[by_channel["period"] == "current"].set_index("channel")
    mix = current.drop(columns=["period", "quarter"]).assign(
        share=share["current"],
        share_shift_qoq=share["current"] - share["previous"],
        share_shift_yoy=share["current"] - share["year_ago"],
        sessions_qoq=sessions["current"] / sessions["previous"] - 1,
        sessions_yoy=sessions["current"] / sessions["year_ago"] - 1,
    )
    return mix.sort_values("sessions", ascending=False).reset_index()


def conversion_tests(
    by_channel: pd.DataFrame, base: str, alpha: float, min_sessions: int
) -> pd.DataFrame:
    """Per channel: conversion rate now vs `base` period, change in pp, z, p-value, significance.

    Channels with fewer than `min_sessions` sessions in either period are not tested.
    """
    # a base period with no traffic at all (a shop in its first quarter): nothing to test
    wide = per_period_columns(by_channel.set_index(["channel", "period"])[["orders", "sessions"]])
    orders_now, sessions_now = wide[("orders", "current")], wide[("sessions", "current")]
    orders_base, sessions_base = wide[("orders", base)], wide[("sessions", base)]
    z, p = two_proportion_ztest(orders_now, sessions_now, orders_base, sessions_base)
    tested = (sessions_now >= min_sessions) & (sessions_base >= min_sessions)
    out = pd.DataFrame(
        {
            "conversion_rate": orders_now / sessions_now,
            "base_conversion_rate": orders_base / sessions_base,
            "z": np.where(tested, z, np.nan),
            "p_value": np.where(tested, p, np.nan),
        }
    )
    out["change_pp"] = (out["conversion_rate"] - out["base_conversion_rate"]) * 100
    out["significant"] = np.where(out["p_value"].isna(), None, out["p_value"] < alpha)
    return out.reset_index()


def device_split(by_device: pd.DataFrame) -> pd.DataFrame:
    """Per device and period: share of sessions, conversion rate, revenue per session."""
    out = add_rates(by_device)
    out["share"] = out["sessions"] / out.groupby("period")["sessions"].transform("sum")
    return out[
        [
            "period",
            "quarter",
            "device",
            "sessions",
            "share",
            "conversion_rate",
            "revenue_per_session",
            "engagement_rate",
        ]
    ]


def efficiency_quadrants(mix: pd.DataFrame) -> pd.DataFrame:
    """Label channels by volume (share of sessions) and conversion against the overall rate."""
    overall = mix["orders"].sum() / mix["sessions"].sum()
    big = mix["share"] >= 1 / len(mix)
    converts = mix["conversion_rate"] >= overall
    label = np.select(
        [big & converts, ~big & converts, big & ~converts],
        ["Scale & convert", "Efficient niche", "Volume, low conversion"],
        "Small and weak",
    )
    return mix[["channel", "share", "conversion_rate", "revenue_per_session"]].assign(
        quadrant=label, overall_conversion_rate=overall
    )


def findings(
    comparison: pd.DataFrame,
    mix: pd.DataFrame,
    tests: dict[str, pd.DataFrame],
    thresholds: dict,
    bases: tuple[str, ...],
) -> list[Finding]:
    """What the section says, most important first, each change on every comparison basis
    (kpis.comparison_bases)."""
    said = []
    by = comparison.set_index("measure")
    for measure in ("sessions", "conversion_rate", "revenue_per_session", "engagement_rate"):
        if measure not in by.index:  # only engagement, the last, can be absent (orders cannot)
            continue  # pragma: no mutate
        row = by.loc[measure]
        if any(
            is_material(
                row[basis],
                row["unit"],
                thresholds["material_change_pct"],
                thresholds["material_rate_change_pp"],
            )
            for basis in bases
        ):
            said.append(
                Finding(
                    "traffic.measure_change",
                    {
                        "kpi": row["key"],
                        "unit": row["unit"],
                        "current": row["current"],
                        "changes": {basis: known(row[basis]) for basis in bases},
                    },
                    bases=bases,
                    material=True,
                    stake=revenue_moved(by, measure, bases),
                )
            )
    said += _share_shift(mix, thresholds["material_share_shift_pp"], bases)
    for basis in bases:
        significant = tests[basis][tests[basis]["significant"].eq(True)]
        for row in significant.sort_values("change_pp").itertuples():
            said.append(
                Finding(
                    "traffic.conversion_significant",
                    {
                        "channel": row.channel,
                        "base_rate": row.base_conversion_rate,
                        "rate": row.conversion_rate,
                        "p_value": row.p_value,
                        "basis": basis,
                    },
                    # a significant change is never 0
                    variant="improved" if row.change_pp > 0 else "fell",  # pragma: no mutate
                    bases=(basis,),
                    material=True,
                    stake=_conversion_stake(mix, row.channel, row.change_pp / 100),
                )
            )
    if len(mix) and "revenue_per_session" in mix:
        best = mix.loc[mix["revenue_per_session"].idxmax()]
        worst = mix.loc[mix["revenue_per_session"].idxmin()]
        said.append(
            Finding(
                "traffic.session_value",
                {
                    "best_channel": best["channel"],
                    "best_value": best["revenue_per_session"],
                    "worst_channel": worst["channel"],
                    "worst_value": worst["revenue_per_session"],
                },
            )
        )
    return said or [Finding("traffic.nothing_material")]


def revenue_moved(by_measure: pd.DataFrame, measure: str, bases: tuple[str, ...]) -> float | None:
    """This quarter's revenue that a measure's change moved, on the basis where it moved most:
    the change times what each unit of it is worth now (a session its revenue per session, a
    point of conversion a session's orders times revenue per order). None for measures worth
    no revenue directly (engagement)."""
    now = by_measure["current"]
    sessions, per_session = now["sessions"], now["revenue_per_session"]
    per_order = per_session / now["conversion_rate"] if now["conversion_rate"] else None
    worth = {"sessions": per_session, "revenue_per_session": sessions}
    if per_order is not None:
        worth["conversion_rate"] = sessions * per_order
    if measure not in worth:
        return None
    row, moved = by_measure.loc[measure], []
    for basis in bases:
        delta = known(row[basis])  # a difference for rates, relative otherwise
        if delta is None:
            continue
        if row["unit"] not in DIFFERENCE_UNITS:
            delta = row["current"] - row["current"] / (1 + delta)
        moved.append(abs(delta) * worth[measure])
    return max(moved, default=None)


def _conversion_stake(mix: pd.DataFrame, channel: str, change: float) -> float | None:
    """Revenue a channel's conversion change moved: the change times its sessions and its
    revenue per order."""
    row = mix.set_index("channel").loc[channel]
    if not row["conversion_rate"]:
        return None
    return abs(change) * row["sessions"] * row["revenue_per_session"] / row["conversion_rate"]


def _share_shift(mix: pd.DataFrame, material_pp: float, bases: tuple[str, ...]) -> list[Finding]:
    """The channel whose session share moved most on any basis, if by a material amount."""
    columns = [f"share_shift_{basis}" for basis in bases]
    largest = mix[columns].abs().max().max()  # NaN without channels
    if not largest * 100 >= material_pp:  # also when no shift is known (no base period)
        return []
    channel = mix.loc[mix[columns].abs().max(axis=1).idxmax()]
    shifts = {basis: known(channel[f"share_shift_{basis}"]) for basis in bases}
    shifts = {basis: shift for basis, shift in shifts.items() if shift is not None}
    return [
        Finding(
            "traffic.share_shift",
            {"channel": channel["channel"], "share": channel["share"], "shifts": shifts},
            bases=tuple(shifts),
            stake=max(map(abs, shifts.values()))  # material: at least one shift known
            * mix["sessions"].sum()
            * channel["revenue_per_session"],
            material=True,
        )
    ]


def with_net_orders(
    engine: queries.DataEngine,
    periods: pd.DataFrame,
    totals: pd.DataFrame,
    orders: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-period traffic sums whose orders and revenue are the orders table's net orders and
    net revenue, when there is one: the conversion rate and revenue per session of the
    headline, here and on the index, have one definition (net orders / sessions). `orders` is
    queries.orders_by_period's table for these periods where the caller has it already."""
    if not engine.has("orders"):
        return totals
    if orders is None:
        orders = queries.orders_by_period(engine, periods)
    orders = orders.rename(columns={"net_revenue": "revenue"})[["period", "orders", "revenue"]]
    return totals.drop(columns=["orders", "revenue"], errors="ignore").join(
        orders.set_index("period"), on="period"
    )


def _orders_from_order_table(
    engine: queries.DataEngine, periods: pd.DataFrame, traffic: pd.DataFrame, by: list[str]
) -> pd.DataFrame:
    """Fill orders and revenue from the orders table where the traffic table lacks them."""
    if "orders" in traffic or not engine.has("orders"):
        return traffic
    orders = queries.orders_by_period(engine, periods, by=by)
    orders = orders.rename(columns={"net_revenue": "revenue"})[
        ["period", "quarter", *by, "orders", "revenue"]
    ]
    keys = ["period", "quarter", *by]
    return traffic.join(orders.set_index(keys), on=keys)


def _orders_source(orders_table: bool, traffic_orders: bool) -> str:
    """Where the orders behind conversion and revenue per session come from: the traffic
    table, the orders table, or the orders table in the headline and the traffic table's
    own orders by channel and device."""
    if not orders_table:
        return "traffic_table"
    return "both" if traffic_orders else "orders_table"


@dataclass
class TrafficSection:
    """Every table the traffic notebook shows."""

    comparison: pd.DataFrame
    measures: dict[str, dict]
    by_channel: pd.DataFrame
    mix: pd.DataFrame
    tests_qoq: pd.DataFrame
    tests_yoy: pd.DataFrame
    devices: pd.DataFrame | None
    weekly: pd.DataFrame
    quadrants: pd.DataFrame
    findings: list[Finding]
    kpis: dict[str, dict]
    orders_source: str
    margins: pd.DataFrame | None = None


def channel_margins(engine: queries.DataEngine, periods: pd.DataFrame) -> pd.DataFrame | None:
    """This quarter's net revenue, gross margin (net revenue - cost) and margin rate per order
    channel, largest revenue first; None unless the orders carry a channel and a cost."""
    if not engine.has("orders") or not {"channel", "cost"}.issubset(engine.columns("orders")):
        return None
    orders = queries.orders_by_period(engine, periods, ["channel"])  # pragma: no mutate (SQL case)
    now = orders[orders["period"] == "current"]
    margins = now[["channel", "net_revenue"]].assign(gross_margin=now["net_revenue"] - now["cost"])
    margins["margin_rate"] = margins["gross_margin"] / margins["net_revenue"].where(
        margins["net_revenue"] > 0
    )
    return margins.sort_values("net_revenue", ascending=False).reset_index(drop=True)


def channel_rates(engine: queries.DataEngine, periods: pd.DataFrame) -> pd.DataFrame:
    """Traffic sums and per-session rates per period and channel (orders from the orders
    table where the traffic table has none)."""
    # SQL names: any case
    by_channel = queries.traffic_by_period(engine, periods, ["channel"])  # pragma: no mutate
    return add_rates(_orders_from_order_table(engine, periods, by_channel, ["channel"]))


def build_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> TrafficSection:
    """Query the engine once per grain and derive every traffic table."""
    has_orders = "orders" in engine.columns("traffic")
    totals = add_rates(with_net_orders(engine, periods, queries.traffic_by_period(engine, periods)))
    by_channel = channel_rates(engine, periods)
    devices = None
    if "device" in engine.columns("traffic"):
        # SQL names: any case
        by_device = queries.traffic_by_period(engine, periods, ["device"])  # pragma: no mutate
        devices = device_split(by_device) if "orders" in by_device else None
    comparison = period_comparison(totals)
    mix = channel_mix(by_channel)
    tests = {
        base: conversion_tests(
            by_channel, base, config.significance_level, config.traffic.min_sessions_for_test
        )
        for base in ("previous", "year_ago")
    }
    quarter = config.period
    weekly = queries.traffic_weekly(
        engine, trend_start(quarter, config.traffic.trend_quarters), quarter.end
    )
    thresholds = {
        "material_change_pct": config.material_change_pct,
        "material_rate_change_pp": config.material_rate_change_pp,
        "material_share_shift_pp": config.material_share_shift_pp,
    }
    measures = mark_material(
        measure_records(comparison), config.material_change_pct, config.material_rate_change_pp
    )
    return TrafficSection(
        comparison=comparison,
        measures=measures,
        by_channel=by_channel,
        mix=mix,
        tests_qoq=tests["previous"],
        tests_yoy=tests["year_ago"],
        devices=devices,
        weekly=weekly,
        quadrants=efficiency_quadrants(mix),
        findings=findings(
            comparison,
            mix,
            {"qoq": tests["previous"], "yoy": tests["year_ago"]},
            thresholds,
            comparison_bases(quarter, config.seasonal_quarters),
        ),
        kpis={m: measures[m] for m in HEADLINE if m in measures},
        orders_source=_orders_source(engine.has("orders"), has_orders),
        margins=channel_margins(engine, periods),
    )
