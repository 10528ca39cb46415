"""Repurchase: repeat and returning-customer rates, acquisition cohorts, time to second order,
RFM value tiers and how customers move between them.

Definitions. Repeat-purchase rate: share of a period's customers with two or more orders in that
period. Returning-customer rate (Shopify): share of a period's customers whose first order was
before the period. Retention at k: share of a cohort (customers whose first order fell in the
same month or quarter) ordering in the k-th period after it.

RFM scores and segments: helpers.sections.segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.errors import Reason
from helpers.core.periods import Quarter
from helpers.data import queries, rfm, second_orders
from helpers.data.exports import CustomerExport
from helpers.models.significance import two_proportion_ztest
from helpers.sections.findings import Finding
from helpers.sections.kpis import BASE_PERIOD, comparison_bases, kpi_record, mark_material
from helpers.sections.segments import (
    SEGMENTATIONS,
    migration,
    segment_customers,
    segment_table,
)


def add_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Add repeat_rate and returning_rate to per-period customer counts."""
    return counts.assign(
        repeat_rate=counts["repeat_customers"] / counts["customers"],
        returning_rate=counts["returning_customers"] / counts["customers"],
    )


def meaningful_returning_rates(monthly: pd.DataFrame) -> pd.DataFrame:
    """Monthly rates with the returning rate left out where it says nothing: in the data's
    first year (a customer's earlier orders may predate the data, so the rate starts at 0% and
    climbs for no reason in the business) and in months with no new customer (everyone is
    returning by definition: CDNOW's closed cohort reads 100%)."""
    warming_up = monthly["period"] < monthly["period"].min() + pd.DateOffset(years=1)
    no_new = monthly["returning_customers"] >= monthly["customers"]
    return monthly.assign(returning_rate=monthly["returning_rate"].mask(warming_up | no_new))


