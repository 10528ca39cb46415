"""Marketing ROI measures with hand-computed values, an exact ROAS decomposition, response
curves that recover known parameters, and a reallocation that respects the budget."""

import numpy as np
import pandas as pd
import pytest

from helpers.models import response
from helpers.render import text
from helpers.render.formats import fmt_value
from helpers.sections import marketing

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


CLV_OF_A = pd.DataFrame(  # channel A's CLV table: 5 new customers worth 8 now and 100 later
    {
        "acquisition_channel": ["A"],
        "clv_mean": [50.0],
        "new_customers": [5.0],
        "new_clv_mean": [100.0],
        "new_first_value_mean": [8.0],
    }
)


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
        "contribution_margin": 500 * 0.6 - 100,  # the revenue's margin, after the spend
        "profit_roi": (500 * 0.6 - 100) / 100,
        "cac": 25.0,
        "budget_variance": 20.0,
        "budget_variance_pct": 0.25,
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value), name
    no_margin = marketing.add_measures(pd.DataFrame([BEFORE]), margin_rate=None)
    assert np.isnan(no_margin["profit_roi"].iloc[0])
    assert np.isnan(no_margin["contribution_margin"].iloc[0])


EFFECTS = list(marketing.ROAS_DRIVERS.values())


def test_roas_decomposition_adds_up_exactly():
    parts = marketing.decompose_by(measures(), "channel").iloc[0]
    assert (parts["roas_before"], parts["roas_after"]) == (5.0, 6.0)
    weight = 1 / np.log(1.2)  # logarithmic mean of 6 and 5
    assert parts["cpc_effect"] == pytest.approx(-weight * np.log(0.4 / 0.5))  # cheaper clicks
    assert parts["conversion_effect"] == pytest.approx(weight * np.log(0.04 / 0.05))
    assert parts["aov_effect"] == pytest.approx(1.0)  # weight * ln(60/50) = 1
    total = parts["cpc_effect"] + parts["conversion_effect"] + parts["aov_effect"]
    assert total == pytest.approx(parts["roas_after"] - parts["roas_before"], abs=1e-12)
    columns = ["channel", "roas_before", "roas_after", *EFFECTS]
    assert list(marketing.decompose_by(measures(), "channel")) == columns
    only_now = measures().query("period == 'current'")  # nothing to compare with: no row
    assert list(marketing.decompose_by(only_now, "channel")) == columns


def test_an_unchanged_roas_splits_into_effects_that_cancel_out():
    """Twice the spend, clicks and revenue: ROAS 5 both times, so no log-mean weight (0/0);
    the effects are weighted by ROAS itself and add up to no change."""
    doubled = {k: 2 * v for k, v in BEFORE.items()}
    frame = pd.DataFrame([BEFORE, doubled], index=["previous", "current"])
    rows = marketing.add_measures(frame, margin_rate=None)
    parts = marketing.roas_decomposition(rows.loc["previous"], rows.loc["current"])
    effects = [parts[k] for k in EFFECTS]
    assert parts["roas_before"] == parts["roas_after"] == 5.0
    assert all(np.isfinite(effects)) and sum(effects) == pytest.approx(0.0, abs=1e-12)


def test_a_roas_from_or_to_nothing_has_no_split():
    """A channel with no attributed orders before (ROAS 0), or none after: no log split, and
    no division by zero on the way."""
    nothing = {**BEFORE, "attributed_orders": 0.0, "attributed_revenue": 0.0}
    frame = pd.DataFrame([nothing, AFTER], index=["previous", "current"])
    rows = marketing.add_measures(frame, margin_rate=None)
    with np.errstate(all="raise"):
        for before, after in (("previous", "current"), ("current", "previous")):
            parts = marketing.roas_decomposition(rows.loc[before], rows.loc[after])
            assert np.isnan([parts[k] for k in EFFECTS]).all()
    assert parts["roas_before"] == 6.0 and parts["roas_after"] == 0.0
    orderless = {**AFTER, "attributed_orders": 0.0}  # revenue attributed without an order
    frame = pd.DataFrame([BEFORE, orderless], index=["previous", "current"])
    rows = marketing.add_measures(frame, margin_rate=None)
    with np.errstate(all="raise"):
        parts = marketing.roas_decomposition(rows.loc["previous"], rows.loc["current"])
    assert parts["roas_after"] == 6.0 and np.isnan(parts["conversion_effect"])
    worthless = {**BEFORE, "attributed_revenue": 0.0}  # orders worth nothing: ROAS and AOV 0
    frame = pd.DataFrame([worthless, AFTER], index=["previous", "current"])
    rows = marketing.add_measures(frame, margin_rate=None)
    with np.errstate(all="raise"):
        parts = marketing.roas_decomposition(rows.loc["previous"], rows.loc["current"])
    assert rows.loc["previous", "aov"] == 0 and np.isnan([parts[k] for k in EFFECTS]).all()


