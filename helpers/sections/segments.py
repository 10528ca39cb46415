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
frequency by orders, monetary by net revenue to date (computed in the engine: data.rfm).
Segments follow the widely used R x F segment map (scores rescaled to 1-5), with "Lost" split
from Hibernating at R = 1:

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

from helpers.data import queries, rfm

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


GRID = pd.DataFrame([(r, f, name) for (r, f), name in _GRID.items()], columns=["r", "f", "segment"])


def segment_customers(
    engine: queries.DataEngine, name: str, inputs: str, bins: int, scheme: Segmentation
) -> None:
    """Score and segment every customer of the engine's RFM `inputs` (rfm.keep_inputs), kept
    as table `name` with r_score, f_score, m_score and segment (see the module's docstring)."""
    rfm.keep_segments(engine, name, inputs, bins, GRID if scheme is RF_MAP else None)


def segment_table(sums: pd.DataFrame, scheme: Segmentation = RF_MAP) -> pd.DataFrame:
    """Per segment of the scheme, empty ones included (from rfm.segment_sums): customers and
    their share, share of the window's (quarter's) revenue, lifetime average order value,
    mean days since the last order."""
    table = sums.set_index("segment").reindex(list(scheme.segments))
    counted = ["customers", "orders", "revenue", "window_revenue"]
    table[counted] = table[counted].fillna(0)
    table["customers"] = table["customers"].astype(int)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["window_revenue"] / table["window_revenue"].sum()
    # an empty segment's revenue is 0 too, and 0 / 0 is NaN as well
    table["aov"] = table["revenue"] / table["orders"].replace(0, np.nan)  # pragma: no mutate
    return table.rename_axis("segment").reset_index()


FLOWS = ["New", "Moved up", "Stayed", "Moved down", "Lapsed"]


def migration(
    transitions: pd.DataFrame, scheme: Segmentation = RF_MAP
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How customers moved between segments from the previous quarter's end to this one's,
    from their counts and window revenue by segment before (None when new) and now
    (rfm.transitions).

    Returns the transition counts (rows: previous segment, plus "New this quarter"; columns:
    current segment) and the flows (new, moved up, stayed, moved down, lapsed = into one of
    the scheme's lapsed segments, e.g. Hibernating or Lost, from another) with customers and
    this quarter's revenue.
    """
    segments, lapsed = list(scheme.segments), scheme.lapsed
    before = transitions["before"].where(transitions["before"].notna(), NEW_THIS_QUARTER)
    matrix = (
        transitions.assign(before=before)
        .pivot(index="before", columns="now", values="customers")  # a row per pair
        .reindex(index=[NEW_THIS_QUARTER, *segments], columns=segments)
        .fillna(0)
        .astype(int)
    )
    matrix.index.name, matrix.columns.name = "previous segment", "segment now"
    rank_now = pd.Categorical(transitions["now"], segments).codes  # the scheme's order
    rank_before = pd.Categorical(transitions["before"], segments).codes
    flow = np.select(
        [
            transitions["before"].isna(),
            transitions["now"].isin(lapsed) & ~transitions["before"].isin(lapsed),
            rank_now < rank_before,
            rank_now == rank_before,
        ],
        ["New", "Lapsed", "Moved up", "Stayed"],
        "Moved down",
    )
    flows = (
        transitions.assign(flow=flow)
        .groupby("flow")[["customers", "revenue"]]
        .sum()
        .reindex(FLOWS, fill_value=0)
        .rename_axis("flow")
        .reset_index()
    )
    return matrix, flows
