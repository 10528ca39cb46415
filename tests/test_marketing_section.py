"""The marketing section assembled on the small sample: each finding's figures are those of
the table it summarises."""

import re
from dataclasses import replace

import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import comparison_periods
from helpers.data import queries
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.models.response import reallocate, response_curves
from helpers.render import text
from helpers.render.formats import fmt_value
from helpers.sections import clv, marketing, pacing

from .conftest import PROJECT


@pytest.fixture(scope="module")
def config(small_data):
    return load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})


@pytest.fixture(scope="module")
def tables(config):
    return prepare_inputs(config).tables


@pytest.fixture(scope="module")
def section(config, tables):
    engine = DuckDBEngine(tables)
    periods = comparison_periods(config.period)
    by_channel = clv.build_section(engine, config, periods).by_channel
    return marketing.build_section(engine, config, periods, by_channel)


QUARTERS = {"current": ("2025-10-01", "2026-01-01"), "previous": ("2025-07-01", "2025-10-01")}


def test_kpis_equal_a_pandas_computation_on_the_inputs(section, tables):
    """Every KPI of the section, for this quarter and the last, from the raw tables: the
    gross margin rate from the orders to the quarter's end, new customers as those whose
    first order falls in the quarter, MER as net revenue over spend."""
    orders, spend_rows = tables["orders"], tables["marketing"]
    costed = orders[(orders["order_ts"] < "2026-01-01") & orders["cost"].notna()]
    margin = 1 - costed["cost"].sum() / costed["revenue"].sum()
    assert section.margin_rate == pytest.approx(margin, rel=1e-12)
    first_orders = orders.groupby("customer_id")["order_ts"].min()
    kpis = section.kpis
    for period, (start, end) in QUARTERS.items():
        rows = spend_rows[(spend_rows["date"] >= start) & (spend_rows["date"] < end)]
        spend, revenue = rows["spend"].sum(), rows["attributed_revenue"].sum()
        sold = orders[(orders["order_ts"] >= start) & (orders["order_ts"] < end)]
        new = ((first_orders >= start) & (first_orders < end)).sum()
        expected = {
            "spend": spend,
            "roas": revenue / spend,
            "contribution_margin": revenue * margin - spend,
            "profit_roi": (revenue * margin - spend) / spend,
            "cac": spend / rows["new_customers"].sum(),
            "blended_cac": spend / new,
            "mer": sold["net_revenue"].sum() / spend,
        }
        for name, value in expected.items():
            assert kpis[name][period] == pytest.approx(value, rel=1e-9), (name, period)
    units = {name: record["unit"] for name, record in kpis.items()}
    assert units == {
        "spend": "currency",
        "roas": "ratio",
        "profit_roi": "ratio",
        "contribution_margin": "currency",
        "cac": "currency",
        "blended_cac": "currency",
        "mer": "ratio",
    }
    assert all(record["key"] == f"marketing.{name}" for name, record in kpis.items())


def test_findings_name_their_comparison_and_what_is_at_stake(section):
    said = {f.kind: f for f in section.findings}
    by = section.total.set_index("period")
    spend = said["marketing.spend"]
    assert spend.bases == ("qoq",)
    assert spend.figures["growth"] == pytest.approx(
        by.loc["current", "spend"] / by.loc["previous", "spend"] - 1
    )
    moved = by.loc["current", "attributed_revenue"] - by.loc["previous", "attributed_revenue"]
    assert spend.stake == pytest.approx(abs(moved))
    most = said["marketing.moved_most"]
    row = section.decomposition.set_index("channel").loc[most.figures["channel"]]
    effects = {k: row[column] for k, column in marketing.ROAS_DRIVERS.items()}
    driver = max(effects, key=lambda k: abs(effects[k]))
    assert (most.figures["driver"], most.figures["effect"]) == (driver, effects[driver])
    assert most.bases == ("qoq",) and most.stake == most.figures["revenue_at_stake"]


def test_a_channel_exactly_at_the_ltv_cac_reference_is_not_below_it(section, config):
    ltv = section.ltv.copy()
    best = ltv["ltv_cac"].idxmax()
    reference = config.marketing.ltv_cac_reference
    ltv["ltv_cac"] = reference
    ltv.loc[best, "ltv_cac"] = reference + 1
    said = marketing.findings(
        section.total,
        section.channels,
        section.decomposition,
        ltv,
        section.plan,
        {"current": 1.0},
        section.margin_rate,
        reference,
    )
    (found,) = [f for f in said if f.kind == "marketing.ltv_cac"]
    assert found.variant == "all_clear" and found.figures["below"] == [] and found.stake is None