def test_an_amount_moved_only_when_both_are_known():
    assert marketing._moved(2.0, 5.0) == 3.0
    for now, before in ((5.0, None), (None, 3.0), (np.nan, 2.0), (2.0, np.nan)):
        assert marketing._moved(now, before) is None


def test_ltv_to_cac_of_this_quarters_new_customers():
    """Paid CAC 120 / 6 = 20; blended 120 / 5 new customers in the orders = 24; value of a new
    customer 8 (first purchase) + 100 (CLV) = 108; payback (20 - 8) / (100 / 12) months."""
    table = marketing.ltv_to_cac(measures(), CLV_OF_A, horizon_months=12).iloc[0]
    assert table["cac"] == 20.0 and table["blended_cac"] == 24.0
    assert table["ltv"] == 108.0 and table["ltv_cac"] == pytest.approx(5.4)
    assert table["payback_months"] == pytest.approx(12 / (100 / 12))
    cheap = marketing.ltv_to_cac(measures(), CLV_OF_A.assign(new_first_value_mean=30.0), 12)
    assert cheap["payback_months"].iloc[0] == 0  # the first purchase already pays CAC back
    assert marketing.ltv_to_cac(measures(), None, 12) is None


def test_moved_most_weighs_the_roas_change_by_spend():
    decomposition = pd.DataFrame(
        {
            "channel": ["small", "large"],
            "roas_before": [16.21, 2.24],
            "roas_after": [18.26, 2.81],
            "cpc_effect": [0.0, 0.0],
            "conversion_effect": [2.05, 0.57],
            "aov_effect": [0.0, 0.0],
        }
    )
    channels = pd.DataFrame(
        {"period": "current", "channel": ["small", "large"], "spend": [1_500.0, 85_800.0]}
    )
    row = marketing.moved_most(decomposition, channels)
    assert row.name == "large"  # 0.57 x 85,800 = 48,906 of revenue against 2.05 x 1,500
    assert row["revenue_at_stake"] == pytest.approx(0.57 * 85_800)
    # a change with no split into drivers (from no return) is not the one explained
    unsplit = decomposition.assign(conversion_effect=[2.05, np.nan])
    assert marketing.moved_most(unsplit, channels).name == "small"
    assert marketing.moved_most(unsplit.iloc[1:], channels) is None


def test_response_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    spend = rng.uniform(1_000, 30_000, 120)
    revenue = response.hill(spend, 50_000, 10_000, 1.2) * rng.lognormal(0, 0.03, 120)
    fit = response.fit_response(spend, revenue)
    assert fit["top"] == pytest.approx(50_000, rel=0.1)
    assert fit["half"] == pytest.approx(10_000, rel=0.1)
    assert fit["shape"] == pytest.approx(1.2, rel=0.1)
    assert fit["r2"] > 0.95
    noise = response.fit_response(spend, rng.uniform(0, 1, 120))
    assert noise["r2"] < 0.5
    assert fit["problem"] is None and noise["problem"] is None


@pytest.mark.parametrize(
    ("spend", "revenue", "problem"),
    [
        ([1.0, 2, 3, 4, 5, 6, 7], [1.0, 2, 3, 4, 5, 6, 7], "too_few_weeks"),
        ([5.0] * 10, list(range(10)), "constant_spend"),
        (list(range(1, 11)), [0.0] * 10, "no_revenue"),
    ],
)
def test_weeks_a_curve_cannot_be_fitted_to_say_why(spend, revenue, problem):
    fit = response.fit_response(np.array(spend, dtype=float), np.array(revenue, dtype=float))
    assert fit["problem"] == problem and fit["r2"] == -np.inf and np.isnan(fit["top"])
    plan = pd.DataFrame(
        {"channel": ["A"], "usable": [False], "problem": [problem], "change": [0.0]}
        | {"current_spend": [1.0], "marginal_roas_after": [np.nan]}
    )
    total = pd.DataFrame(
        {"period": ["current", "previous"], "spend": [1.0, 1.0], "roas": [1.0, 1.0]}
    )
    said = marketing.findings(total, total, pd.DataFrame(), None, plan, {"current": 1.0}, None, 3)
    assert [(f.kind, f.variant, f.figures) for f in said[1:]] == [
        ("marketing.not_fitted", problem, {"channel": "A"})
    ]
    assert text.sentence(said[1]).startswith("No response curve for A: ")


