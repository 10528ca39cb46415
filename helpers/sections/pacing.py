"""Budget pacing and alerts: spend against budget day by day through the quarter (cumulative
actual against plan, by channel), and an alert level for every budget line and every
headline KPI with a target that strays from plan by more than the thresholds in the params
(`alerts`: watch and act, in percent): on track, watch, act."""

from __future__ import annotations

import pandas as pd

from helpers.core.config import AlertParams
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
    """Cumulative spend and budget by day through the quarter, in total and per channel
    (`daily`: date, channel, spend, budget): columns date, channel ("" for the total),
    spend, budget (both cumulative)."""
    total = daily.groupby("date", as_index=False)[["spend", "budget"]].sum().assign(channel="")
    both = pd.concat([daily, total], ignore_index=True).sort_values(["channel", "date"])
    both[["spend", "budget"]] = both.groupby("channel")[["spend", "budget"]].cumsum()
    return both.reset_index(drop=True)[["date", "channel", "spend", "budget"]]


def budget_lines(daily: pd.DataFrame, params: AlertParams) -> pd.DataFrame:
    """Per channel: the quarter's spend against its budget, the deviation and its level,
    largest deviation first (overspending and underspending both stray from the plan)."""
    lines = daily.groupby("channel", as_index=False)[["spend", "budget"]].sum()
    lines["deviation"] = lines["spend"] / lines["budget"].where(lines["budget"] > 0) - 1
    lines["level"] = [level(known(d), params) for d in lines["deviation"]]
    return lines.sort_values("deviation", key=abs, ascending=False).reset_index(drop=True)


def kpi_alerts(kpis: dict[str, dict], params: AlertParams) -> list[dict]:
    """Every headline KPI with a target, its shortfall (or, where lower is better, excess)
    against the target, and the level; only shortfalls alert, a KPI beyond its target is on
    track."""
    alerts = []
    for name, record in kpis.items():
        attainment = known(record.get("attainment"))
        if attainment is None:
            continue
        better = record.get("better", 1) or 1
        shortfall = min(0.0, (attainment - 1) * better)
        alerts.append({"kpi": name, "deviation": attainment - 1, "level": level(shortfall, params)})
    return alerts


def report_alerts(kpis: dict[str, dict], budget: list[dict], params: AlertParams) -> list[dict]:
    """What the index lists first: every headline KPI short of its target and every budget
    line off its plan by more than the watch threshold, "act" before "watch", the furthest
    off first. A KPI alert carries its record's key, current value, target and unit; a
    budget alert its channel, spend and budget."""
    found = [
        {"kind": "kpi", **alert, "record": kpis[alert["kpi"]]}
        for alert in kpi_alerts(kpis, params)
        if alert["level"] != "on_track"
    ]
    found += [{"kind": "budget", **line} for line in budget if line["level"] in ("act", "watch")]
    return sorted(found, key=lambda a: (LEVELS.index(a["level"]), -abs(a["deviation"])))


def findings(lines: pd.DataFrame) -> list[Finding]:
    """The budget lines that call for action or watching, most strayed first."""
    flagged = lines[lines["level"].isin(["act", "watch"])]
    return [
        Finding(
            "marketing.budget_line",
            {"channel": row.channel, "spend": row.spend, "budget": row.budget},
            variant=row.level,
            stake=abs(row.spend - row.budget),
        )
        for row in flagged.itertuples()
    ]
