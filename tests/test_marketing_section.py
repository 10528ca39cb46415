"""The marketing section assembled on the small sample: each finding's figures are those of
the table it summarises."""

import re
from dataclasses import replace

import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import comparison_periods
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.render import text
from helpers.render.formats import fmt_value
from helpers.sections import clv, marketing

from .conftest import PROJECT


@pytest.fixture(scope="module")
def section(small_data):
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})
    engine = DuckDBEngine(prepare_inputs(config).tables)
    periods = comparison_periods(config.period)
    by_channel = clv.build_section(engine, config, periods).by_channel
    return marketing.build_section(engine, config, periods, by_channel)


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
