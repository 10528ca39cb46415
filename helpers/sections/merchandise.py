"""Merchandise and gross margin: categories and SKUs ranked by net sales and margin, what each
contributed to the quarter's change, how concentrated sales are (ABC / Pareto), SKUs that are
falling or stopped selling, categories bought together, and discounts by category.

Figures come from the order lines (queries.merchandise_by_period): an order's net revenue and
discount are shared among its lines by gross value, so categories add up to net revenue;
gross margin = net sales - cost, margin rate = margin / net sales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.periods import COMPARISONS
from helpers.data import queries
from helpers.sections.findings import Finding
from helpers.sections.kpis import (
    BASE_PERIOD,
    known,
    kpi_record,
    mark_material,
    per_period_columns,
)

ABC_SHARES = (0.8, 0.95)  # cumulative share of sales that ends class A, then B; C is the rest
TOP_SHARE = 0.2  # Pareto: what the top fifth of SKUs sells


def by_item(lines: pd.DataFrame, item: str) -> pd.DataFrame:
    """Per category or SKU (`item`): net sales, units, cost, discount and margin per compared
    period (columns <measure>_<period>), margin rate, changes and contributions to the
    quarter's change in sales and margin (which add up to the total change)."""
    measures = ["net_sales", "units", "cost", "discount"]
    sums = lines.groupby([item, "period"])[measures].sum(min_count=1)
    wide = per_period_columns(sums)
    wide.columns = [f"{measure}_{period}" for measure, period in wide.columns]
    table = wide.reset_index()
    for period in COMPARISONS:
        table[f"margin_{period}"] = table[f"net_sales_{period}"] - table[f"cost_{period}"]
    sales, margin = table["net_sales_current"], table["margin_current"]
    table["margin_rate"] = margin / sales.where(sales > 0)
    for basis, period in BASE_PERIOD.items():
        before = table[f"net_sales_{period}"]
        table[f"sales_{basis}"] = sales / before.where(before > 0) - 1
        table[f"sales_contribution_{basis}"] = sales.fillna(0) - before.fillna(0)
        table[f"margin_contribution_{basis}"] = margin.fillna(0) - table[f"margin_{period}"].fillna(
            0
        )
    table["sales_share"] = sales / sales.sum()
    return table.sort_values(  # largest first; ties by name, so ABC classes are reproducible
        ["net_sales_current", item], ascending=[False, True]
    )


def abc_classes(skus: pd.DataFrame) -> pd.Series:
    """A for the SKUs that make the first 80% of this quarter's sales (largest first), B to
    95%, C for the rest and for SKUs that sold nothing."""
    # NaN (sold nothing) compares, adds up and ranks here as 0 does
    sales = skus["net_sales_current"].fillna(0).clip(lower=0)  # pragma: no mutate
    before = (sales.cumsum() - sales) / sales.sum()  # share sold by larger SKUs
    labels = np.select([before < ABC_SHARES[0], before < ABC_SHARES[1]], ["A", "B"], "C")
    return pd.Series(np.where(sales > 0, labels, "C"), index=skus.index)


def concentration(skus: pd.DataFrame) -> dict[str, float]:
    """Share of this quarter's sales and margin from the top TOP_SHARE of selling SKUs."""
    selling = skus[skus["net_sales_current"] > 0].sort_values("net_sales_current", ascending=False)
    top = selling.head(max(1, round(TOP_SHARE * len(selling))))
    return {
        "skus": len(selling),
        "top_skus": len(top),
        "sales_share": top["net_sales_current"].sum() / selling["net_sales_current"].sum(),
        "margin_share": top["margin_current"].sum() / selling["margin_current"].sum(),
    }


