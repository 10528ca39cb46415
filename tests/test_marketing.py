"""Marketing ROI measures with hand-computed values, an exact ROAS decomposition, response
curves that recover known parameters, and a reallocation that respects the budget."""

import numpy as np
import pandas as pd
import pytest

from helpers import marketing

BEFORE = {
    "spend": 100.0,
    "impressions": 10_000.0,
    "clicks": 200.0,
    "attributed_orders": 10.0,
    "attributed_revenue": 500.0,
    "new_customers": 4.0,
    "budget": 80.0,
}
AFTER = {
    "spend": 120.0,
    "impressions": 12_000.0,
    "clicks": 300.0,
    "attributed_orders": 12.0,
    "attributed_revenue": 720.0,
    "new_customers": 6.0,
    "budget": 150.0,
}


def measures():
    frame = pd.DataFrame(
        [
            {"period": "previous", "channel": "A", **BEFORE},
            {"period": "current", "channel": "A", **AFTER},
        ]
    )
    return marketing.add_measures(frame, margin_rate=0.6)


def test_every_measure_by_hand():
    row = measures().set_index("period").loc["previous"]
    expected = {
        "ctr": 0.02,
        "cpc": 0.5,
        "conversion_rate": 0.05,
        "cpa": 10.0,
        "aov": 50.0,
        "roas": 5.0,
        "profit_roi": (500 * 0.6 - 100) / 100,
        "cac": 25.0,
        "budget_variance": 20.0,
        "budget_variance_pct": 0.25,
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value), name
    no_margin = marketing.add_measures(pd.DataFrame([BEFORE]), margin_rate=None)
    assert np.isnan(no_margin["profit_roi"].iloc[0])


def test_roas_decomposition_adds_up_exactly():
    parts = marketing.decompose_by(measures(), "channel").iloc[0]
    assert (parts["roas_before"], parts["roas_after"]) == (5.0, 6.0)
    weight = 1 / np.log(1.2)  # logarithmic mean of 6 and 5
    assert parts["cpc_effect"] == pytest.approx(-weight * np.log(0.4 / 0.5))  # cheaper clicks
    assert parts["conversion_effect"] == pytest.approx(weight * np.log(0.04 / 0.05))
    assert parts["aov_effect"] == pytest.approx(1.0)  # weight * ln(60/50) = 1
    total = parts["cpc_effect"] + parts["conversion_effect"] + parts["aov_effect"]
    assert total == pytest.approx(parts["roas_after"] - parts["roas_before"], abs=1e-12)


def test_ltv_to_cac_and_payback():
    clv = pd.DataFrame({"acquisition_channel": ["A"], "clv_mean": [120.0]})
    table = marketing.ltv_to_cac(measures(), clv, horizon_months=12).iloc[0]
    assert table["cac"] == 20.0  # 120 / 6 new customers
    assert table["ltv_cac"] == 6.0
    assert table["payback_months"] == pytest.approx(20 / (120 / 12))
    assert marketing.ltv_to_cac(measures(), None, 12) is None


def test_response_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    spend = rng.uniform(1_000, 30_000, 120)
    revenue = marketing.hill(spend, 50_000, 10_000, 1.2) * rng.lognormal(0, 0.03, 120)
    fit = marketing.fit_response(spend, revenue)
    assert fit["top"] == pytest.approx(50_000, rel=0.1)
    assert fit["half"] == pytest.approx(10_000, rel=0.1)
    assert fit["shape"] == pytest.approx(1.2, rel=0.1)
    assert fit["r2"] > 0.95
    noise = marketing.fit_response(spend, rng.uniform(0, 1, 120))
    assert noise["r2"] < 0.5


def test_marginal_roas_is_the_derivative():
    s, h = 8_000.0, 1e-3
    numeric = (
        marketing.hill(s + h, 50_000, 10_000, 1.2) - marketing.hill(s - h, 50_000, 10_000, 1.2)
    ) / (2 * h)
    assert marketing.marginal_roas(s, 50_000, 10_000, 1.2) == pytest.approx(numeric, rel=1e-6)


def curves():
    return pd.DataFrame(
        {
            "channel": ["saturated", "room to grow", "middle", "poor fit"],
            "top": [20_000.0, 80_000.0, 40_000.0, 10_000.0],
            "half": [2_000.0, 40_000.0, 10_000.0, 1_000.0],
            "shape": [1.0, 1.0, 1.0, 1.0],
            "usable": [True, True, True, False],
            "current_spend": [10_000.0, 5_000.0, 8_000.0, 3_000.0],
        }
    ).assign(
        marginal_roas=lambda d: marketing.marginal_roas(
            d["current_spend"], d["top"], d["half"], d["shape"]
        )
    )


def test_reallocation_keeps_the_budget_and_follows_marginal_returns():
    plan = marketing.reallocate(curves(), max_shift=0.5).set_index("channel")
    usable = plan[plan["usable"]]
    assert usable["proposed_spend"].sum() <= usable["current_spend"].sum() + 1e-6
    assert usable["proposed_spend"].sum() >= 0.99 * usable["current_spend"].sum()
    assert plan.loc["poor fit", "change"] == 0  # no recommendation on a poor fit
    gainers = usable[usable["change"] > 0]
    losers = usable[usable["change"] < 0]
    assert len(gainers) and len(losers)
    assert gainers["marginal_roas"].min() > losers["marginal_roas"].max()
    bounds = (usable["proposed_spend"] / usable["current_spend"]).between(0.5 - 1e-9, 1.5 + 1e-9)
    assert bounds.all()
    after = marketing.marginal_roas(
        usable["proposed_spend"], usable["top"], usable["half"], usable["shape"]
    )
    assert (
        after.max() - after.min() < usable["marginal_roas"].max() - usable["marginal_roas"].min()
    )  # marginal returns move closer together
