"""Regions: where orders carry a region, each region's net revenue, customers, order value and
repeat rate in the compared periods, its growth and its share of the quarter's change, with the
report's one comparison rule and materiality thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.data import queries
from helpers.sections.findings import Finding
from helpers.sections.kpis import (
    BASE_PERIOD,
    comparison_bases,
    is_material,
    known,
    per_period_columns,
)


def region_table(orders: pd.DataFrame, repeat: pd.DataFrame) -> pd.DataFrame:
    """Per region: net revenue per period, its share, growth and contribution to the total
    change on each basis (the contributions add up to the change), this quarter's customers,
    new customers and order value, and the repeat rate now and its change in pp."""
    keys = ["period", "region"]
    merged = orders.join(repeat.set_index(keys)[["repeat_customers"]], on=keys)
    counted = ["net_revenue", "orders", "customers", "new_customers", "repeat_customers"]
    wide = per_period_columns(merged.set_index(["region", "period"])[counted])
    revenue = wide["net_revenue"]
    now = revenue["current"]
    table = pd.DataFrame({"region": wide.index, "net_revenue": now.to_numpy()})
    table["revenue_share"] = (now / now.sum()).to_numpy()
    for basis, period in BASE_PERIOD.items():
        before = revenue[period]
        table[f"revenue_{basis}"] = (now / before.where(before > 0) - 1).to_numpy()
        table[f"contribution_{basis}"] = (now.fillna(0) - before.fillna(0)).to_numpy()
    current = {name: wide[name].get("current") for name in ("orders", "customers")}
    table["customers"] = current["customers"].to_numpy()
    table["new_customers"] = wide["new_customers"].get("current").to_numpy()
    table["aov"] = (now / current["orders"]).to_numpy()
    rates = wide["repeat_customers"] / wide["customers"]
    table["repeat_rate"] = rates.get("current").to_numpy()
    table["repeat_change_qoq"] = (rates.get("current") - rates.get("previous")).to_numpy()
    return table.sort_values("net_revenue", ascending=False).reset_index(drop=True)


def by_period(orders: pd.DataFrame) -> pd.DataFrame:
    """Net revenue per region and compared period, long: for a chart by period."""
    return orders[["region", "period", "net_revenue"]]


def _material_amount(change: float, pct: float) -> bool:
    """Whether a relative change of an amount is material (the unit and the threshold for
    rates play no part: a mutant of either is equivalent)."""
    return is_material(change, "currency", pct, 0)  # pragma: no mutate (rates only)


def _material_rate(change: float, pp: float) -> bool:
    """Whether a change of a rate is material (the threshold for amounts plays no part)."""
    return is_material(change, "rate", 0, pp)  # pragma: no mutate (amounts only)


SIGN = {"up": 1, "down": -1}  # the sign of a growth each direction names


def findings(table: pd.DataFrame, bases: tuple[str, ...], config: Config) -> list[Finding]:
    """The region that moved net revenue most, the regions growing and shrinking materially
    on every basis shown, and the widest gap in repeat rate where it is material."""
    said = []
    moved = table.loc[table["contribution_qoq"].abs().idxmax()]
    said.append(
        Finding(
            "regions.contribution",
            {
                "region": moved["region"],
                "change": moved["contribution_qoq"],
                "total_change": table["contribution_qoq"].sum(),
            },
            bases=("qoq",),
            stake=abs(moved["contribution_qoq"]),
        )
    )
    for direction, pick in (("up", "idxmax"), ("down", "idxmin")):
        growth = table[f"revenue_{bases[0]}"]
        if growth.notna().any():
            row = table.loc[getattr(growth, pick)()]
            changes = {basis: known(row[f"revenue_{basis}"]) for basis in bases}
            material = [
                _material_amount(c, config.material_change_pct) and np.sign(c) == SIGN[direction]
                for c in changes.values()
                if c is not None
            ]
            if material and all(material):
                said.append(
                    Finding(
                        "regions.growth",
                        {"region": row["region"], "changes": changes},
                        variant=direction,
                        bases=bases,
                        material=True,
                    )
                )
    rates = table.dropna(subset=["repeat_rate"])
    if len(rates) < 2:
        return said
    best = rates.loc[rates["repeat_rate"].idxmax()]
    worst = rates.loc[rates["repeat_rate"].idxmin()]
    gap = best["repeat_rate"] - worst["repeat_rate"]
    if _material_rate(gap, config.material_rate_change_pp):
        said.append(
            Finding(
                "regions.repeat_gap",
                {
                    "best": best["region"],
                    "best_rate": best["repeat_rate"],
                    "worst": worst["region"],
                    "worst_rate": worst["repeat_rate"],
                },
            )
        )
    return said


@dataclass
class RegionsSection:
    """Every table the regions notebook shows; None without a region in the orders."""

    table: pd.DataFrame | None
    revenue_by_period: pd.DataFrame | None
    findings: list[Finding]


def build_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> RegionsSection:
    """Per region and period, from the orders; a note instead without a region column."""
    if "region" not in engine.columns("orders"):
        return RegionsSection(None, None, [Finding("regions.no_region")])
    by = ["region"]  # pragma: no mutate (SQL case)
    orders = queries.orders_by_period(engine, periods, by)
    repeat = queries.repeat_customers_by_period(engine, periods, by)
    table = region_table(orders, repeat)
    bases = comparison_bases(config.period, config.seasonal_quarters)
    return RegionsSection(table, by_period(orders), findings(table, bases, config))