def cohort_matrices(
    activity: pd.DataFrame, grain: str, last_period: pd.Timestamp, max_periods: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Retention (share of the cohort ordering in period k) and cumulative net revenue per
    cohort customer; cohorts as rows, k = 0..max_periods as columns. Periods not yet reached
    by `last_period` (in the last complete period; only its month is read) are NaN, reached
    ones with no orders are 0."""
    step = 1 if grain == "month" else 3
    data = activity[activity["k"] <= max_periods]
    columns = range(max_periods + 1)
    rate = (
        data.assign(v=data["active"] / data["cohort_size"])
        .pivot(index="cohort", columns="k", values="v")
        .reindex(columns=columns)
    )
    value = (
        data.assign(v=data["revenue"] / data["cohort_size"])
        .pivot(index="cohort", columns="k", values="v")
        .reindex(columns=columns)
    )
    cohorts = pd.DatetimeIndex(rate.index)
    months = (last_period.year - cohorts.year) * 12 + last_period.month - cohorts.month
    elapsed = months // step  # pragma: no mutate (whole k: k <= m / 3 just when k <= m // 3)
    reached = np.arange(max_periods + 1)[None, :] <= np.asarray(elapsed)[:, None]
    return rate.fillna(0).where(reached), value.fillna(0).cumsum(axis=1).where(reached)


def cohorts_against_a_year_earlier(
    retention: pd.DataFrame, recent: int, k: int = 1
) -> pd.DataFrame:
    """Retention at period k of the `recent` latest cohorts that have reached k, beside the
    cohort of the same month or quarter a year earlier (cohorts labelled YYYY-MM)."""
    reached = retention[k].dropna()
    rows = []
    for cohort in reached.index[-recent:]:
        earlier = cohort - pd.DateOffset(years=1)
        if earlier in reached.index:
            rows.append(
                {
                    "cohort": f"{cohort:%Y-%m}",
                    "retention": reached[cohort],
                    "year_earlier_cohort": f"{earlier:%Y-%m}",
                    "year_earlier_retention": reached[earlier],
                }
            )
    table = pd.DataFrame(
        rows, columns=["cohort", "retention", "year_earlier_cohort", "year_earlier_retention"]
    )
    table["change_pp"] = (table["retention"] - table["year_earlier_retention"]) * 100
    return table


def member_comparison(counts: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Members against non-members per compared period: repeat and returning rates, orders per
    customer, average order value, and a two-proportion test of the repeat-rate gap."""
    table = add_rates(counts).assign(
        orders_per_customer=lambda d: d["orders"] / d["customers"],
        aov=lambda d: d["revenue"] / d["orders"],
    )
    members = table[table["is_member"]].set_index("period")
    others = table[~table["is_member"]].set_index("period")
    _, p = two_proportion_ztest(
        members["repeat_customers"],
        members["customers"],
        others["repeat_customers"].reindex(members.index),
        others["customers"].reindex(members.index),
    )
    tests = pd.DataFrame({"period": members.index, "p_value": p, "significant": p < alpha})
    return table.merge(tests, on="period")  # pragma: no mutate (the only column both have)


def _period_rates(by_period: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    starts = periods.set_index("period")["start"]
    return by_period.set_index("period").reindex(starts.to_numpy()).set_axis(starts.index)


@dataclass
class RepurchaseSection:
    """Every table the repurchase notebook shows."""

    quarterly: pd.DataFrame
    monthly: pd.DataFrame
    retention: pd.DataFrame
    cumulative: pd.DataFrame
    cohort_change: pd.DataFrame
    second_days: pd.Series
    second_shares: pd.DataFrame
    second_by_channel: pd.DataFrame | None
    engine: queries.DataEngine  # holding every customer's segment (SEGMENTED)
    segmentation: str
    segments: pd.DataFrame
    transitions: pd.DataFrame
    flows: pd.DataFrame
    members: pd.DataFrame | None
    findings: list[Finding]
    kpis: dict[str, dict]


SEGMENTED = "customer_segments"  # the engine's table of every customer's RFM segment now
SEGMENTED_BEFORE = "customer_segments_before"  # and at the previous quarter's end
SECOND_ORDERS = "second_orders"  # the engine's table of every customer's first two orders
CHART_CUSTOMERS = 200_000  # at most this many customers' days make the distribution chart


def customer_export(section: RepurchaseSection) -> CustomerExport:
    """The CRM table: every customer's RFM inputs, scores and segment."""
    return rfm.export(section.engine, SEGMENTED)


def segmentation(config: Config) -> str:
    """The RFM segmentation asked for; `auto` is the 8-class value matrix in Chinese reports
    (what Chinese teams use) and the recency x frequency map otherwise."""
    chosen = config.repurchase.segmentation
    if chosen == "auto":
        return "rfm8" if config.locale.startswith("zh") else "rf_map"
    return chosen


def build_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> RepurchaseSection:
    """Query the engine per grain and derive every repurchase table for the quarter."""
    params, quarter = config.repurchase, config.period
    end = quarter.end
    by_period = queries.repurchase_by_period(engine, end)
    quarterly = add_rates(by_period["quarter"])
    grain = params.cohort_grain
    retention, cumulative = cohort_matrices(
        queries.cohort_activity(engine, grain, end),
        grain,
        end - pd.DateOffset(months=1),  # the last complete month, in the last complete quarter
        params.max_cohort_periods,
    )
    second_orders.keep(engine, SECOND_ORDERS, end)
    windows = params.second_order_windows
    shares = second_orders.shares(engine, SECOND_ORDERS, end, windows)
    by_channel = second_orders.days_by_channel(engine, SECOND_ORDERS)
    kpis = headline_kpis(
        add_rates(by_period[quarter.grain]), (engine, SECOND_ORDERS), periods, windows[-1]
    )
    second_days = queries.evenly_spaced(engine, SECOND_ORDERS, "days_to_second", CHART_CUSTOMERS)
    engine.forget(SECOND_ORDERS)
    scheme = SEGMENTATIONS[segmentation(config)]
    for name, (at, since) in {
        SEGMENTED: (end, quarter.start),
        SEGMENTED_BEFORE: (quarter.start, quarter.previous.start),
    }.items():
        rfm.keep_inputs(engine, f"{name}_inputs", at, since)
        segment_customers(engine, name, f"{name}_inputs", params.rfm_bins, scheme)
        engine.forget(f"{name}_inputs")
    transitions, flows = migration(rfm.transitions(engine, SEGMENTED, SEGMENTED_BEFORE), scheme)
    engine.forget(SEGMENTED_BEFORE)
    members = (
        member_comparison(queries.member_repurchase(engine, periods), config.significance_level)
        if "is_member" in engine.columns("orders")
        else None
    )
    cohort_change = cohorts_against_a_year_earlier(retention, recent=4 if grain == "quarter" else 6)
    return RepurchaseSection(
        quarterly=quarterly,
        monthly=meaningful_returning_rates(add_rates(by_period["month"])),
        retention=retention,
        cumulative=cumulative,
        cohort_change=cohort_change,
        second_days=second_days,
        second_shares=shares,
        second_by_channel=by_channel,
        engine=engine,
        segmentation=scheme.name,
        segments=segment_table(rfm.segment_sums(engine, SEGMENTED), scheme),
        transitions=transitions,
        flows=flows,
        members=members,
        findings=findings(
            kpis,
            cohort_change,
            by_channel,
            flows,
            members,
            comparison_bases(quarter, config.seasonal_quarters),
            params.second_order_windows[-1],
            scheme.name,
        ),
        # every KPI here is a rate, so the relative threshold is never read
        kpis=mark_material(
            kpis,
            config.material_change_pct,  # pragma: no mutate
            config.material_rate_change_pp,
        ),
    )


def latest_full_cohort(end: pd.Timestamp, window: int) -> Quarter:
    """The latest acquisition quarter whose every customer had `window` days by `end`."""
    cohort = Quarter.of(end)
    while cohort.end + pd.Timedelta(days=window) > end:
        cohort = cohort.previous
    return cohort


NO_NEW_CUSTOMERS = Reason("no_new_customers")


def headline_kpis(
    by_period: pd.DataFrame,
    second: tuple[queries.DataEngine, str],
    periods: pd.DataFrame,
    window: int,
) -> dict[str, dict]:
    """Repeat and returning rates of the compared periods (`by_period`: rates per period of
    their grain), and the second-order rate of the latest cohort with a full window as of
    each compared period's end; `second` is the engine and its table of second orders
    (data.second_orders.keep) at the latest period's end. A returning rate with no new
    customers (all customers returning by definition) and a cohort rate with no customers are
    left out."""
    rates = _period_rates(by_period, periods)
    returning = rates["returning_rate"].where(rates["returning_customers"] < rates["customers"])
    cohorts = {row.period: latest_full_cohort(row.end, window) for row in periods.itertuples()}
    cohort_rates = {
        period: second_orders.cohort_rate(*second, cohort, window)
        for period, cohort in cohorts.items()
    }
    records = {
        "repeat_rate": kpi_record("repurchase.repeat_rate", "rate", rates["repeat_rate"].to_dict()),
        "returning_rate": kpi_record("repurchase.returning_rate", "rate", returning.to_dict()),
        f"second_order_{window}d": kpi_record(
            "repurchase.second_order",
            "rate",
            {period: rate for period, (_, rate) in cohort_rates.items()},
            window=window,
            cohorts={p: c.label for p, c in cohorts.items()},
        ),
    }
    if returning.get("current") is None or pd.isna(returning.get("current")):
        records["returning_rate"]["withheld"] = NO_NEW_CUSTOMERS
    if cohort_rates["current"][1] is None:
        records[f"second_order_{window}d"]["withheld"] = Reason(
            "no_customers_acquired", {"cohort": cohorts["current"].label}
        )
    return records


def _second_order_finding(
    record: dict, by_channel: pd.DataFrame | None, bases: tuple[str, ...], window: int
) -> Finding:
    cohorts = record["cohorts"]
    if record.get("withheld"):
        return Finding(
            "repurchase.second_order_withheld", {"window": window, "reason": record["withheld"]}
        )
    compared = {
        basis: {"change": record[basis], "cohort": cohorts[BASE_PERIOD[basis]]}
        for basis in bases
        if record.get(basis) is not None
    }
    fastest = None
    if by_channel is not None and len(by_channel):
        fastest = by_channel.loc[by_channel["median_days"].idxmin()]
    return Finding(
        "repurchase.second_order",
        {
            "window": window,
            "cohort": cohorts["current"],
            "rate": record["current"],
            "compared": compared,
            "fastest_channel": None if fastest is None else fastest["acquisition_channel"],
            "fastest_days": None if fastest is None else fastest["median_days"],
        },
        bases=tuple(compared),
    )


def findings(
    kpis: dict[str, dict],
    cohort_change: pd.DataFrame,
    by_channel: pd.DataFrame | None,
    flows: pd.DataFrame,
    members: pd.DataFrame | None,
    bases: tuple[str, ...],
    window: int,
    segmentation: str = "rf_map",
) -> list[Finding]:
    """What the section says, each change on every comparison basis (kpis.comparison_bases); a
    figure with no meaning for the data is left out with its reason. Tier moves are worded
    for the `segmentation` used."""
    said = []
    for key in ("returning_rate", "repeat_rate"):
        record = kpis[key]
        if record.get("withheld"):
            said.append(
                Finding(
                    "repurchase.rate_withheld",
                    {"kpi": record["key"], "reason": record["withheld"]},
                )
            )
            continue
        said.append(
            Finding(
                "repurchase.rate",
                {
                    "kpi": record["key"],
                    "current": record["current"],
                    "changes": {basis: record.get(basis) for basis in bases},
                },
                bases=bases,
            )
        )
    said.append(_second_order_finding(kpis[f"second_order_{window}d"], by_channel, bases, window))
    if len(cohort_change):
        mean = cohort_change["change_pp"].mean()
        said.append(
            Finding(
                "repurchase.cohort_retention",
                {"mean_change_pp": mean},
                variant="better" if mean > 0 else "worse",
                bases=("yoy",),
            )
        )
    f = flows.set_index("flow")["customers"]
    said.append(
        Finding(
            "repurchase.tier_moves",
            {"moved_up": f["Moved up"], "moved_down": f["Moved down"], "lapsed": f["Lapsed"]},
            variant=segmentation,
            bases=("qoq",),
        )
    )
    if members is not None:
        now = members[members["period"] == "current"].set_index("is_member")
        if {True, False} <= set(now.index):
            said.append(
                Finding(
                    "repurchase.members",
                    {
                        "member_rate": now.loc[True, "repeat_rate"],
                        "non_member_rate": now.loc[False, "repeat_rate"],
                    },
                    variant="significant" if now.loc[True, "significant"] else "not_significant",
                )
            )
    return said
