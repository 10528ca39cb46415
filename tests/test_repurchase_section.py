"""The repurchase section assembled on the small sample: its findings quote its tables."""

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import comparison_periods
from helpers.data import queries, rfm
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.render import text
from helpers.render.formats import compact
from helpers.sections import repurchase
from helpers.sections.segments import SEGMENTATIONS, migration, segment_customers, segment_table

from .conftest import PROJECT, exported


@pytest.fixture(scope="module")
def section(small_data):
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})
    engine = DuckDBEngine(prepare_inputs(config).tables)
    return repurchase.build_section(engine, config, comparison_periods(config.period))


def test_cohort_and_flow_findings_quote_their_tables(section):
    mean = section.cohort_change["change_pp"].mean()
    assert any(
        f"{mean:+.1f} pp on average in their first period" in f
        for f in text.sentences(section.findings)
    )
    flows = section.flows.set_index("flow")["customers"]
    assert (
        f"Since last quarter {compact(flows['Moved up'])} customers moved up a tier, "
        f"{compact(flows['Moved down'])} moved down and {compact(flows['Lapsed'])} lapsed "
        "into Hibernating or Lost." in text.sentences(section.findings)
    )


def test_rate_findings_quote_their_kpis_on_both_bases_in_q4(section):
    record = section.kpis["returning_rate"]
    sentence = next(
        f for f in text.sentences(section.findings) if f.startswith("Returning-customer rate")
    )
    assert f"{record['current']:.1%} this quarter" in sentence
    assert f"{record['qoq'] * 100:+.2f} pp on the previous quarter" in sentence
    assert f"{record['yoy'] * 100:+.2f} pp on a year ago" in sentence  # Q4 is seasonal


def test_findings_as_data_carry_their_tables_figures(section):
    said = {f.kind: f for f in section.findings}
    flows = section.flows.set_index("flow")["customers"]
    moves = said["repurchase.tier_moves"].figures
    assert moves == {
        "moved_up": flows["Moved up"],
        "moved_down": flows["Moved down"],
        "lapsed": flows["Lapsed"],
    }
    retention = said["repurchase.cohort_retention"]
    mean = section.cohort_change["change_pp"].mean()
    assert retention.figures["mean_change_pp"] == mean
    assert retention.variant == ("better" if mean > 0 else "worse")
    rate = next(f for f in section.findings if f.figures.get("kpi") == "repurchase.returning_rate")
    record = section.kpis["returning_rate"]
    assert rate.figures["changes"] == {"qoq": record["qoq"], "yoy": record["yoy"]}
    assert rate.bases == ("qoq", "yoy")  # Q4 is seasonal


@pytest.fixture(scope="module")
def clean(small_data):
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})
    return prepare_inputs(config).tables["orders"], config


def _per_period(orders, freq):
    period = orders["order_ts"].dt.to_period(freq).dt.start_time
    first = orders.groupby("customer_id")["order_ts"].transform("min")
    per = orders.assign(period=period, first=first).groupby(["period", "customer_id"])
    table = per.agg(orders=("order_id", "size"), first=("first", "min")).reset_index()
    return table.groupby("period").agg(
        customers=("customer_id", "size"),
        repeat=("orders", lambda n: (n > 1).sum()),
        returning=("first", lambda f: (f < table.loc[f.index, "period"]).sum()),
    )


def test_quarterly_and_monthly_rates_are_the_orders_per_period(section, clean):
    orders, _ = clean
    for table, freq in ((section.quarterly, "Q"), (section.monthly, "M")):
        mine = table.set_index("period")
        theirs = _per_period(orders, freq)
        assert list(mine.index) == list(theirs.index)
        assert mine["customers"].tolist() == theirs["customers"].tolist()
        assert mine["repeat_rate"].tolist() == pytest.approx(
            (theirs["repeat"] / theirs["customers"]).tolist()
        )
        returning = theirs["returning"] / theirs["customers"]
        if freq == "M":  # the monthly chart leaves out the data's first year
            returning = returning.where(
                returning.index >= returning.index.min() + pd.DateOffset(years=1)
            )
        assert mine["returning_rate"].tolist() == pytest.approx(returning.tolist(), nan_ok=True)
    record = section.kpis["repeat_rate"]
    q4 = section.quarterly.set_index("period").loc["2025-10-01", "repeat_rate"]
    assert record["current"] == q4 and record["key"] == "repurchase.repeat_rate"


def test_cohort_retention_is_recomputed_from_the_orders(section, clean):
    orders, config = clean
    first = orders.groupby("customer_id")["order_ts"].min().dt.to_period("Q")
    active = orders.assign(
        cohort=orders["customer_id"].map(first), period=orders["order_ts"].dt.to_period("Q")
    )
    active["k"] = (active["period"] - active["cohort"]).apply(lambda offset: offset.n)
    size = first.value_counts()
    cohort = pd.Period("2025Q1", "Q")
    for k in range(4):  # 2025Q1's cohort has reached k = 0..3 by 2025Q4
        buyers = active[(active["cohort"] == cohort) & (active["k"] == k)]["customer_id"]
        expected = buyers.nunique() / size[cohort]
        assert section.retention.loc[cohort.start_time, k] == pytest.approx(expected)
    assert np.isnan(section.retention.loc[cohort.start_time, 4])  # 2026Q1 not reached
    revenue = active[(active["cohort"] == cohort) & (active["k"] <= 1)]["net_revenue"].sum()
    assert section.cumulative.loc[cohort.start_time, 1] == pytest.approx(revenue / size[cohort])
    assert list(section.retention.columns) == list(range(config.repurchase.max_cohort_periods + 1))
    change = section.cohort_change.set_index("cohort")
    assert len(change) <= 4 and change.index[-1] == "2025-07"  # the latest cohorts reaching k=1
    row = change.loc["2025-07"]
    assert row["year_earlier_cohort"] == "2024-07"
    assert row["retention"] == section.retention.loc["2025-07-01", 1]
    assert row["change_pp"] == pytest.approx(
        (row["retention"] - section.retention.loc["2024-07-01", 1]) * 100
    )