def test_costs_above_revenue_and_no_orders_leave_their_figures_out(config, tables):
    """Costs at revenue: no margin rate, so no contribution or profit ROI, and the rejected
    rate said second. Without orders: no MER and no blended CAC; paid CAC still stands."""
    periods = comparison_periods(config.period)
    orders = tables["orders"]
    at_cost = {**tables, "orders": orders.assign(cost=orders["revenue"])}
    rejected = marketing.build_section(DuckDBEngine(at_cost), config, periods, None)
    assert rejected.margin_rate is None
    assert rejected.findings[1].kind == "common.margin_rejected"
    assert rejected.findings[1].figures == {"rate": 0.0}
    for name in ("contribution_margin", "profit_roi"):
        assert rejected.kpis[name]["current"] is None
    no_orders = {name: table for name, table in tables.items() if name == "marketing"}
    alone = marketing.build_section(DuckDBEngine(no_orders), config, periods, None)
    assert alone.margin_rate is None and alone.kpis["profit_roi"]["current"] is None
    for name in ("mer", "blended_cac"):
        assert alone.kpis[name]["current"] is None and alone.kpis[name]["previous"] is None
    assert alone.kpis["cac"]["current"] > 0
    assert [f.kind for f in alone.findings].count("common.margin_rejected") == 0


def _finding(section, start: str) -> str:
    return next(f for f in text.sentences(section.findings) if f.startswith(start) or start in f)


def test_moved_most_is_the_largest_revenue_at_stake(section):
    now = section.channels[section.channels["period"] == "current"].set_index("channel")
    table = section.decomposition.set_index("channel")
    at_stake = ((table["roas_after"] - table["roas_before"]) * now["spend"]).dropna()
    top = at_stake.abs().idxmax()
    row = table.loc[top]
    sentence = _finding(section, "moved the most attributed revenue")
    assert sentence.startswith(f"{top} moved the most")
    assert f"ROAS {row['roas_before']:.2f} -> {row['roas_after']:.2f}" in sentence
    assert fmt_value(at_stake[top], "currency", "¥") in sentence


def test_ltv_cac_finding_is_the_best_row(section):
    ltv = section.ltv.dropna(subset=["ltv_cac"])
    best = ltv.loc[ltv["ltv_cac"].idxmax()]
    sentence = _finding(section, "For this quarter's new customers")
    assert f"{best['channel']} has the best LTV:CAC ({best['ltv_cac']:.1f}:1 on paid CAC)" in (
        sentence
    )
    for channel in ltv.loc[ltv["ltv_cac"] < 3, "channel"]:
        assert channel in sentence.split("reference:")[1]


def test_reallocation_finding_lists_every_move_of_the_plan(section):
    plan = section.plan
    sentence = _finding(section, "Equalising marginal returns")
    moves = plan[plan["change"].abs() > 0.01 * plan["current_spend"]]
    assert len(re.findall(r"\([+-]¥", sentence)) == len(moves)  # no move more, none less
    for row in moves.itertuples():  # whole yuan from ¥100 to ¥10,000, compact above
        size = abs(row.change)
        amount = f"¥{size:,.0f}" if 100 <= size < 10_000 else fmt_value(size, "currency", "¥")
        assert f"{row.channel} ({'+' if row.change > 0 else '-'}{amount})" in sentence
    margin = section.margin_rate
    assert (plan.loc[plan["change"] > 0, "marginal_roas_after"] * margin >= 1 - 1e-2).all()


def test_spend_finding_is_the_total_table(section):
    by = section.total.set_index("period")
    now, before = by.loc["current"], by.loc["previous"]
    sentence = text.sentences(section.findings)[0]
    assert sentence.startswith(f"Marketing spend was {fmt_value(now['spend'], 'currency', '¥')} ")
    assert f"({now['spend'] / before['spend'] - 1:+.1%} on the previous quarter)" in sentence
    assert f"ROAS of {now['roas']:.2f} (previous quarter {before['roas']:.2f})" in sentence


def test_findings_as_data_carry_their_tables_figures(section):
    said = {f.kind: f for f in section.findings}
    by = section.total.set_index("period")
    spend = said["marketing.spend"].figures
    assert spend["spend"] == by.loc["current", "spend"]
    assert spend["roas"] == by.loc["current", "roas"]
    assert spend["previous_roas"] == by.loc["previous", "roas"]
    assert spend["mer"] == section.kpis["mer"]["current"]
    ltv = section.ltv.dropna(subset=["ltv_cac"])
    best = said["marketing.ltv_cac"].figures
    assert (best["channel"], best["ltv_cac"]) == tuple(
        ltv.loc[ltv["ltv_cac"].idxmax(), ["channel", "ltv_cac"]]
    )
    plan = said["marketing.reallocation"].figures
    moved = section.plan[section.plan["change"].abs() > 0.01 * section.plan["current_spend"]]
    listed = {m["channel"]: m["change"] for m in plan["cuts"] + plan["adds"]}
    assert listed == dict(zip(moved["channel"], moved["change"], strict=True))
    assert plan["margin_rate"] == section.margin_rate is not None  # break-even at the margin


def test_without_campaigns_the_campaign_table_is_the_channel_table(config, tables):
    plain = {**tables, "marketing": tables["marketing"].drop(columns="campaign")}
    periods = comparison_periods(config.period)
    section = marketing.build_section(DuckDBEngine(plain), config, periods, None)
    pd.testing.assert_frame_equal(section.campaigns, section.channels)
    assert section.pacing.campaigns is None