def test_a_channel_paused_most_weeks_is_still_fitted():
    spend = np.array([0.0] * 12 + [1_000.0, 2_000, 4_000, 8_000, 16_000, 32_000])
    fit = response.fit_response(spend, response.hill(spend, 50_000, 10_000, 1.2))
    assert fit["problem"] is None and fit["half"] == pytest.approx(10_000, rel=1e-3)


def test_exactly_the_minimum_of_weeks_is_fitted_one_fewer_is_not():
    spend = np.linspace(1_000.0, 30_000.0, response.MIN_WEEKS)
    revenue = response.hill(spend, 50_000, 10_000, 1.2)
    assert response.fit_response(spend, revenue)["problem"] is None
    assert response.unfittable(spend[1:], revenue[1:]) == "too_few_weeks"


def test_a_small_top_and_a_half_point_below_every_week_are_within_the_bounds():
    """Revenue counted in thousands (top 0.5) and a half point of 80 below the lowest weekly
    spend of 100: the fit's lower bounds (0 and 1% of the lowest spend) must let it reach both."""
    spend = np.linspace(100.0, 1_000.0, 12)
    fit = response.fit_response(spend, response.hill(spend, 0.5, 80.0, 1.2))
    assert (fit["top"], fit["half"], fit["shape"]) == pytest.approx((0.5, 80.0, 1.2), rel=1e-3)


def test_a_usable_channel_spending_nothing_keeps_nothing_and_moves_no_one_else():
    """Its bounds are 0 to 0 and its marginal ROAS at 0 is infinite (shape < 1): counting it
    would wreck the bisection the others share."""
    idle = pd.DataFrame(
        {"channel": ["idle"], "top": [9_000.0], "half": [500.0], "shape": [0.8]}
        | {"usable": [True], "current_spend": [0.0], "marginal_roas": [np.inf]}
    )
    plan = response.reallocate(pd.concat([curves(), idle], ignore_index=True), max_shift=0.5)
    alone = response.reallocate(curves(), max_shift=0.5)
    assert plan["proposed_spend"].iloc[-1] == 0
    pd.testing.assert_series_equal(plan["proposed_spend"].iloc[:-1], alone["proposed_spend"])


FIT_KEYS = {"top", "half", "shape", "r2", "problem"}


