"""Budget pacing and alerts: spend against budget day by day, week by week and month by month
through the period (cumulative actual against plan), by channel and by campaign, and an alert
level for every budget line, every headline KPI with a target and every other target that
strays from plan by more than the thresholds in the params (`alerts`: watch and act, in
percent): on track, watch, act."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.core.config import AlertParams
from helpers.core.periods import Period
from helpers.sections.findings import Finding
from helpers.sections.kpis import known

LEVELS = ("act", "watch", "on_track")  # most urgent first


def level(deviation: float | None, params: AlertParams) -> str | None:
    """The alert level of a deviation from plan (a fraction: -0.2 = 20% short); None when
    there is no plan to deviate from."""
    if deviation is None:
        return None
    size = abs(deviation) * 100
    if size > params.act_pct:
        return "act"
    return "watch" if size > params.watch_pct else "on_track"


def pacing(daily: pd.DataFrame) -> pd.DataFrame:
    """Cumulative spend and budget by day through the period, in total and per channel
    (`daily`: date, channel, spend, budget, and any further split such as campaign): columns
    date, channel ("" for the total), spend, budget (both cumulative)."""
    daily = daily.groupby(["date", "channel"])[["spend", "budget"]].sum().reset_index()
    total = daily.groupby("date")[["spend", "budget"]].sum().reset_index().assign(channel="")
    both = pd.concat([daily, total]).sort_values(["channel", "date"])
    sums = both.groupby("channel")[["spend", "budget"]].cumsum()
    both[["spend", "budget"]] = sums.to_numpy()
    return both[["date", "channel", "spend", "budget"]].reset_index(drop=True)


def by_month(daily: pd.DataFrame, params: AlertParams) -> pd.DataFrame:
    """Spend against budget per month of the period, and both to date (to_date)."""
    return to_date(daily, daily["date"].dt.to_period("M").dt.start_time, params)


def by_week(daily: pd.DataFrame, params: AlertParams, first_day: pd.Timestamp) -> pd.DataFrame:
    """Spend against budget per week (Monday to Sunday) of the period starting on `first_day`
    (a week begun before it is shown from it), and both to date (to_date)."""
    monday = daily["date"].dt.to_period("W-SUN").dt.start_time  # pragma: no mutate (any case)
    return to_date(daily, monday.clip(lower=first_day), params)


def to_date(daily: pd.DataFrame, start: pd.Series, params: AlertParams) -> pd.DataFrame:
    """Spend and budget per interval (`start`: each day's interval), both cumulative, and the
    cumulative deviation and its level: how far spend has strayed from plan so far."""
    table = daily.groupby(start.rename("start"))[["spend", "budget"]].sum().reset_index()
    table["spend_to_date"] = table["spend"].cumsum()
    table["budget_to_date"] = table["budget"].cumsum()
    planned = table["budget_to_date"].where(table["budget_to_date"] > 0)
    table["deviation"] = table["spend_to_date"] / planned - 1
    table["level"] = [level(known(d), params) for d in table["deviation"]]
    return table


def budget_lines(
    daily: pd.DataFrame,
    params: AlertParams,
    keys: tuple[str, ...] = ("channel",),
    whole_budget: float | None = None,
) -> pd.DataFrame:
    """Per channel (or per `keys`, e.g. campaign and channel): the period's spend against its
    budget, the deviation and its level, furthest off plan first (overspending and
    underspending both stray from the plan). A line whose gap is under min_budget_gap_pct of
    the period's whole budget (`whole_budget`, by default the budget in `daily`) is on track
    whatever its deviation: a small campaign 9% off plan is noise."""
    lines = daily.groupby(list(keys))[["spend", "budget"]].sum().reset_index()
    lines["deviation"] = lines["spend"] / lines["budget"].where(lines["budget"] > 0) - 1
    whole = daily["budget"].sum() if whole_budget is None else whole_budget
    noise = (lines["spend"] - lines["budget"]).abs() < whole * params.min_budget_gap_pct / 100
    as_planned = lines["deviation"].mask(noise & lines["deviation"].notna(), 0.0)  # noise: on plan
    lines["level"] = [level(known(d), params) for d in as_planned]
    return lines.sort_values("deviation", key=abs, ascending=False).reset_index(drop=True)


@dataclass
class Pacing:
    """Spend against budget through the period, every way the marketing page shows it."""

    cumulative: pd.DataFrame  # pacing(): by day, in total and per channel
    months: pd.DataFrame  # by_month()
    weeks: pd.DataFrame | None  # by_week() in a quarter; None in a year (its months say it)
    channels: pd.DataFrame  # budget_lines() per channel
    campaigns: pd.DataFrame | None  # per campaign; None where no row names a campaign


def budget_pacing(daily: pd.DataFrame, params: AlertParams, period: Period) -> Pacing | None:
    """Every view of spend against budget over the period (`daily`: marketing_daily), by week
    only in a quarter (a year's 53 weeks would not be read); None without budgets."""
    if not daily["budget"].notna().any():
        return None
    named = daily[daily["campaign"] != ""]
    whole = daily["budget"].sum()  # a campaign's gap is noise against the whole budget
    return Pacing(
        cumulative=pacing(daily),
        months=by_month(daily, params),
        weeks=by_week(daily, params, period.start) if period.grain == "quarter" else None,
        channels=budget_lines(daily, params),
        campaigns=(
            budget_lines(named, params, ("campaign", "channel"), whole) if not named.empty else None
        ),
    )


def shortfall_level(attainment: float, better: int, params: AlertParams) -> str:
    """The alert level of an attainment (actual / target): only a shortfall counts, by the
    KPI's better direction (+1 up, -1 down); at or beyond the target is on track."""
    shortfall = min(0.0, (attainment - 1) * better)  # pragma: no mutate (x / ±1 == x * ±1)
    return level(shortfall, params)


def kpi_alerts(kpis: dict[str, dict], params: AlertParams) -> list[dict]:
    """Every headline KPI with a target, its shortfall (or, where lower is better, excess)
    against the target, and the level; only shortfalls alert, a KPI beyond its target is on
    track."""
    alerts = []
    for name, record in kpis.items():
        attainment = known(record.get("attainment"))
        if attainment is None:
            continue
        better = record.get("better") or 1  # a KPI with no better direction: as "up"
        found = shortfall_level(attainment, better, params)
        alerts.append({"kpi": name, "deviation": attainment - 1, "level": found})
    return alerts


def target_alerts(scorecard: list[dict], period: str, params: AlertParams) -> list[dict]:
    """Every target of the scorecard below the report period's own whole-shop targets (which
    the headline KPIs carry): a month, a quarter of a year, a channel, category or region;
    its shortfall against the target and the level (beyond the target is on track)."""
    alerts = []
    for row in scorecard:
        attainment = known(row.get("attainment"))
        if attainment is None or (str(row["period"]) == period and row["dimension"] == ""):
            continue
        # every target metric: more is better (only the sign of `better` counts)
        found = shortfall_level(attainment, 1, params)  # pragma: no mutate
        alerts.append({**row, "deviation": attainment - 1, "level": found})
    return alerts


def report_alerts(
    kpis: dict[str, dict],
    budget: list[dict],
    params: AlertParams,
    targets: list[dict] = (),
    campaigns: list[dict] = (),
) -> list[dict]:
    """What the index lists first: every headline KPI short of its target, every other target
    missed (`targets`: target_alerts), and every budget line off its plan by more than the watch
    threshold (per channel, and per campaign), "act" before "watch", the furthest off first. A
    KPI alert carries its record's key, current value, target and unit; a target alert its
    scorecard row; a budget alert its channel (and campaign), spend and budget."""
    found = [
        {"kind": "kpi", **alert, "record": kpis[alert["kpi"]]}
        for alert in kpi_alerts(kpis, params)
        if alert["level"] != "on_track"
    ]
    found += [{"kind": "target", **alert} for alert in targets if alert["level"] != "on_track"]
    for kind, lines in (("budget", budget), ("campaign_budget", campaigns)):
        found += [{"kind": kind, **line} for line in lines if line["level"] in ("act", "watch")]
    return sorted(found, key=lambda a: (LEVELS.index(a["level"]), -abs(a["deviation"])))


def findings(lines: pd.DataFrame, campaigns: pd.DataFrame | None = None) -> list[Finding]:
    """The channel budget lines that call for action or watching, most strayed first, and one
    finding naming every campaign that does."""
    flagged = lines[lines["level"].isin(["act", "watch"])]
    said = [
        Finding(
            "marketing.budget_line",
            {"channel": row.channel, "spend": row.spend, "budget": row.budget},
            variant=row.level,
            stake=abs(row.spend - row.budget),
        )
        for row in flagged.itertuples()
    ]
    off = campaigns[campaigns["level"].isin(["act", "watch"])] if campaigns is not None else None
    if off is not None and not off.empty:
        columns = off[["campaign", "channel", "deviation"]]
        listed = columns.to_dict("records")  # pragma: no mutate (any case)
        gap = (off["spend"] - off["budget"]).abs().sum()
        variant = "act" if (off["level"] == "act").any() else "watch"
        said.append(
            Finding(
                "marketing.campaign_budget_lines", {"lines": listed}, variant=variant, stake=gap
            )
        )
    return said
