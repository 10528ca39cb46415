"""Marketing ROI: efficiency by channel and campaign, why ROAS moved, LTV:CAC and payback,
diminishing returns and where the next unit of budget earns most.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from helpers import data_access
from helpers.config import Config
from helpers.formatting import fmt_value
from helpers.kpis import kpi_record

# shown in the report
DEFINITIONS = """CTR = clicks / impressions; CPC = spend / clicks; conversion rate = attributed
orders / clicks; CPA = spend / attributed orders; AOV = attributed revenue / attributed orders;
ROAS = attributed revenue / spend = AOV x conversion rate / CPC; profit ROI = (attributed
revenue x gross margin rate - spend) / spend; CAC = spend / new customers; MER = total net
revenue (orders table) / total spend. Attributed revenue is what the ad platforms report: it
is not incremental revenue, and the response curves inherit that limitation."""

CAVEAT = (
    "Platform-attributed revenue is not incremental revenue: channels claim overlapping "
    "credit, and the curves describe correlation over time, not a controlled test. Treat "
    "the proposal as a hypothesis for a budget test, not a forecast."
)


def _div(a: pd.Series, b: pd.Series) -> pd.Series:
    return a / b.replace(0, np.nan)


def add_measures(frame: pd.DataFrame, margin_rate: float | None) -> pd.DataFrame:
    """Add CTR, CPC, conversion rate, CPA, AOV, ROAS, profit ROI, CAC and budget variance to
    marketing sums (any grain); measures whose inputs are absent are NaN."""
    col = lambda name: frame[name] if name in frame else pd.Series(np.nan, frame.index)  # noqa: E731
    out = frame.copy()
    out["ctr"] = _div(col("clicks"), col("impressions"))
    out["cpc"] = _div(col("spend"), col("clicks"))
    out["conversion_rate"] = _div(col("attributed_orders"), col("clicks"))
    out["cpa"] = _div(col("spend"), col("attributed_orders"))
    out["aov"] = _div(col("attributed_revenue"), col("attributed_orders"))
    out["roas"] = _div(col("attributed_revenue"), col("spend"))
    out["profit_roi"] = (
        _div(col("attributed_revenue") * margin_rate - col("spend"), col("spend"))
        if margin_rate is not None
        else np.nan
    )
    out["cac"] = _div(col("spend"), col("new_customers"))
    out["budget_variance"] = col("spend") - col("budget")
    out["budget_variance_pct"] = _div(out["budget_variance"], col("budget"))
    return out


def roas_decomposition(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """Split the ROAS change into CPC, conversion-rate and order-value effects.

    ROAS = AOV x CVR / CPC, so ln(ROAS1/ROAS0) = ln(AOV1/AOV0) + ln(CVR1/CVR0) - ln(CPC1/CPC0).
    Each log term is scaled by the logarithmic mean L(ROAS1, ROAS0) = (ROAS1 - ROAS0) /
    ln(ROAS1/ROAS0) (LMDI), so the three effects add up exactly to ROAS1 - ROAS0.
    """
    r0, r1 = before["roas"], after["roas"]
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
    return pd.DataFrame(rows)


def ltv_to_cac(
    channel_measures: pd.DataFrame, clv_by_channel: pd.DataFrame | None, horizon_months: int
) -> pd.DataFrame | None:
    """Per paid channel: CAC this quarter, mean CLV of the customers it acquired, LTV:CAC, and
    months to pay back CAC from margin (CLV spread evenly over the horizon: an approximation)."""
    if clv_by_channel is None:
        return None
    now = channel_measures[channel_measures["period"] == "current"]
    table = now[["channel", "spend", "new_customers", "cac"]].merge(
        clv_by_channel.rename(columns={"acquisition_channel": "channel"})[["channel", "clv_mean"]],
        on="channel",
        how="left",
    )
    table["ltv_cac"] = table["clv_mean"] / table["cac"]
    table["payback_months"] = table["cac"] / (table["clv_mean"] / horizon_months)
    return table


def hill(spend, top: float, half: float, shape: float):
    """Saturating response: top * s^shape / (half^shape + s^shape)."""
    spend = np.asarray(spend, dtype=float)
    return top * spend**shape / (half**shape + spend**shape)


def marginal_roas(spend, top: float, half: float, shape: float):
    """d revenue / d spend of the Hill curve."""
    spend = np.asarray(spend, dtype=float)
    return top * shape * half**shape * spend ** (shape - 1) / (half**shape + spend**shape) ** 2


def fit_response(spend: np.ndarray, revenue: np.ndarray) -> dict:
    """Least-squares Hill fit with its R^2; parameters NaN and R^2 -inf if it fails."""
    start = [revenue.max() * 2, np.median(spend), 1.0]
    bounds = ([0, spend.min() * 0.01 + 1e-9, 0.3], [revenue.max() * 100, spend.max() * 100, 3.0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(hill, spend, revenue, p0=start, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError):
        return {"top": np.nan, "half": np.nan, "shape": np.nan, "r2": -np.inf}
    residual = revenue - hill(spend, *params)
    r2 = 1 - (residual**2).sum() / ((revenue - revenue.mean()) ** 2).sum()
    return {"top": params[0], "half": params[1], "shape": params[2], "r2": float(r2)}


def response_curves(
    weekly: pd.DataFrame, current_weekly_spend: pd.Series, min_r2: float
) -> pd.DataFrame:
    """Per channel: Hill fit of weekly revenue on weekly spend, its R^2, whether it is good
    enough to act on, the current weekly spend, revenue and marginal ROAS there."""
    rows = []
    for channel, group in weekly.groupby("channel"):
        fit = fit_response(group["spend"].to_numpy(), group["revenue"].to_numpy())
        spend = float(current_weekly_spend.get(channel, np.nan))
        rows.append(
            {
                "channel": channel,
                **fit,
                "weeks": len(group),
                "usable": fit["r2"] >= min_r2,
                "current_spend": spend,
                "marginal_roas": float(marginal_roas(spend, fit["top"], fit["half"], fit["shape"])),
            }
        )
    return pd.DataFrame(rows)


def reallocate(curves: pd.DataFrame, max_shift: float) -> pd.DataFrame:
    """Move the same total weekly budget between channels with usable fits so that marginal
    ROAS is as equal as the bounds allow (each channel within +-max_shift of its spend).

    Solved by bisection on the common marginal ROAS: each channel spends where its marginal
    ROAS equals it (clipped to its bounds), and the total matches the current total. Channels
    with poor fits keep their spend.
    """
    usable = curves[curves["usable"] & (curves["current_spend"] > 0)].copy()
    out = curves.assign(proposed_spend=curves["current_spend"])
    if len(usable) < 2:
        return out.assign(change=0.0)
    low, high = usable["current_spend"] * (1 - max_shift), usable["current_spend"] * (1 + max_shift)
    total = usable["current_spend"].sum()

    def spend_at(level: float) -> pd.Series:
        grid = np.linspace(low, high, 400)  # per channel, marginal ROAS decreasing on the grid
        margins = marginal_roas(
            grid, usable["top"].to_numpy(), usable["half"].to_numpy(), usable["shape"].to_numpy()
        )
        index = (margins >= level).sum(axis=0).clip(1, len(grid)) - 1
        return pd.Series(grid[index, np.arange(len(usable))], index=usable.index)

    lo, hi = 0.0, float(marginal_roas(low, usable["top"], usable["half"], usable["shape"]).max())
    for _ in range(60):
        level = (lo + hi) / 2
        lo, hi = (level, hi) if spend_at(level).sum() > total else (lo, level)
    proposed = spend_at(hi)
    proposed *= total / proposed.sum() if proposed.sum() > total else 1.0
    out.loc[usable.index, "proposed_spend"] = proposed
    return out.assign(change=out["proposed_spend"] - out["current_spend"])


def findings(
    total: pd.DataFrame,
    channels: pd.DataFrame,
    decomposition: pd.DataFrame,
    ltv: pd.DataFrame | None,
    plan: pd.DataFrame,
    mer: dict,
    currency: str,
    reference: float,
) -> list[str]:
    """Plain-language findings from the numbers."""
    by = total.set_index("period")
    now, before = by.loc["current"], by.loc["previous"]
    notes = [
        f"Marketing spend was {fmt_value(now['spend'], 'currency', currency)} "
        f"({now['spend'] / before['spend'] - 1:+.1%} on the previous quarter) for a platform-"
        f"reported ROAS of {now['roas']:.2f} (previous quarter {before['roas']:.2f}); "
        f"MER, all net revenue per unit of spend, was {mer['current']:.2f}."
    ]
    if len(decomposition):
        biggest = (
            decomposition.set_index("channel")["roas_after"]
            .sub(decomposition.set_index("channel")["roas_before"])
            .abs()
            .idxmax()
        )
        row = decomposition.set_index("channel").loc[biggest]
        effects = {
            "cheaper or dearer clicks": row["cpc_effect"],
            "conversion": row["conversion_effect"],
            "order value": row["aov_effect"],
        }
        driver = max(effects, key=lambda k: abs(effects[k]))
        notes.append(
            f"{biggest} moved most: ROAS {row['roas_before']:.2f} -> "
            f"{row['roas_after']:.2f}, mainly through {driver} "
            f"({effects[driver]:+.2f})."
        )
    if ltv is not None and ltv["ltv_cac"].notna().any():
        best = ltv.loc[ltv["ltv_cac"].idxmax()]
        below = ltv.loc[ltv["ltv_cac"] < reference, "channel"].tolist()
        notes.append(
            f"{best['channel']} has the best LTV:CAC ({best['ltv_cac']:.1f}:1)"
            + (
                f"; below the {reference:.0f}:1 reference: {', '.join(below)}."
                if below
                else f"; every paid channel clears {reference:.0f}:1."
            )
        )
    moves = plan[plan["change"].abs() > 0.01 * plan["current_spend"]]
    if len(moves):
        gain = moves.loc[moves["change"].idxmax()]
        lose = moves.loc[moves["change"].idxmin()]
        notes.append(
            f"Equalising marginal returns would shift about "
            f"{fmt_value(gain['change'], 'currency', currency)} a week from "
            f"{lose['channel']} to {gain['channel']} (platform-attributed revenue, "
            "not tested incrementality)."
        )
    poor = plan.loc[~plan["usable"], "channel"].tolist()
    if poor:
        notes.append(f"No recommendation for {', '.join(poor)}: the response curve fits poorly.")
    return notes


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
    findings: list[str]
    kpis: dict[str, dict]


def build_section(
    engine: data_access.DataEngine,
    config: Config,
    periods: pd.DataFrame,
    clv_by_channel: pd.DataFrame | None,
) -> MarketingSection:
    """Query the marketing table per grain and derive every ROI table."""
    params, quarter = config.marketing, config.period
    margin = data_access.gross_margin_rate(engine, quarter.end) if engine.has("orders") else None
    total = add_measures(data_access.marketing_by_period(engine, periods), margin)
    channels = add_measures(data_access.marketing_by_period(engine, periods, ["channel"]), margin)
    has_campaign = "campaign" in engine.columns("marketing")
    campaigns = (
        add_measures(
            data_access.marketing_by_period(engine, periods, ["channel", "campaign"]), margin
        )
        if has_campaign
        else channels
    )
    weekly = data_access.marketing_weekly(engine, quarter.end)
    now = weekly[weekly["week"] >= quarter.start]
    curves = response_curves(weekly, now.groupby("channel")["spend"].mean(), params.min_fit_r2)
    plan = reallocate(curves, params.max_budget_shift_pct / 100)
    net = (
        data_access.orders_by_period(engine, periods).set_index("period")["net_revenue"]
        if engine.has("orders")
        else pd.Series(np.nan, index=periods["period"])
    )
    mer = (net / total.set_index("period")["spend"]).to_dict()
    by_total = total.set_index("period")
    decomposition = decompose_by(channels, "channel")
    ltv = ltv_to_cac(channels, clv_by_channel, config.clv.horizon_months)
    kpis = {
        "spend": kpi_record("Marketing spend", "currency", by_total["spend"].to_dict()),
        "roas": kpi_record("ROAS (platform-attributed)", "ratio", by_total["roas"].to_dict()),
        "profit_roi": kpi_record("Profit ROI", "ratio", by_total["profit_roi"].to_dict()),
        "cac": kpi_record("CAC", "currency", by_total["cac"].to_dict()),
        "mer": kpi_record("MER (net revenue / spend)", "ratio", mer),
    }
    return MarketingSection(
        total=total,
        channels=channels,
        campaigns=campaigns,
        decomposition=decomposition,
        total_decomposition=roas_decomposition(by_total.loc["previous"], by_total.loc["current"]),
        ltv=ltv,
        curves=curves,
        weekly=weekly,
        plan=plan,
        margin_rate=margin,
        findings=findings(
            total,
            channels,
            decomposition,
            ltv,
            plan,
            mer,
            config.currency,
            params.ltv_cac_reference,
        ),
        kpis=kpis,
    )