def movers(skus: pd.DataFrame, falling_pct: float, min_sales: float) -> pd.DataFrame:
    """SKUs that stopped selling (none this quarter after sales in the previous quarter or a
    year before) or whose sales fell by more than `falling_pct` percent from at least
    `min_sales` the previous quarter; with the sales at stake (what they sold then, the last
    quarter they sold for a stopped SKU, less what they sell now)."""
    # NaN (sold nothing) compares as 0 does in every test on `previous` and `before`
    previous = skus["net_sales_previous"].fillna(0)  # pragma: no mutate
    now = skus["net_sales_current"].fillna(0)
    before = previous.where(previous > 0, skus["net_sales_year_ago"].fillna(0))  # pragma: no mutate
    stopped = (before > 0) & (now <= 0)
    selling = now > 0  # pragma: no mutate (at 0, one that sold before has stopped: said first)
    falling = (previous >= min_sales) & selling & (now < previous * (1 - falling_pct / 100))
    moved = skus[stopped | falling].assign(
        status=np.where(stopped[stopped | falling], "stopped", "falling"),
        at_stake=(before - now)[stopped | falling],
    )
    return moved.sort_values("at_stake", ascending=False)


def risers(skus: pd.DataFrame, rising_pct: float, min_sales: float) -> pd.DataFrame:
    """SKUs whose sales grew by more than `rising_pct` percent from at least `min_sales` the
    previous quarter, largest gain first, with the gain."""
    previous = skus["net_sales_previous"].fillna(0)
    now = skus["net_sales_current"].fillna(0)  # pragma: no mutate (NaN never rises, as 0 does not)
    rising = (previous >= min_sales) & (now > previous * (1 + rising_pct / 100))
    return skus[rising].assign(gain=(now - previous)[rising]).sort_values("gain", ascending=False)


def by_period(lines: pd.DataFrame, item: str) -> pd.DataFrame:
    """Net sales and margin per `item` and compared period, long: for charts by period."""
    table = lines.groupby([item, "period"])[["net_sales", "cost"]].sum().reset_index()
    return table.assign(margin=table["net_sales"] - table["cost"])


