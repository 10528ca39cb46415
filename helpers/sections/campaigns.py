"""Campaign windows: each promotion in the params whose peak falls in the quarter (618 and
Double 11 by default), its warm-up, peak and after phases against a baseline of comparable
non-campaign days and against the same window a year before, and what it pulled forward
from the days after it.

Figures are daily averages over each phase (days without orders count as zero), so phases of
different lengths compare; the baseline is the BASELINE_DAYS days before the warm-up, left out
where they fall in another campaign's window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import CampaignWindow, Config
from helpers.data import queries
from helpers.sections.findings import Finding
from helpers.sections.kpis import known

PHASES = ("baseline", "warm_up", "peak", "after")
BASELINE_DAYS = 28
MEASURES = ("net_revenue", "orders", "new_customers", "spend", "attributed_revenue", "margin")


def phase_dates(window: CampaignWindow, year: int) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """First and last day of each phase of `window` in `year`; the baseline ends the day
    before the warm-up."""
    days = {
        phase: tuple(pd.Timestamp(f"{year}-{day}") for day in getattr(window, phase))
        for phase in ("warm_up", "peak", "after")
    }
    start = days["warm_up"][0]
    days["baseline"] = (start - pd.Timedelta(days=BASELINE_DAYS), start - pd.Timedelta(days=1))
    return days


def in_windows(dates: pd.Series, windows: list[CampaignWindow]) -> pd.Series:
    """Whether each date falls in any campaign window (warm-up to after) of its year."""
    inside = pd.Series(False, index=dates.index)
    for year in dates.dt.year.unique():
        for window in windows:
            phases = phase_dates(window, year)
            inside |= dates.between(phases["warm_up"][0], phases["after"][1])
    return inside


def daily_averages(
    daily: pd.DataFrame, window: CampaignWindow, year: int, windows: list[CampaignWindow]
) -> pd.DataFrame:
    """Per phase of `window` in `year`: days and the daily average of each measure (a day
    with no orders counts as zero); baseline days inside another window are left out."""
    frame = daily.assign(margin=daily["net_revenue"] - daily["cost"])
    rows = []
    for phase, (first, last) in phase_dates(window, year).items():
        days = pd.Series(pd.date_range(first, last))
        if phase == "baseline":
            days = days[~in_windows(days, windows)]
        found = frame.set_index("date").reindex(days)[list(MEASURES)]
        found[["net_revenue", "orders", "new_customers"]] = found[
            ["net_revenue", "orders", "new_customers"]
        ].fillna(0.0)
        rows.append({"phase": phase, "days": len(days), **found.mean().to_dict()})
    table = pd.DataFrame(rows).set_index("phase").reindex(list(PHASES))
    table["roas"] = table["attributed_revenue"] / table["spend"].where(table["spend"] > 0)
    return table.reset_index()


def compare(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """This year's phases with their uplift on this year's baseline and their change on the
    same phase a year before (daily net revenue)."""
    table = now.copy()
    base = now.set_index("phase").loc["baseline", "net_revenue"]
    table["uplift"] = table["net_revenue"] / base - 1 if base else np.nan
    last = before.set_index("phase")["net_revenue"].reindex(table["phase"]).to_numpy()
    table["year_before"] = last
    table["yoy"] = table["net_revenue"] / np.where(last > 0, last, np.nan) - 1
    return table


def pulled_forward(table: pd.DataFrame) -> float:
    """Net revenue the after phase fell short of the baseline, over its days (positive when
    the campaign pulled sales forward from the days after it)."""
    phases = table.set_index("phase")
    after = phases.loc["after"]
    return float((phases.loc["baseline", "net_revenue"] - after["net_revenue"]) * after["days"])


def campaign_finding(name: str, table: pd.DataFrame) -> Finding:
    """A campaign's peak against its baseline and a year before, and what it pulled forward."""
    peak = table.set_index("phase").loc["peak"]
    pulled = pulled_forward(table)
    return Finding(
        "campaigns.window",
        {
            "campaign": name,
            "uplift": known(peak["uplift"]),
            "yoy": known(peak["yoy"]),
            "revenue_per_day": peak["net_revenue"],
            "pulled_forward": pulled if pulled > 0 else None,
        },
        bases=("yoy",),
        stake=float(peak["net_revenue"] * peak["days"]),
    )


@dataclass
class CampaignsSection:
    """Every campaign window whose peak falls in the quarter, each as a table by phase."""

    windows: dict[str, pd.DataFrame]
    findings: list[Finding]


def build_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> CampaignsSection:
    """The quarter's campaign windows, this year's and the year before's, by phase."""
    quarter, windows = config.period, config.campaigns
    in_quarter = [
        w for w in windows if quarter.start <= phase_dates(w, quarter.year)["peak"][0] < quarter.end
    ]
    if not in_quarter:
        return CampaignsSection({}, [Finding("campaigns.none")])
    first = min(phase_dates(w, quarter.year - 1)["baseline"][0] for w in in_quarter)
    last = max(phase_dates(w, quarter.year)["after"][1] for w in in_quarter)
    daily = queries.daily_sales(engine, first, last + pd.Timedelta(days=1))
    tables = {
        w.name: compare(
            daily_averages(daily, w, quarter.year, windows),
            daily_averages(daily, w, quarter.year - 1, windows),
        )
        for w in in_quarter
    }
    return CampaignsSection(tables, [campaign_finding(n, t) for n, t in tables.items()])
