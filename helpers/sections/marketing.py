"""Marketing ROI: efficiency by channel and campaign, why ROAS moved, LTV:CAC and payback,
diminishing returns and where the next unit of budget earns most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.periods import COMPARISONS
from helpers.data import queries
from helpers.models.response import reallocate, response_curves
from helpers.models.valuation import margin_rates
from helpers.sections import pacing
from helpers.sections.findings import Finding
from helpers.sections.kpis import change, known, kpi_record, mark_material, table_records
from helpers.sections.pacing import Pacing


def _div(a: pd.Series, b: pd.Series) -> pd.Series:
    return a / b.replace(0, np.nan)


def add_measures(frame: pd.DataFrame, margin_rate: float | None) -> pd.DataFrame:
    """Add CTR, CPC, conversion rate, CPA, AOV, ROAS, contribution margin (attributed revenue
    x gross margin rate - spend), profit ROI (that over spend), CAC and budget variance to
    marketing sums (any grain); measures whose inputs are absent are NaN."""
    unknown = pd.Series(np.nan, frame.index)  # pragma: no mutate (NaN however it is made)
    col = lambda name: frame.get(name, unknown)  # noqa: E731
    out = frame.copy()
    out["ctr"] = _div(col("clicks"), col("impressions"))
    out["cpc"] = _div(col("spend"), col("clicks"))
    out["conversion_rate"] = _div(col("attributed_orders"), col("clicks"))
    out["cpa"] = _div(col("spend"), col("attributed_orders"))
    out["aov"] = _div(col("attributed_revenue"), col("attributed_orders"))
    out["roas"] = _div(col("attributed_revenue"), col("spend"))
    contribution = (
        col("attributed_revenue") * margin_rate - col("spend")
        if margin_rate is not None
        else np.nan
    )
    out["contribution_margin"] = contribution  # gross margin of the revenue, after the spend
    out["profit_roi"] = _div(contribution, col("spend"))  # NaN without a margin rate
    out["cac"] = _div(col("spend"), col("new_customers"))
    out["budget_variance"] = col("spend") - col("budget")
    out["budget_variance_pct"] = _div(out["budget_variance"], col("budget"))
    return out


ROAS_DRIVERS = {"cpc": "cpc_effect", "conversion": "conversion_effect", "aov": "aov_effect"}


def roas_decomposition(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """Split the ROAS change into CPC, conversion-rate and order-value effects.

    ROAS = AOV x CVR / CPC, so ln(ROAS1/ROAS0) = ln(AOV1/AOV0) + ln(CVR1/CVR0) - ln(CPC1/CPC0).
    Each log term is scaled by the logarithmic mean L(ROAS1, ROAS0) = (ROAS1 - ROAS0) /
    ln(ROAS1/ROAS0) (LMDI), so the three effects add up exactly to ROAS1 - ROAS0. Where a
    ratio is 0 or unknown in either period (no return; revenue attributed without orders) there
    is no such split: the effects are NaN.
    """
    r0, r1 = before["roas"], after["roas"]
    parts = ("roas", "cpc", "conversion_rate", "aov")
    if not all(row[part] > 0 for row in (before, after) for part in parts):
        effects = dict.fromkeys(ROAS_DRIVERS.values(), np.nan)
        return {"roas_before": r0, "roas_after": r1, **effects}
    weight = r0 if np.isclose(r0, r1) else (r1 - r0) / np.log(r1 / r0)
    return {
        "roas_before": r0,
        "roas_after": r1,
        "cpc_effect": -weight * np.log(after["cpc"] / before["cpc"]),
        "conversion_effect": weight * np.log(after["conversion_rate"] / before["conversion_rate"]),
        "aov_effect": weight * np.log(after["aov"] / before["aov"]),
    }


def decompose_by(measures: pd.DataFrame, key: str, base: str = "previous") -> pd.DataFrame:
    """ROAS decomposition between `base` and the current period for every `key` value."""
    rows = []
    for value, group in measures.groupby(key):
        periods = group.set_index("period")
        if {"current", base} <= set(periods.index):
            rows.append(
                {key: value, **roas_decomposition(periods.loc[base], periods.loc["current"])}
            )
    columns = [key, "roas_before", "roas_after", *ROAS_DRIVERS.values()]
    return pd.DataFrame(rows, columns=columns)  # no row without both periods, same columns


def ltv_to_cac(
    channel_measures: pd.DataFrame, clv_by_channel: pd.DataFrame | None, horizon_months: int
) -> pd.DataFrame | None:
    """Per paid channel, for this quarter's new customers: paid CAC (spend / platform-reported
    new customers), blended CAC (spend / new customers the orders table attributes to the
    channel), their value (first-purchase value plus CLV over the horizon, in the CLV's basis:
    margin when order costs are known), LTV:CAC on paid CAC, and months to pay paid CAC back
    (first purchase at once, then CLV spread evenly over the horizon: an approximation)."""
    if clv_by_channel is None:
        return None
    now = channel_measures[channel_measures["period"] == "current"]
    values = clv_by_channel.rename(
        columns={"acquisition_channel": "channel", "new_customers": "acquired"}
    )[["channel", "acquired", "new_clv_mean", "new_first_value_mean"]]
    table = now[["channel", "spend", "new_customers", "cac"]].join(
        values.set_index("channel"), on="channel"
    )
    table["blended_cac"] = _div(table["spend"], table["acquired"])
    table["ltv"] = table["new_first_value_mean"] + table["new_clv_mean"]
    table["ltv_cac"] = table["ltv"] / table["cac"]
    monthly = table["new_clv_mean"] / horizon_months
    table["payback_months"] = ((table["cac"] - table["new_first_value_mean"]) / monthly).clip(
        lower=0
    )
    return table


def moved_most(decomposition: pd.DataFrame, channels: pd.DataFrame) -> pd.Series | None:
    """The channel whose ROAS change moved the most attributed revenue: |ROAS change| x this
    quarter's spend (a large swing on a small budget matters less), with its decomposition;
    among the channels whose change splits into its drivers (roas_decomposition)."""
    if decomposition.empty:
        return None
    # a row whose effects are known has every column known: any other subset drops the same
    split = decomposition.dropna(subset=list(ROAS_DRIVERS.values()))  # pragma: no mutate
    if split.empty:
        return None
    spend = channels[channels["period"] == "current"].set_index("channel")["spend"]
    table = split.set_index("channel")
    change = table["roas_after"] - table["roas_before"]
    at_stake = change * spend.reindex(table.index)  # pragma: no mutate (aligned either way)
    if at_stake.abs().isna().all():
        return None
    row = table.loc[at_stake.abs().idxmax()].copy()
    row["revenue_at_stake"], row["spend"] = at_stake.loc[row.name], spend.loc[row.name]
    return row


def _moved(now: float | None, before: float | None) -> float | None:
    """How far an amount moved, when both are known."""
    now, before = known(now), known(before)
    return None if now is None or before is None else abs(now - before)


WEEKS_PER_QUARTER = 13  # the plan is weekly; its stake is a quarter of the budget it moves


def reallocation_finding(plan: pd.DataFrame, margin_rate: float | None) -> Finding | None:
    """Every move the plan makes, what it holds back, and whether each added unit pays back its
    margin (judged only with a margin rate); None when it moves nothing."""
    moves = plan[plan["change"].abs() > 0.01 * plan["current_spend"]]
    if moves.empty:
        return None
    # no move is 0 (it would not be over 1% of the spend): < 0 and <= 0 are the same here
    cuts = moves[moves["change"] < 0].sort_values("change")  # pragma: no mutate
    adds = moves[moves["change"] > 0].sort_values("change", ascending=False)  # pragma: no mutate
    held = -moves["change"].sum()
    losing = (
        adds[adds["marginal_roas_after"] * margin_rate < 1]["channel"].tolist()
        if margin_rate is not None
        else []
    )
    return Finding(
        "marketing.reallocation",
        {
            "cuts": table_records(cuts[["channel", "change"]]),
            "adds": table_records(adds[["channel", "change"]]),
            "held": held if held > 0.01 * plan["current_spend"].sum() else None,
            "margin_rate": margin_rate,
            "losing": losing,
        },
        stake=WEEKS_PER_QUARTER * float(-cuts["change"].sum()),  # a quarter of the cuts
    )


def findings(
    total: pd.DataFrame,
    channels: pd.DataFrame,
    decomposition: pd.DataFrame,
    ltv: pd.DataFrame | None,
    plan: pd.DataFrame,
    mer: dict,
    margin_rate: float | None,
    reference: float,
) -> list[Finding]:
    """What the section says, each finding naming its comparison."""
    by = total.set_index("period").reindex(COMPARISONS)  # no previous quarter: all unknown
    now, before = by.loc["current"], by.loc["previous"]
    said = [
        Finding(
            "marketing.spend",
            {
                "spend": now["spend"],
                # spend is an amount: any unit but a rate's gives the relative change
                "growth": change(now["spend"], before["spend"], "currency"),  # pragma: no mutate
                "roas": now["roas"],
                "previous_roas": known(before["roas"]),
                "mer": mer["current"],
            },
            bases=("qoq",),
            stake=_moved(now.get("attributed_revenue"), before.get("attributed_revenue")),
        )
    ]
    row = moved_most(decomposition, channels)
    if row is not None:
        driver = max(ROAS_DRIVERS, key=lambda k: abs(row[ROAS_DRIVERS[k]]))
        said.append(
            Finding(
                "marketing.moved_most",
                {
                    "channel": row.name,
                    "roas_before": row["roas_before"],
                    "roas_after": row["roas_after"],
                    "spend": row["spend"],
                    "revenue_at_stake": row["revenue_at_stake"],
                    "driver": driver,
                    "effect": row[ROAS_DRIVERS[driver]],
                },
                bases=("qoq",),
                stake=row["revenue_at_stake"],
            )
        )
    if ltv is not None and ltv["ltv_cac"].notna().any():
        best = ltv.loc[ltv["ltv_cac"].idxmax()]
        below = ltv.loc[ltv["ltv_cac"] < reference, "channel"].tolist()
        spent = channels[(channels["period"] == "current") & channels["channel"].isin(below)]
        said.append(
            Finding(
                "marketing.ltv_cac",
                {
                    "channel": best["channel"],
                    "ltv_cac": best["ltv_cac"],
                    "reference": reference,
                    "below": below,
                },
                variant="some_below" if below else "all_clear",
                stake=float(spent["spend"].sum()) if below else None,
            )
        )
    moves = reallocation_finding(plan, margin_rate)
    if moves is not None:
        said.append(moves)
    poor = plan.loc[~plan["usable"] & plan["problem"].isna(), "channel"].tolist()
    if poor:
        said.append(Finding("marketing.poor_fit", {"channels": poor}))
    for row in plan[plan["problem"].notna()].itertuples():
        said.append(Finding("marketing.not_fitted", {"channel": row.channel}, variant=row.problem))
    return said


@dataclass
class MarketingSection:
    """Every table the marketing notebook shows."""

    total: pd.DataFrame
    channels: pd.DataFrame
    campaigns: pd.DataFrame
    decomposition: pd.DataFrame
    total_decomposition: dict
    ltv: pd.DataFrame | None
    curves: pd.DataFrame
    weekly: pd.DataFrame
    plan: pd.DataFrame
    margin_rate: float | None
    findings: list[Finding]
    kpis: dict[str, dict]
    pacing: Pacing | None = None  # None without budgets

    def roas_bridge(self) -> dict[str, float] | None:
        """The ROAS bridge's steps (ROAS before, the three effects, ROAS after), or None where
        the change does not split into its drivers (roas_decomposition)."""
        steps = ("roas_before", *ROAS_DRIVERS.values(), "roas_after")
        values = {step: self.total_decomposition[step] for step in steps}
        return None if any(pd.isna(value) for value in values.values()) else values

    def budget_records(self) -> dict[str, list[dict] | None]:
        """The budget lines per channel and per campaign, for metrics.json (the index's
        alerts); None without budgets (or campaigns)."""
        paced = self.pacing
        return {
            "budget_lines": None if paced is None else table_records(paced.channels),
            "campaign_budget_lines": (
                None if paced is None or paced.campaigns is None else table_records(paced.campaigns)
            ),
        }


def build_section(
    engine: queries.DataEngine,
    config: Config,
    periods: pd.DataFrame,
    clv_by_channel: pd.DataFrame | None,
) -> MarketingSection:
    """Query the marketing table per grain and derive every ROI table."""
    params, quarter = config.marketing, config.period
    margin, rejected = margin_rates(engine, quarter.end) if engine.has("orders") else (None, None)
    by_channel, by_campaign = ["channel"], ["channel", "campaign"]  # pragma: no mutate (SQL case)
    total = add_measures(queries.marketing_by_period(engine, periods), margin)
    channels = add_measures(queries.marketing_by_period(engine, periods, by_channel), margin)
    has_campaign = "campaign" in engine.columns("marketing")
    campaigns = (
        add_measures(queries.marketing_by_period(engine, periods, by_campaign), margin)
        if has_campaign
        else channels
    )
    weekly = queries.marketing_weekly(engine, quarter.end)
    now = weekly[weekly["week"] >= quarter.start]
    curves = response_curves(weekly, now.groupby("channel")["spend"].mean(), params.min_fit_r2)
    plan = reallocate(curves, params.max_budget_shift_pct / 100, margin)
    if engine.has("orders"):
        orders = queries.orders_by_period(engine, periods).set_index("period")
    else:  # every figure from the orders unknown (NaN however the frame is made)
        columns = ["net_revenue", "new_customers"]
        orders = pd.DataFrame(np.nan, periods["period"], columns)  # pragma: no mutate
    spend = total.set_index("period")["spend"]
    mer = (orders["net_revenue"] / spend).to_dict()
    new_customers = orders["new_customers"].reindex(spend.index)  # pragma: no mutate (aligned)
    blended_cac = _div(spend, new_customers).to_dict()
    by_total = total.set_index("period")
    decomposition = decompose_by(channels, "channel")
    ltv = ltv_to_cac(channels, clv_by_channel, config.clv.horizon_months)
    kpis = {
        "spend": kpi_record("marketing.spend", "currency", by_total["spend"].to_dict()),
        "roas": kpi_record("marketing.roas", "ratio", by_total["roas"].to_dict()),
        "profit_roi": kpi_record("marketing.profit_roi", "ratio", by_total["profit_roi"].to_dict()),
        "contribution_margin": kpi_record(
            "marketing.contribution_margin", "currency", by_total["contribution_margin"].to_dict()
        ),
        "cac": kpi_record("marketing.cac", "currency", by_total["cac"].to_dict()),
        "blended_cac": kpi_record("marketing.blended_cac", "currency", blended_cac),
        "mer": kpi_record("marketing.mer", "ratio", mer),
    }
    said = findings(
        total,
        channels,
        decomposition,
        ltv,
        plan,
        mer,
        margin,
        params.ltv_cac_reference,
    )
    if rejected is not None:
        said.insert(1, Finding("common.margin_rejected", {"rate": rejected}))
    daily = queries.marketing_daily(engine, config.period.start, config.period.end)
    paced = pacing.budget_pacing(daily, config.alerts, config.period)
    if paced is not None:
        said += pacing.findings(paced.channels, paced.campaigns)
    return MarketingSection(
        total=total,
        channels=channels,
        campaigns=campaigns,
        decomposition=decomposition,
        total_decomposition=roas_decomposition(
            by_total.reindex(COMPARISONS).loc["previous"], by_total.loc["current"]
        ),
        ltv=ltv,
        curves=curves,
        weekly=weekly,
        plan=plan,
        margin_rate=margin,
        findings=said,
        # no KPI here is a rate, so the rate threshold is never read
        kpis=mark_material(
            kpis,
            config.material_change_pct,
            config.material_rate_change_pp,  # pragma: no mutate
        ),
        pacing=paced,
    )