def pair_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Support, confidence both ways and lift of each pair bought together (among orders of
    two or more items), highest lift first."""
    table = pairs.assign(
        support=pairs["orders"] / pairs["baskets"],
        confidence_ab=pairs["orders"] / pairs["orders_a"],
        confidence_ba=pairs["orders"] / pairs["orders_b"],
    )
    table["lift"] = table["support"] / (
        (pairs["orders_a"] / pairs["baskets"]) * (pairs["orders_b"] / pairs["baskets"])
    )
    return table.sort_values(["lift", "orders"], ascending=False).reset_index(drop=True)


def discount_table(categories: pd.DataFrame) -> pd.DataFrame:
    """Per category this quarter: discount rate (discount / sales before it) and the margin
    rate before and after the discount."""
    sales, discount = categories["net_sales_current"], categories["discount_current"]
    before = sales + discount
    return pd.DataFrame(
        {
            "category": categories["category"],
            "discount_rate": discount / before.where(before > 0),
            "margin_rate_before_discount": (before - categories["cost_current"])
            / before.where(before > 0),
            "margin_rate": categories["margin_rate"],
        }
    ).sort_values("discount_rate", ascending=False)


def headline_kpis(categories: pd.DataFrame, skus: pd.DataFrame) -> dict[str, dict]:
    """Net sales of the order lines, gross margin, margin rate and SKUs sold, per period."""
    totals = {
        period: {
            "net_sales": categories[f"net_sales_{period}"].sum(min_count=1),
            "margin": categories[f"margin_{period}"].sum(min_count=1),
            "skus": float((skus[f"net_sales_{period}"] > 0).sum()),
        }
        for period in COMPARISONS
    }

    def per_period(name: str) -> dict:
        return {period: totals[period][name] for period in COMPARISONS}

    rate = {
        p: (totals[p]["margin"] / totals[p]["net_sales"]) if totals[p]["net_sales"] else None
        for p in COMPARISONS
    }
    return {
        "net_sales": kpi_record("merchandise.net_sales", "currency", per_period("net_sales")),
        "gross_margin": kpi_record("merchandise.gross_margin", "currency", per_period("margin")),
        "margin_rate": kpi_record("merchandise.margin_rate", "rate", rate),
        "skus_sold": kpi_record("merchandise.skus_sold", "count", per_period("skus")),
    }


def findings(
    categories: pd.DataFrame,
    kpis: dict[str, dict],
    share: dict[str, float],
    moved: pd.DataFrame,
    pairs: pd.DataFrame,
    discounts: pd.DataFrame,
) -> list[Finding]:
    """What the section says: the category that moved sales most, the margin rate, how
    concentrated sales are, falling and stopped SKUs, the strongest cross-sell pair and the
    deepest discount."""
    said = []
    moved_most = categories.loc[categories["sales_contribution_qoq"].abs().idxmax()]
    total_change = categories["sales_contribution_qoq"].sum()
    said.append(
        Finding(
            "merchandise.contribution",
            {
                "category": moved_most["category"],
                "change": moved_most["sales_contribution_qoq"],
                "total_change": total_change,
                "margin_change": moved_most["margin_contribution_qoq"],
            },
            bases=("qoq",),
            stake=abs(moved_most["sales_contribution_qoq"]),
        )
    )
    rate = kpis["margin_rate"]
    if known(rate.get("current")) is not None:
        said.append(
            Finding(
                "merchandise.margin_rate",
                {"rate": rate["current"], "change": known(rate.get("qoq"))},
                bases=("qoq",),
            )
        )
    said.append(Finding("merchandise.concentration", share))
    if len(moved):
        stopped = moved[moved["status"] == "stopped"]
        said.append(
            Finding(
                "merchandise.movers",
                {
                    "stopped": stopped["sku"].tolist(),
                    "falling": int((moved["status"] == "falling").sum()),
                    "at_stake": moved["at_stake"].sum(),
                },
                bases=("qoq",),
                stake=moved["at_stake"].sum(),
            )
        )
    if len(pairs) and pairs.loc[0, "lift"] > 1:
        top = pairs.loc[0]
        said.append(
            Finding(
                "merchandise.pair",
                {
                    "a": top["a"],
                    "b": top["b"],
                    "lift": top["lift"],
                    "confidence": top["confidence_ba"],
                },
            )
        )
    deepest = discounts.dropna(subset=["discount_rate"])
    if len(deepest) and deepest.iloc[0]["discount_rate"] > 0:
        row = deepest.iloc[0]
        said.append(
            Finding(
                "merchandise.discount",
                {
                    "category": row["category"],
                    "discount_rate": row["discount_rate"],
                    "margin_before": row["margin_rate_before_discount"],
                    "margin_after": row["margin_rate"],
                },
            )
        )
    return said


@dataclass
class MerchandiseSection:
    """Every table the merchandise notebook shows."""

    categories: pd.DataFrame
    category_periods: pd.DataFrame
    skus: pd.DataFrame
    concentration: dict[str, float]
    movers: pd.DataFrame
    risers: pd.DataFrame
    category_pairs: pd.DataFrame
    sku_pairs: pd.DataFrame
    discounts: pd.DataFrame
    findings: list[Finding]
    kpis: dict[str, dict]


def build_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> MerchandiseSection:
    """Rank, compare and pair the quarter's order lines."""
    params, quarter = config.merchandise, config.period
    lines = queries.merchandise_by_period(engine, periods)
    categories = by_item(lines, "category").merge(
        lines.groupby("category")["sku"].nunique().rename("skus").reset_index(),
        on="category",  # pragma: no mutate (the only column both have)
    )
    skus = by_item(lines, "sku").merge(
        lines[["sku", "category"]].drop_duplicates("sku"),
        on="sku",  # pragma: no mutate (the only column both have)
        how="left",  # pragma: no mutate (every SKU has its lines' category)
    )
    skus["abc"] = abc_classes(skus)
    share = concentration(skus)
    moved = movers(skus, params.sku_change_pct, params.min_sku_sales)
    pairs = pair_table(queries.basket_pairs(engine, quarter.start, quarter.end, "category", 1))
    sku_pairs = pair_table(
        queries.basket_pairs(engine, quarter.start, quarter.end, "sku", params.min_pair_orders)
    )
    discounts = discount_table(categories)
    kpis = mark_material(
        headline_kpis(categories, skus), config.material_change_pct, config.material_rate_change_pp
    )
    return MerchandiseSection(
        categories=categories,
        category_periods=by_period(lines, "category"),
        skus=skus,
        concentration=share,
        movers=moved,
        risers=risers(skus, params.sku_change_pct, params.min_sku_sales),
        category_pairs=pairs,
        sku_pairs=sku_pairs,
        discounts=discounts,
        findings=findings(categories, kpis, share, moved, pairs, discounts),
        kpis=kpis,
    )
