"""RFM value tiers: recency, frequency and monetary scores per customer, the named segment
they put each customer in, and how customers moved between segments over the quarter.

Two segmentations (params: repurchase.segmentation): `rf_map`, below, and `rfm8`, the
8-class RFM value matrix Chinese operations teams use (重要价值 ... 一般挽留): each of R, F
and M is high or low against the customer base's mean (R high: fewer days since the last
order than the mean; F high: more orders than the mean; M high: more revenue to date than the
mean); M decides important (重要) or general (一般), R and F the kind: value (R and F high),
development (R high), retention (F high) or win-back (neither).

RFM scores (1 = worst, `bins` = best) are percentile ranks with ties sharing the lowest rank, so
equal values get equal scores: recency by days since the last order (fewer is better),
frequency by orders, monetary by net revenue to date. Segments follow the widely used R x F
segment map (scores rescaled to 1-5), with "Lost" split from Hibernating at R = 1:

    R\\F   1             2             3              4              5
    5    New           Potential     Potential      Champions      Champions
    4    Promising     Potential     Potential      Loyal          Loyal
    3    About to sleep About to sleep Need attention Loyal        Loyal
    2    Hibernating   Hibernating   At risk        At risk        Can't lose
    1    Lost          Lost          At risk        At risk        Can't lose
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEGMENTS = [
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose",
    "Hibernating",
    "Lost",
]


NEW_THIS_QUARTER = "New this quarter"  # the migration matrix's row of first-time customers


@dataclass(frozen=True)
class Segmentation:
    """A named set of segments, best first, and those a customer lapses into."""

    name: str
    segments: tuple[str, ...]
    lapsed: frozenset[str]


RF_MAP = Segmentation("rf_map", tuple(SEGMENTS), frozenset({"Hibernating", "Lost"}))
VALUE_MATRIX = Segmentation(
    "rfm8",
    tuple(
        f"{importance}_{kind}"
        for importance in ("important", "general")
        for kind in ("value", "development", "retention", "winback")
    ),
    frozenset(
        f"{importance}_{kind}"
        for importance in ("important", "general")
        for kind in ("retention", "winback")
    ),
)
SEGMENTATIONS = {scheme.name: scheme for scheme in (RF_MAP, VALUE_MATRIX)}


_GRID = {  # (R, F) on 1-5 -> segment
    **{(r, f): "Champions" for r in (5,) for f in (4, 5)},
    **{(r, f): "Loyal" for r in (3, 4) for f in (4, 5)},
    **{(r, f): "Potential loyalists" for r in (4, 5) for f in (2, 3)},
    (5, 1): "New",
    (4, 1): "Promising",
    (3, 3): "Need attention",
    (3, 1): "About to sleep",
    (3, 2): "About to sleep",
    **{(r, f): "At risk" for r in (1, 2) for f in (3, 4)},
    (1, 5): "Can't lose",
    (2, 5): "Can't lose",
    (2, 1): "Hibernating",
    (2, 2): "Hibernating",
    (1, 1): "Lost",
    (1, 2): "Lost",
}


_GRID_ARRAY = np.full((6, 6), None, dtype=object)
for (_r, _f), _name in _GRID.items():
    _GRID_ARRAY[_r, _f] = _name


def score(values: pd.Series, bins: int, higher_is_better: bool = True) -> pd.Series:
    """Score 1..bins from the percentile rank; ties share the lowest rank, so equal values get
    equal scores."""
    ranked = (values if higher_is_better else -values).rank(method="min") / len(values)
    return np.ceil(ranked * bins).astype(int)  # ranked is in (0, 1]: scores 1..bins


def value_matrix(customers: pd.DataFrame) -> np.ndarray:
    """The rfm8 segment of each customer: R, F and M high or low against their means."""
    recent = customers["recency_days"] < customers["recency_days"].mean()
    frequent = customers["orders"] > customers["orders"].mean()
    importance = np.where(
        customers["revenue"] > customers["revenue"].mean(), "important", "general"
    )
    kind = np.select(
        [recent & frequent, recent, frequent], ["value", "development", "retention"], "winback"
    )
    return np.char.add(np.char.add(importance.astype(str), "_"), kind.astype(str))


def rfm_segments(
    customers: pd.DataFrame, bins: int = 5, scheme: Segmentation = RF_MAP
) -> pd.DataFrame:
    """Add r_score, f_score, m_score and the named segment to per-customer RFM inputs
    (recency_days, orders, revenue)."""
    r = score(customers["recency_days"], bins, higher_is_better=False)
    f = score(customers["orders"], bins)
    if scheme is VALUE_MATRIX:
        segment = value_matrix(customers)
    else:
        r5, f5 = (np.ceil(s * 5 / bins).astype(int) for s in (r, f))
        segment = _GRID_ARRAY[r5, f5]
    return customers.assign(
        r_score=r,
        f_score=f,
        m_score=score(customers["revenue"], bins),
        segment=pd.Categorical(segment, categories=scheme.segments, ordered=True),
    )


def segment_table(scored: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers and their share, share of the window's (quarter's) revenue,
    lifetime average order value, mean days since the last order."""
    table = scored.groupby("segment", observed=False).agg(
        customers=("customer_id", "size"),
        orders=("orders", "sum"),
        revenue=("revenue", "sum"),
        window_revenue=("window_revenue", "sum"),
        recency_days=("recency_days", "mean"),
    )
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["window_revenue"] / table["window_revenue"].sum()
    table["aov"] = table["revenue"] / table["orders"].replace(0, np.nan)
    return table.reset_index()


FLOWS = ["New", "Moved up", "Stayed", "Moved down", "Lapsed"]


def migration(
    previous: pd.DataFrame, current: pd.DataFrame, scheme: Segmentation = RF_MAP
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How customers moved between segments from the previous quarter's end to this one's.

    Returns the transition counts (rows: previous segment, plus "New this quarter"; columns:
    current segment) and the flows (new, moved up, stayed, moved down, lapsed = into one of
    the scheme's lapsed segments, e.g. Hibernating or Lost, from another) with customers and
    this quarter's revenue.
    """
    segments, lapsed = list(scheme.segments), scheme.lapsed
    merged = current[["customer_id", "segment", "window_revenue"]].merge(
        previous[["customer_id", "segment"]], on="customer_id", how="left", suffixes=("", "_before")
    )
    before = (
        merged["segment_before"]
        .astype(object)
        .where(merged["segment_before"].notna(), NEW_THIS_QUARTER)
    )
    matrix = pd.crosstab(
        pd.Categorical(before, [NEW_THIS_QUARTER, *segments]), merged["segment"], dropna=False
    )
    matrix.index.name, matrix.columns.name = "previous segment", "segment now"
    rank_now = merged["segment"].cat.codes
    rank_before = pd.Categorical(merged["segment_before"], segments, ordered=True).codes
    flow = np.select(
        [
            merged["segment_before"].isna(),
            merged["segment"].isin(lapsed) & ~merged["segment_before"].isin(lapsed),
            rank_now < rank_before,
            rank_now == rank_before,
        ],
        ["New", "Lapsed", "Moved up", "Stayed"],
        "Moved down",
    )
    flows = (
        merged.assign(flow=flow)
        .groupby("flow")
        .agg(customers=("customer_id", "size"), revenue=("window_revenue", "sum"))
        .reindex(FLOWS, fill_value=0)
        .reset_index()
    )
    return matrix, flows
