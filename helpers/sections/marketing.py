"""Marketing ROI: efficiency by channel and campaign, why ROAS moved, LTV:CAC and payback,
diminishing returns and where the next unit of budget earns most.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from helpers.core.config import Config
from helpers.data import queries
from helpers.render.formats import fmt_value
from helpers.sections.kpis import change, kpi_record

# shown in the report
DEFINITIONS = """CTR = clicks / impressions; CPC = spend / clicks; conversion rate = attributed
orders / clicks; CPA = spend / attributed orders; AOV = attributed revenue / attributed orders;
ROAS = attributed revenue / spend = AOV x conversion rate / CPC; profit ROI = (attributed
revenue x gross margin rate - spend) / spend; paid CAC = spend / platform-reported new
customers; blended CAC = spend / all new customers in the orders table (for a channel: those
whose first order came through it); MER = total net revenue (orders table) / total spend.
Changes of ratios (ROAS, profit ROI, MER) are differences, not percentages. Attributed
revenue is what the ad platforms report: it is not incremental revenue, and the response
curves inherit that limitation."""

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
    table = now[["channel", "spend", "new_customers", "cac"]].merge(
        values, on="channel", how="left"
    )
    table["blended_cac"] = _div(table["spend"], table["acquired"])
    table["ltv"] = table["new_first_value_mean"] + table["new_clv_mean"]
    table["ltv_cac"] = table["ltv"] / table["cac"]
    monthly = table["new_clv_mean"] / horizon_months
    table["payback_months"] = ((table["cac"] - table["new_first_value_mean"]) / monthly).clip(
        lower=0
    )
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


def reallocate(
    curves: pd.DataFrame, max_shift: float, margin_rate: float | None = None
) -> pd.DataFrame:
    """Move at most the same total weekly budget between channels with usable fits so that
    marginal ROAS is as equal as the bounds allow (each channel within +-max_shift of its
    spend), never spending where the next unit of spend loses money: with a margin rate, no
    channel spends beyond where marginal ROAS x margin falls to 1, and budget that would only
    go there is held back (the proposed total is then below today's).

    Solved by bisection on the common marginal ROAS: each channel spends where its marginal
    ROAS equals it (clipped to its bounds), and the total matches the current total. Channels
    with poor fits keep their spend. Adds proposed_spend, change and marginal_roas_after."""
    usable = curves[curves["usable"] & (curves["current_spend"] > 0)].copy()
    out = curves.assign(proposed_spend=curves["current_spend"])
    if len(usable) >= 2:
        out.loc[usable.index, "proposed_spend"] = _equalised_spend(usable, max_shift, margin_rate)
    return out.assign(
        change=out["proposed_spend"] - out["current_spend"],
        marginal_roas_after=marginal_roas(
            out["proposed_spend"], out["top"], out["half"], out["shape"]
        ),
    )


def _equalised_spend(usable: pd.DataFrame, max_shift: float, margin_rate: float | None):
    low, high = usable["current_spend"] * (1 - max_shift), usable["current_spend"] * (1 + max_shift)
    total = usable["current_spend"].sum()
    curve = [usable[k].to_numpy() for k in ("top", "half", "shape")]

    def spend_at(level: float) -> pd.Series:
        grid = np.linspace(low, high, 400)  # per channel, marginal ROAS decreasing on the grid
        index = (marginal_roas(grid, *curve) >= level).sum(axis=0).clip(1, len(grid)) - 1
        return pd.Series(grid[index, np.arange(len(usable))], index=usable.index)

    # invariant: spend_at(hi) stays within the total (at hi's start every channel is at its floor)
    lo, hi = 0.0, float(marginal_roas(low, *curve).max())
    for _ in range(60):
        level = (lo + hi) / 2
        lo, hi = (level, hi) if spend_at(level).sum() > total else (lo, level)
    break_even = 1 / margin_rate if margin_rate else 0.0
    return spend_at(max(hi, break_even))


def _money(value: float, currency: str) -> str:
    return fmt_value(value, "currency", currency)


def moved_most(decomposition: pd.DataFrame, channels: pd.DataFrame) -> pd.Series | None:
    """The channel whose ROAS change moved the most attributed revenue: |ROAS change| x this
    quarter's spend (a large swing on a small budget matters less), with its decomposition."""
    if decomposition.empty:
        return None
    spend = channels[channels["period"] == "current"].set_index("channel")["spend"]
    table = decomposition.set_index("channel")
    at_stake = (table["roas_after"] - table["roas_before"]) * spend.reindex(table.index)
    if at_stake.abs().isna().all():
        return None
    row = table.loc[at_stake.abs().idxmax()].copy()
    row["revenue_at_stake"], row["spend"] = at_stake.loc[row.name], spend.loc[row.name]
    return row


def reallocation_finding(plan: pd.DataFrame, margin_rate: float | None, currency: str) -> str:
    """Every move the plan makes, and whether each added unit pays back its margin."""
    moves = plan[plan["change"].abs() > 0.01 * plan["current_spend"]]
    if moves.empty:
        return ""
    cuts = moves[moves["change"] < 0].sort_values("change")
    adds = moves[moves["change"] > 0].sort_values("change", ascending=False)

    def listed(rows: pd.DataFrame) -> str:
        return ", ".join(
            f"{row.channel} ({'+' if row.change > 0 else ''}{_money(row.change, currency)})"
            for row in rows.itertuples()
        )

    text = "Equalising marginal returns would change weekly spend: " + "; ".join(
        part
        for part in (
            f"cut {listed(cuts)}" if len(cuts) else "",
            f"add to {listed(adds)}" if len(adds) else "",
        )
        if part
    )
    held = -moves["change"].sum()
    if held > 0.01 * plan["current_spend"].sum():
        text += f"; hold back {_money(held, currency)} that would not pay back its margin"
    if margin_rate is None:
        return (
            text + " (platform-attributed revenue; order costs unknown, so not judged on margin)."
        )
    losing = adds[adds["marginal_roas_after"] * margin_rate < 1]["channel"].tolist()
    judged = (
        f"; at the proposed spend, adding to {', '.join(losing)} would lose money on the margin "
        f"(marginal ROAS x margin {margin_rate:.0%} below 1)"
        if losing
        else ""
    )
    return text + judged + " (platform-attributed revenue, not tested incrementality)."


def findings(
    total: pd.DataFrame,
    channels: pd.DataFrame,
    decomposition: pd.DataFrame,
    ltv: pd.DataFrame | None,
    plan: pd.DataFrame,
    mer: dict,
    margin_rate: float | None,
    currency: str,
    reference: float,
) -> list[str]:
    """Plain-language findings from the numbers, each naming its comparison."""
    by = total.set_index("period")
    now, before = by.loc["current"], by.loc["previous"]
    growth = change(now["spend"], before["spend"], "currency")
    notes = [
        f"Marketing spend was {_money(now['spend'], currency)}"
        + (f" ({growth:+.1%} on the previous quarter)" if growth is not None else "")
        + f" for a platform-reported ROAS of {now['roas']:.2f} (previous quarter "
        f"{before['roas']:.2f}); MER, all net revenue per unit of spend, was {mer['current']:.2f}."
    ]
    row = moved_most(decomposition, channels)
    if row is not None:
        effects = {
            "cheaper or dearer clicks": row["cpc_effect"],
            "conversion": row["conversion_effect"],
            "order value": row["aov_effect"],
        }
        driver = max(effects, key=lambda k: abs(effects[k]))
        notes.append(
            f"{row.name} moved the most attributed revenue against the previous quarter: ROAS "
            f"{row['roas_before']:.2f} -> {row['roas_after']:.2f} on "
            f"{_money(row['spend'], currency)} of spend "
            f"({_money(row['revenue_at_stake'], currency)} of revenue), mainly through "
            f"{driver} ({effects[driver]:+.2f})."
        )
    if ltv is not None and ltv["ltv_cac"].notna().any():
        best = ltv.loc[ltv["ltv_cac"].idxmax()]
        below = ltv.loc[ltv["ltv_cac"] < reference, "channel"].tolist()
        notes.append(
            f"For this quarter's new customers, {best['channel']} has the best LTV:CAC "
            f"({best['ltv_cac']:.1f}:1 on paid CAC)"
            + (
                f"; below the {reference:.0f}:1 reference: {', '.join(below)}."
                if below
                else f"; every paid channel clears {reference:.0f}:1."
            )
        )
    moves = reallocation_finding(plan, margin_rate, currency)
    if moves:
        notes.append(moves)
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
    engine: queries.DataEngine,
    config: Config,
    periods: pd.DataFrame,
    clv_by_channel: pd.DataFrame | None,
) -> MarketingSection:
    """Query the marketing table per grain and derive every ROI table."""
    params, quarter = config.marketing, config.period
    margin = queries.gross_margin_rate(engine, quarter.end) if engine.has("orders") else None
    total = add_measures(queries.marketing_by_period(engine, periods), margin)
    channels = add_measures(queries.marketing_by_period(engine, periods, ["channel"]), margin)
    has_campaign = "campaign" in engine.columns("marketing")
    campaigns = (
        add_measures(queries.marketing_by_period(engine, periods, ["channel", "campaign"]), margin)
        if has_campaign
        else channels
    )
    weekly = queries.marketing_weekly(engine, quarter.end)
    now = weekly[weekly["week"] >= quarter.start]
    curves = response_curves(weekly, now.groupby("channel")["spend"].mean(), params.min_fit_r2)
    plan = reallocate(curves, params.max_budget_shift_pct / 100, margin)
    orders = (
        queries.orders_by_period(engine, periods).set_index("period")
        if engine.has("orders")
        else pd.DataFrame(np.nan, index=periods["period"], columns=["net_revenue", "new_customers"])
    )
    spend = total.set_index("period")["spend"]
    mer = (orders["net_revenue"] / spend).to_dict()
    blended_cac = _div(spend, orders["new_customers"].reindex(spend.index)).to_dict()
    by_total = total.set_index("period")
    decomposition = decompose_by(channels, "channel")
    ltv = ltv_to_cac(channels, clv_by_channel, config.clv.horizon_months)
    kpis = {
        "spend": kpi_record("Marketing spend", "currency", by_total["spend"].to_dict()),
        "roas": kpi_record("ROAS (platform-attributed)", "ratio", by_total["roas"].to_dict()),
        "profit_roi": kpi_record("Profit ROI", "ratio", by_total["profit_roi"].to_dict()),
        "cac": kpi_record(
            "Paid CAC (spend / platform-reported new customers)",
            "currency",
            by_total["cac"].to_dict(),
        ),
        "blended_cac": kpi_record(
            "Blended CAC (spend / all new customers)", "currency", blended_cac
        ),
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
            margin,
            config.currency,
            params.ltv_cac_reference,
        ),
        kpis=kpis,
    )