def test_a_fit_that_does_not_converge_says_so(monkeypatch):
    def gives_up(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: maxfev exceeded")

    monkeypatch.setattr(response, "curve_fit", gives_up)
    spend = np.linspace(1_000.0, 30_000.0, 12)
    fit = response.fit_response(spend, response.hill(spend, 50_000, 10_000, 1.2))
    assert set(fit) == FIT_KEYS
    assert (fit["problem"], fit["r2"]) == ("no_convergence", -np.inf)
    assert np.isnan([fit["top"], fit["half"], fit["shape"]]).all()


def test_a_fit_is_the_same_in_any_currency_unit():
    """Spend and revenue in units of 10,000 (half point 1) and of 1,000,000 (half point 0.01,
    below 1): the same curve, scaled; the lower bound on the half point is relative."""
    spend = np.linspace(1_000.0, 30_000.0, 20)
    revenue = response.hill(spend, 50_000, 10_000, 1.2)
    for unit in (1e4, 1e6):
        fit = response.fit_response(spend / unit, revenue / unit)
        assert (fit["top"], fit["half"], fit["shape"]) == pytest.approx(
            (50_000 / unit, 10_000 / unit, 1.2), rel=1e-6
        )


def test_the_fit_stays_within_its_bounds():
    """A curve steeper than shape 3 is fitted at shape 3; a straight line, which never
    saturates, at the top bound of 100 times the best week's revenue."""
    spend = np.linspace(1_000.0, 30_000.0, 20)
    steep = response.fit_response(spend, response.hill(spend, 50_000, 10_000, 6.0))
    assert steep["shape"] == pytest.approx(3.0)
    line = response.fit_response(spend, 2.0 * spend)
    assert line["top"] == pytest.approx(100 * 2.0 * spend.max())
    assert line["r2"] > 0.99


def test_response_curves_per_channel():
    """Each channel's fit, its weeks, its current spend (NaN when it spends nothing now) and
    the marginal ROAS there; a fit exactly at the minimum R^2 is usable."""
    spend = np.linspace(1_000.0, 30_000.0, 10)
    weekly = pd.DataFrame(
        {
            "channel": ["A"] * 10 + ["B"] * 9,
            "spend": np.concatenate([spend, spend[:9]]),
            "revenue": np.concatenate(
                [
                    response.hill(spend, 50_000, 10_000, 1.2),
                    spend[:9] * np.random.default_rng(1).uniform(0.5, 1.5, 9),
                ]
            ),
        }
    )
    fit_a = response.fit_response(spend, response.hill(spend, 50_000, 10_000, 1.2))
    fit_b = response.fit_response(
        weekly["spend"][10:].to_numpy(), weekly["revenue"][10:].to_numpy()
    )
    curves = response.response_curves(weekly, pd.Series({"A": 8_000.0}), min_r2=fit_b["r2"])
    a, b = curves.set_index("channel").loc["A"], curves.set_index("channel").loc["B"]
    assert (a["weeks"], b["weeks"]) == (10, 9)
    assert bool(a["usable"]) and bool(b["usable"])
    assert a["current_spend"] == 8_000 and np.isnan(b["current_spend"])
    assert a["marginal_roas"] == pytest.approx(
        response.marginal_roas(8_000.0, fit_a["top"], fit_a["half"], fit_a["shape"])
    )
    assert np.isnan(b["marginal_roas"])


def test_a_bug_in_the_fit_inputs_is_raised_not_hidden():
    spend = np.array([1.0, 2, 3, 4, 5, 6, 7, np.nan, 9, 10])
    with pytest.raises(ValueError):
        response.fit_response(spend, spend * 2)


def test_marginal_roas_is_the_derivative():
    s, h = 8_000.0, 1e-3
    numeric = (
        response.hill(s + h, 50_000, 10_000, 1.2) - response.hill(s - h, 50_000, 10_000, 1.2)
    ) / (2 * h)
    assert response.marginal_roas(s, 50_000, 10_000, 1.2) == pytest.approx(numeric, rel=1e-6)


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
        marginal_roas=lambda d: response.marginal_roas(
            d["current_spend"], d["top"], d["half"], d["shape"]
        )
    )


def test_reallocation_keeps_the_budget_and_follows_marginal_returns():
    plan = response.reallocate(curves(), max_shift=0.5).set_index("channel")
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
    after = response.marginal_roas(
        usable["proposed_spend"], usable["top"], usable["half"], usable["shape"]
    )
    assert (
        after.max() - after.min() < usable["marginal_roas"].max() - usable["marginal_roas"].min()
    )  # marginal returns move closer together


def test_two_usable_channels_listed_after_a_poor_fit_are_reallocated_in_any_unit():
    """Reallocation needs two usable channels, wherever they stand in the table, and does not
    depend on the currency unit: spends of 1.0 and 0.5 (tens of thousands) move as 10,000 and
    5,000 do."""
    table = curves().iloc[[3, 0, 1]].reset_index(drop=True)
    plan = response.reallocate(table, max_shift=0.5)
    assert plan["change"].iloc[0] == 0 and (plan["change"].iloc[1:].abs() > 100).all()
    assert plan["proposed_spend"].sum() == pytest.approx(table["current_spend"].sum(), rel=1e-2)
    in_units = table.assign(
        top=table["top"] / 1e4, half=table["half"] / 1e4, current_spend=table["current_spend"] / 1e4
    )
    scaled = response.reallocate(in_units, max_shift=0.5)
    np.testing.assert_allclose(scaled["proposed_spend"] * 1e4, plan["proposed_spend"], rtol=1e-6)