def test_second_orders_rfm_tables_and_members_are_the_sections_own(section, clean):
    orders, config = clean
    end = config.period.end
    firsts = orders.groupby("customer_id")["order_ts"].apply(lambda s: s.nsmallest(2).tolist())
    days = firsts.apply(lambda ts: (ts[1] - ts[0]).total_seconds() / 86400 if len(ts) > 1 else None)
    assert sorted(section.second_days) == pytest.approx(sorted(days.dropna()))
    shares = section.second_shares.set_index("window_days")
    age = (end - firsts.apply(lambda ts: ts[0])).dt.total_seconds() / 86400
    for window in config.repurchase.second_order_windows:
        eligible = days[age >= window]
        assert shares.loc[window, "customers"] == len(eligible)
        assert shares.loc[window, "share"] == pytest.approx((eligible <= window).mean())
    scored = exported(repurchase.customer_export(section))
    assert set(scored["customer_id"]) == set(orders["customer_id"])
    assert scored["customer_id"].is_monotonic_increasing  # in customer order
    assert section.segments["customers"].sum() == len(scored)
    assert section.transitions.to_numpy().sum() == len(scored)
    assert section.flows["customers"].sum() == len(scored)
    counted = scored["segment"].value_counts()
    shown = section.segments.set_index("segment")["customers"]
    assert shown[shown > 0].to_dict() == counted.to_dict()
    members = section.members[section.members["period"] == "current"].set_index("is_member")
    q4 = orders[orders["order_ts"] >= config.period.start]
    for flag, row in members.iterrows():
        mine = q4[q4["is_member"] == flag]
        assert row["customers"] == mine["customer_id"].nunique()
        assert row["orders"] == len(mine)
    said = {f.kind: f for f in section.findings}
    member = said["repurchase.members"]
    assert member.figures == {
        "member_rate": members.loc[True, "repeat_rate"],
        "non_member_rate": members.loc[False, "repeat_rate"],
    }
    significant = members.loc[True, "significant"]
    assert member.variant == ("significant" if significant else "not_significant")
    assert said["repurchase.tier_moves"].bases == ("qoq",)
    assert said["repurchase.cohort_retention"].bases == ("yoy",)
    second = said["repurchase.second_order"]
    fastest = section.second_by_channel.set_index("acquisition_channel")["median_days"]
    assert second.figures["fastest_channel"] == fastest.idxmin()
    assert second.figures["fastest_days"] == fastest.min()
    assert second.figures["window"] == 90 and second.bases == ("qoq", "yoy")


def test_month_cohorts_compare_six_months_a_year_apart(clean):
    orders, config = clean
    monthly = config.model_copy(
        update={"repurchase": config.repurchase.model_copy(update={"cohort_grain": "month"})}
    )
    section = repurchase.build_section(
        DuckDBEngine({"orders": orders}), monthly, comparison_periods(config.period)
    )
    assert section.retention.index.max() == pd.Timestamp("2025-12-01")
    assert section.retention.loc["2025-11-01", 1] >= 0  # November's cohort reached December
    assert np.isnan(section.retention.loc["2025-12-01", 1])
    change = section.cohort_change
    assert len(change) == 6 and change["cohort"].iloc[-1] == "2025-11"


def test_the_value_matrix_asked_for_is_the_one_used_and_only_the_segments_stay(clean):
    """With the 8-class value matrix (whose monetary score is this quarter's revenue): the
    section's segments, migration and wording are that scheme's, equal to its parts run on
    their own; the engine keeps the segmented customers (for the export), and of its own work
    nothing else."""
    orders, config = clean
    asked = config.repurchase.model_copy(update={"segmentation": "rfm8"})
    engine = DuckDBEngine({"orders": orders})
    section = repurchase.build_section(
        engine, config.model_copy(update={"repurchase": asked}), comparison_periods(config.period)
    )
    scheme = SEGMENTATIONS["rfm8"]
    own = DuckDBEngine({"orders": orders})
    quarter = config.period
    for name, (at, since) in {
        "now": (quarter.end, quarter.start),
        "before": (quarter.start, quarter.previous.start),
    }.items():
        rfm.keep_inputs(own, f"{name}_inputs", at, since)
        segment_customers(own, name, f"{name}_inputs", asked.rfm_bins, scheme)
    assert section.segmentation == "rfm8"
    segments = segment_table(rfm.segment_sums(own, "now"), scheme)
    pd.testing.assert_frame_equal(section.segments, segments)
    transitions, flows = migration(rfm.transitions(own, "now", "before"), scheme)
    pd.testing.assert_frame_equal(section.transitions, transitions)
    (moves,) = [f for f in section.findings if f.kind == "repurchase.tier_moves"]
    assert moves.variant == "rfm8"
    assert set(engine.tables) == {"orders", queries.FIRST_ORDERS, repurchase.SEGMENTED}