def test_budget_records_are_the_pacing_tables(section):
    """metrics.json's budget lines are the pacing tables, row for row; a section without
    campaign budgets, or without budgets at all, says None for what it lacks."""
    paced = section.pacing
    assert paced is not None and paced.campaigns is not None
    records = section.budget_records()
    for name, table in (
        ("budget_lines", paced.channels),
        ("campaign_budget_lines", paced.campaigns),
    ):
        assert len(records[name]) == len(table) > 0
        pd.testing.assert_frame_equal(pd.DataFrame(records[name]), table.reset_index(drop=True))
    without_campaigns = replace(section, pacing=replace(paced, campaigns=None)).budget_records()
    assert without_campaigns["campaign_budget_lines"] is None
    assert len(without_campaigns["budget_lines"]) == len(paced.channels)
    assert replace(section, pacing=None).budget_records() == {
        "budget_lines": None,
        "campaign_budget_lines": None,
    }


def test_the_section_holds_what_its_parts_compute(section, config, tables):
    """Channels and campaigns measured at the margin rate, the response curves on this
    quarter's mean weekly spend, the plan within the parameters' largest shift, the whole
    ROAS decomposition, and the pacing findings: each equal to its part run on its own."""
    engine = DuckDBEngine(tables)
    periods = comparison_periods(config.period)
    margin = section.margin_rate
    for table, by in (
        (section.channels, ["channel"]),
        (section.campaigns, ["channel", "campaign"]),
    ):
        expected = marketing.add_measures(queries.marketing_by_period(engine, periods, by), margin)
        pd.testing.assert_frame_equal(table, expected)
    assert section.campaigns["campaign"].notna().all()
    weekly = queries.marketing_weekly(engine, config.period.end)
    pd.testing.assert_frame_equal(section.weekly, weekly)
    now = weekly[weekly["week"] >= config.period.start].groupby("channel")["spend"].mean()
    curves = response_curves(weekly, now, config.marketing.min_fit_r2)
    pd.testing.assert_frame_equal(section.curves, curves)
    shift = config.marketing.max_budget_shift_pct / 100
    pd.testing.assert_frame_equal(section.plan, reallocate(curves, shift, margin))
    by = section.total.set_index("period")
    assert section.total_decomposition == marketing.roas_decomposition(
        by.loc["previous"], by.loc["current"]
    )
    paced = pacing.findings(section.pacing.channels, section.pacing.campaigns)
    kinds = [f.kind for f in section.findings]
    assert paced and all(f.kind in kinds for f in paced)
    assert "marketing.campaign_budget_lines" in kinds


def test_the_roas_bridge_walks_from_last_quarters_roas_to_this_ones(section):
    """The bridge's steps, in order: last quarter's ROAS of the total table, the three effects
    adding up to the change, and this quarter's."""
    by = section.total.set_index("period")["roas"]
    bridge = section.roas_bridge()
    assert list(bridge) == [
        "roas_before",
        "cpc_effect",
        "conversion_effect",
        "aov_effect",
        "roas_after",
    ]
    assert bridge["roas_before"] == pytest.approx(by["previous"], rel=1e-12)
    assert bridge["roas_after"] == pytest.approx(by["current"], rel=1e-12)
    effects = bridge["cpc_effect"] + bridge["conversion_effect"] + bridge["aov_effect"]
    assert effects == pytest.approx(by["current"] - by["previous"], rel=1e-9)


def test_channels_without_a_usable_curve_are_said_to_fit_poorly(section):
    plan = section.plan.assign(usable=False, problem=None)
    said = marketing.findings(
        section.total,
        section.channels,
        section.decomposition,
        section.ltv,
        plan,
        {"current": 1.0},
        section.margin_rate,
        3.0,
    )
    (poor,) = [f for f in said if f.kind == "marketing.poor_fit"]
    assert poor.figures == {"channels": plan["channel"].tolist()}
    usable = marketing.findings(
        section.total,
        section.channels,
        section.decomposition,
        section.ltv,
        section.plan,
        {"current": 1.0},
        section.margin_rate,
        3.0,
    )
    (moves,) = [f for f in usable if f.kind == "marketing.reallocation"]
    assert moves.figures["margin_rate"] == section.margin_rate is not None


def test_this_quarters_spend_includes_a_week_starting_on_its_first_day(small_data):
    """2024Q3 starts on Monday 1 July: that week is this quarter's, so the curves are read at
    the mean weekly spend from it on."""
    config = load_config(PROJECT / "params", "2024Q3", overrides={"data_dir": str(small_data)})
    engine = DuckDBEngine(prepare_inputs(config).tables)
    section = marketing.build_section(engine, config, comparison_periods(config.period), None)
    weekly = section.weekly
    assert (weekly["week"] == config.period.start).any()
    now = weekly[weekly["week"] >= config.period.start].groupby("channel")["spend"].mean()
    expected = response_curves(weekly, now, config.marketing.min_fit_r2)
    pd.testing.assert_frame_equal(section.curves, expected)