def test_reallocation_never_adds_where_the_margin_does_not_pay_back():
    """Marginal ROAS now: saturated 0.28, room to grow 1.58, middle 1.23. At a 50% margin the
    break-even marginal ROAS is 2. Saturated and room to grow stay below 2 even at their floors
    (-50%: 0.56 and 1.77), so both are cut to them; middle reaches 2 at about 4,142
    (40,000 x 10,000 / (10,000 + s)^2 = 2), above its floor of 4,000. The rest is held back.
    At 100% (break-even 1), every channel that receives still returns at least its margin."""
    tight = response.reallocate(curves(), 0.5, margin_rate=0.5).set_index("channel")
    usable = tight[tight["usable"]]
    assert usable.loc["saturated", "proposed_spend"] == 5_000
    assert usable.loc["room to grow", "proposed_spend"] == 2_500
    assert usable.loc["middle", "proposed_spend"] == pytest.approx(
        np.sqrt(40_000 * 10_000 / 2) - 10_000, rel=1e-3
    )
    held = -usable["change"].sum()
    assert held == pytest.approx(23_000 - 7_500 - 4_142, rel=1e-3)
    sentence = text.sentence(marketing.reallocation_finding(tight.reset_index(), 0.5))
    assert f"hold back {fmt_value(held, 'currency')} that would not pay back its margin" in sentence
    assert "add to" not in sentence
    loose = response.reallocate(curves(), 0.5, margin_rate=1.0)
    receivers = loose[loose["change"] > 0]
    assert len(receivers) and (receivers["marginal_roas_after"] >= 1 - 1e-2).all()
    sentence = text.sentence(marketing.reallocation_finding(loose, 1.0))
    moved = loose[loose["change"].abs() > 0.01 * loose["current_spend"]]
    assert all(name in sentence for name in moved["channel"])  # every move is listed
    assert "poor fit" not in sentence


def test_the_reallocation_finding_lists_real_moves_in_order_and_the_losing_adds():
    """Moves over 1% of a channel's spend are listed (B's +10 on 1,000 is not): cuts largest
    first, adds largest first; what the cuts free beyond the adds is held back; an added unit
    returning under its cost in margin (D: 2.0 x 0.4 < 1) loses money, C's exactly 1 does
    not. The stake is a quarter (13 weeks) of the weekly cuts."""
    plan = pd.DataFrame(
        {
            "channel": ["A", "B", "C", "D", "E", "F"],
            "current_spend": [1000.0, 1000.0, 500.0, 400.0, 2.0, 500.0],
            "change": [-300.0, 10.0, 200.0, 50.0, 0.5, -100.0],
            "marginal_roas_after": [3.0, 3.0, 2.5, 2.0, 10.0, 3.0],
        }
    )
    found = marketing.reallocation_finding(plan, margin_rate=0.4)
    figures = found.figures
    assert figures["cuts"] == [
        {"channel": "A", "change": -300.0},
        {"channel": "F", "change": -100.0},
    ]
    assert [m["channel"] for m in figures["adds"]] == ["C", "D", "E"]
    assert figures["held"] == pytest.approx(300 + 100 - 200 - 50 - 0.5)  # B does not count
    assert figures["losing"] == ["D"] and found.stake == 13 * 400.0
    assert marketing.reallocation_finding(plan, margin_rate=None).figures["losing"] == []
    even = pd.DataFrame(
        {
            "channel": ["A", "C"],
            "current_spend": [600.0, 400.0],
            "change": [-110.0, 100.0],
            "marginal_roas_after": [3.0, 3.0],
        }
    )
    assert marketing.reallocation_finding(even, 0.4).figures["held"] is None  # 10: exactly 1%
    small = even.assign(change=[-6.0, 4.0])  # 1% of each channel's spend: nothing moves
    assert marketing.reallocation_finding(small, 0.4) is None


def test_ratios_divide_by_zero_as_missing_and_absent_inputs_leave_measures_out():
    ratio = marketing._div(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 0.0, 4.0]))
    assert ratio.dtype == float and ratio.tolist()[::2] == [1.0, 0.75] and np.isnan(ratio[1])
    bare = pd.DataFrame({"spend": [100.0, 50.0], "attributed_revenue": [300.0, 0.0]})
    out = marketing.add_measures(bare, margin_rate=0.5)
    assert out["roas"].tolist() == [3.0, 0.0]
    assert out["profit_roi"].tolist() == [0.5, -1.0]  # (150 - 100) / 100, (0 - 50) / 50
    for measure in ("ctr", "cpc", "conversion_rate", "cpa", "aov", "cac", "budget_variance"):
        assert out[measure].dtype == float and out[measure].isna().all(), measure


def test_a_paid_channel_without_new_customers_in_the_orders_keeps_its_row():
    two = pd.concat([measures(), measures().assign(channel="Z")], ignore_index=True)
    table = marketing.ltv_to_cac(two, CLV_OF_A, horizon_months=12).set_index("channel")
    assert list(table.index) == ["A", "Z"]
    assert table.loc["A", "ltv"] == 108.0 and np.isnan(table.loc["Z", "ltv"])
    assert table.loc["Z", "cac"] == 20.0  # paid CAC needs no orders
