"""The sample shop's assortment: six categories with their own margins and trends, SKUs that
stop selling, and two categories bought together more often than chance would have it
(helpers.data.sample draws the order lines with it; the manifest records the truth, so tests
can check the merchandise analysis finds it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = pd.DataFrame(
    {
        "category": [
            "Skincare",
            "Makeup",
            "Hair care",
            "Body care",
            "Fragrance",
            "Tools & accessories",
        ],
        "code": ["SK", "MU", "HC", "BC", "FR", "TA"],
        "weight": [0.32, 0.24, 0.14, 0.12, 0.10, 0.08],
        "margin": [0.62, 0.58, 0.52, 0.48, 0.65, 0.42],
        "trend": [0.0, -0.05, -0.35, 0.10, 0.35, 0.0],  # relative change of its share per year
    }
)
SKUS_PER_CATEGORY = 59
PAIR = ("Skincare", "Body care")  # an order's second line follows its first this often:
PAIR_PROBABILITY = 0.8
STOPPED_SKUS = ("MU-007", "HC-012", "TA-003", "FR-021")  # sold until STOPPED_FROM, then never
STOPPED_FROM = pd.Timestamp("2025-07-01")


def truth() -> dict:
    """What the assortment was simulated with, for the manifest."""
    return {
        "category_margins": dict(zip(CATEGORIES["category"], CATEGORIES["margin"], strict=True)),
        "category_trends": dict(zip(CATEGORIES["category"], CATEGORIES["trend"], strict=True)),
        "bought_together": sorted(PAIR),
        "stopped_skus": list(STOPPED_SKUS),
        "stopped_from": str(STOPPED_FROM.date()),
    }


def draw_categories(
    owner: np.ndarray, when: pd.DatetimeIndex, rng: np.random.Generator, pairs: np.random.Generator
) -> np.ndarray:
    """Category (index into CATEGORIES) of each order line, by the category weights at the
    line's date (`when`; each category's share moves by its trend); an order's second line
    follows PAIR from its first with PAIR_PROBABILITY (drawn from `pairs`). `owner` is each
    line's order, sorted. Draws one uniform per line from `rng`, as rng.choice would."""
    years = np.asarray((when - when.min()).days, dtype=float) / 365.25
    weights = (
        CATEGORIES["weight"].to_numpy() * (1 + CATEGORIES["trend"].to_numpy()) ** years[:, None]
    )
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    category = (rng.random(len(owner))[:, None] >= cumulative).sum(axis=1)
    position = np.arange(len(owner)) - np.searchsorted(owner, owner)
    first, second = (CATEGORIES["category"].tolist().index(name) for name in PAIR)
    follows = (position == 1) & (np.roll(category, 1) == first)
    return np.where(follows & (pairs.random(len(owner)) < PAIR_PROBABILITY), second, category)


def sku_codes(category: np.ndarray, number: np.ndarray, when: pd.DatetimeIndex) -> np.ndarray:
    """SKU of each line from its category and SKU number (1..SKUS_PER_CATEGORY); a line of a
    STOPPED_SKUS SKU from STOPPED_FROM on sells the category's next SKU instead."""
    codes = CATEGORIES["code"].to_numpy()[category].astype(object)
    sku = codes + pd.Series(number).map("-{:03d}".format).to_numpy()
    stopped = np.isin(sku, STOPPED_SKUS) & (np.asarray(when) >= STOPPED_FROM)
    following = codes + pd.Series(number % SKUS_PER_CATEGORY + 1).map("-{:03d}".format).to_numpy()
    return np.where(stopped, following, sku)
