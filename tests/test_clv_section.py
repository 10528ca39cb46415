"""The CLV section assembled on the small sample: figures independent of DuckDB's thread
count, sound figures only, withheld ones with their reason, and definitions that hold."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.errors import Reason
from helpers.core.periods import comparison_periods, parse_period
from helpers.data import queries
from helpers.data.engines import ENGINE_THREADS_VARIABLE, DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.models import fitting, holdout, likelihood, prediction, valuation
from helpers.models.fitting import MODEL_KEYS, ModelFitError
from helpers.models.prediction import period_transactions
from helpers.render import text
from helpers.sections import clv
from helpers.sections.findings import Finding

from .conftest import PROJECT
from .scoring import export_of, lifetimes_standard_errors


@pytest.fixture(scope="module")
def config(small_data):
    return load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})


@pytest.fixture(scope="module")
def tables(config):
    return prepare_inputs(config).tables


def build(config, tables):
    return clv.build_section(DuckDBEngine(tables), config, comparison_periods(config.period))


@pytest.fixture(scope="module")
def section(config, tables):
    return build(config, tables)


@pytest.mark.slow
def test_figures_do_not_depend_on_the_thread_count(config, tables, monkeypatch):
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv(ENGINE_THREADS_VARIABLE, threads)
        results.append(build(config, tables))
    one, two = results
    assert one.chosen["model"] == two.chosen["model"]
    for name, record in one.kpis.items():
        for period in ("current", "previous", "year_ago"):
            mine, theirs = record.get(period), two.kpis[name].get(period)
            assert (mine is None) == (theirs is None)
            if mine is not None:
                assert mine == pytest.approx(theirs, rel=1e-9), (name, period)
    assert one.current.spend.params == pytest.approx(two.current.spend.params, rel=1e-9)


def test_published_figures_are_sound_and_defined_as_stated(section, tables, config):
    p = section.current.predictions
    assert (p["clv"] >= 0).all() and (p["expected_order_value"] > 0).all()
    spend = section.current.spend
    assert spend.params["q"] > 1
    assert spend.model_mean == pytest.approx(spend.observed_mean, rel=0.05)
    kpis = section.kpis
    assert kpis["expected_alive"]["current"] == pytest.approx(p["p_alive"].sum())
    assert kpis["clv_mean"]["current"] == pytest.approx(p["clv"].mean())
    assert kpis["clv_total"]["current"] == pytest.approx(p["clv"].sum())
    orders = tables["orders"]
    recent = orders[(orders["order_ts"] >= "2025-01-01") & (orders["order_ts"] < "2026-01-01")]
    assert kpis["bought_last_12_months"]["current"] == recent["customer_id"].nunique()
    assert kpis["expected_alive"]["current"] < kpis["bought_last_12_months"]["current"]
    # each compared base is valued at its own quarter's margin rate
    before = orders[orders["order_ts"] < "2025-10-01"]
    assert section.base.set_index("measure").loc["clv_mean", "previous"] > 0
    margin = 1 - before["cost"].sum() / before["revenue"].sum()
    assert section.current.margin_rate != pytest.approx(margin, rel=1e-6)
    se = kpis["clv_mean"]["se"]["current"]
    assert 0 < se < kpis["clv_mean"]["current"] / 10
    assert kpis["clv_total"]["se"]["current"] == pytest.approx(se * len(p))
    top = section.tiers.set_index("tier").loc["Top 10%", "value_share"]
    assert f"The top 10% of customers hold {top:.0%}" in " ".join(text.sentences(section.findings))


def test_a_degenerate_spend_model_withholds_clv_and_says_why(config, tables, degenerate_spend):
    section = build(config, tables)
    assert section.clv_withheld.code == "spend_q_not_above_1"
    assert section.tiers is None and section.by_channel is None
    assert "clv" not in section.current.predictions
    for name in clv.CLV_FIGURES:
        record = section.kpis[name]
        assert record["current"] is None and record["withheld"] == section.clv_withheld
    assert section.kpis["expected_alive"]["current"] > 0  # the purchase model still stands
    assert "withheld" not in section.kpis["expected_alive"]
    assert any(f.startswith("CLV figures are withheld") for f in text.sentences(section.findings))
    assert "clv" not in export_of(section)
    fit = clv.model_fit(section).figures
    assert fit["spend"] is None and fit["check"] is None
    assert fit["spend_withheld"] == section.clv_withheld


def test_no_purchase_model_withholds_the_section(config, tables, monkeypatch):
    def never(*args, **kwargs):
        raise fitting.ConvergenceError("never")

    monkeypatch.setattr(likelihood, "fit_purchase_model", never)
    engine = DuckDBEngine(tables)
    section = clv.build_section(engine, config, comparison_periods(config.period))
    assert engine.tables == list(tables)  # no customer summary left behind
    assert section.withheld.code == "no_purchase_model"
    assert section.clv_withheld == section.withheld and section.kpis == {}
    worded = text.worded(section.withheld)
    assert worded.startswith("no purchase model could be fitted: the BG/NBD model could not")
    assert text.sentences(section.findings) == [f"CLV is not available: {worded}."]


def test_a_current_base_that_cannot_be_valued_withholds_the_section(config, tables, monkeypatch):
    def unvalued(*args, **kwargs):
        raise ModelFitError("too_few_customers", customers=3, need=50)

    monkeypatch.setattr(clv, "value_snapshot", unvalued)
    engine = DuckDBEngine(tables)
    section = clv.build_section(engine, config, comparison_periods(config.period))
    assert engine.tables == list(tables)  # no customer summary left behind
    assert section.withheld == Reason(
        "base_not_valued", {"reason": Reason("too_few_customers", {"customers": 3, "need": 50})}
    )
    assert section.clv_withheld == section.withheld and section.kpis == {}
    assert text.sentences(section.findings) == [
        "CLV is not available: the customer base could not be valued: not enough customers to "
        "fit a purchase model: 3, need at least 50."
    ]


def test_compared_bases_note_what_fell_back_failed_or_lost_its_clv_in_order(
    config, tables, monkeypatch
):
    """The current base without a spend model, the previous one not valued, the one a year
    ago valued after both its fits fell back: a note for each, in that order, and only the
    current base's scores left in the engine."""
    periods = comparison_periods(config.period)
    label = dict(zip(periods["period"], periods["quarter"], strict=True))
    no_spend, model_note, spend_note = (Reason(code) for code in ("a", "b", "c"))
    real = clv.value_snapshot

    def valued(engine, config, quarter, key, fitted=None):
        if quarter.label == label["previous"]:
            raise ModelFitError("too_few_customers", customers=3, need=50)
        snapshot = real(engine, config, quarter, key, fitted)
        if quarter.label == label["current"]:
            snapshot.spend, snapshot.spend_withheld = None, no_spend
        else:
            snapshot.model = dataclasses.replace(snapshot.model, note=model_note)
            snapshot.spend = dataclasses.replace(snapshot.spend, note=spend_note)
        return snapshot

    monkeypatch.setattr(clv, "value_snapshot", valued)
    engine = DuckDBEngine(tables)
    summaries = {clv.summary_table(q): parse_period(q).end for q in periods["quarter"]}
    current = clv.summary_table(label["current"])
    queries.keep_customer_summaries(engine, summaries, 7.0, origins=current)
    snapshot, base, notes = clv.value_bases(engine, config, periods, "bgnbd", None)
    assert notes == [
        Finding("clv.base_no_clv", {"quarter": label["current"], "reason": no_spend}),
        Finding(
            "clv.base_not_valued",
            {
                "quarter": label["previous"],
                "reason": Reason("too_few_customers", {"customers": 3, "need": 50}),
            },
        ),
        Finding("clv.base_fallback", {"quarter": label["year_ago"], "note": model_note}),
        Finding("clv.base_fallback", {"quarter": label["year_ago"], "note": spend_note}),
    ]
    assert snapshot.quarter == label["current"] and not snapshot.has_clv
    assert base["previous"].isna().all() and base["year_ago"].notna().any()
    assert engine.tables == [*tables, queries.CUSTOMER_SUMMARIES, current, snapshot.table]


def test_a_section_that_fails_leaves_no_customer_summary_and_keeps_its_error(
    config, tables, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(clv, "validate_models", broken)
    engine = DuckDBEngine(tables)
    with pytest.raises(RuntimeError, match="a bug"):
        clv.build_section(engine, config, comparison_periods(config.period))
    assert engine.tables == list(tables)


def test_trust_and_the_holdout_error_are_the_chosen_models(section, config):
    error = section.chosen["aggregate_error_pct"]
    assert section.kpis["holdout_error_pct"]["current"] == error
    assert section.trusted is (abs(error) <= config.clv.max_holdout_error_pct)
    chosen = section.candidates[section.candidates["chosen"]]
    assert chosen["model"].tolist() == [section.current.model.name] == [section.chosen["model"]]


def test_the_previous_base_is_valued_with_the_validation_fit_from_the_kept_summaries(
    config, tables, monkeypatch
):
    """Each candidate is fitted once on the base at the previous quarter's end, which is then
    valued with the chosen one's fit; the chosen model is fitted once more on each other base.
    Afterwards the engine holds the inputs, the summaries kept in one pass and the current
    base's scores: nothing else."""
    fitted = []
    real = likelihood.fit_purchase_model

    def counted(key, frequency, *args, **kwargs):
        fitted.append((key, len(frequency)))
        return real(key, frequency, *args, **kwargs)

    monkeypatch.setattr(likelihood, "fit_purchase_model", counted)
    engine = DuckDBEngine(tables)
    section = clv.build_section(engine, config, comparison_periods(config.period))
    validation, others = fitted[: len(MODEL_KEYS)], fitted[len(MODEL_KEYS) :]
    assert [key for key, _ in validation] == list(MODEL_KEYS)
    assert len({rows for _, rows in validation}) == 1
    chosen = section.current.model.key
    assert [key for key, _ in others] == [chosen, chosen]
    assert len({rows for _, rows in fitted}) == 3  # three bases, each fitted on its own
    current = clv.summary_table(config.period.label)
    assert engine.tables == [*tables, queries.CUSTOMER_SUMMARIES, current, section.current.table]


def test_the_section_holds_what_its_parts_compute(section, config, tables):
    """The validation table and spend check of a validation run on its own, the cohort
    table, chart sample and period-transactions check of the current base, its basis (and
    the finding stating it) and the holdout error as a KPI."""
    engine = DuckDBEngine(tables)
    periods = comparison_periods(config.period).set_index("period")
    calibration = clv.summary_table(periods.loc["previous", "quarter"])
    table, _, check, _ = holdout.validate_models(engine, config, config.period, calibration)
    pd.testing.assert_frame_equal(section.validation_table, table)
    # sums DuckDB adds on several threads may differ in their last bits from run to run
    assert section.spend_check == pytest.approx(check, rel=1e-12, abs=0) and check
    current = section.current
    pd.testing.assert_frame_equal(section.by_cohort, clv.clv_by(current, "first_quarter"))
    sample = queries.evenly_spaced(current.engine, current.table, "clv", clv.CHART_CUSTOMERS)
    pd.testing.assert_series_equal(section.clv_sample, sample)
    drawn = period_transactions(current.model, current.histories, config.seed)
    pd.testing.assert_frame_equal(section.period_check, drawn)
    assert section.basis == "gross margin" and current.margin_rate is not None
    # the matrices at the customers' median age (in the summary, one row per customer)
    customers = current.predictions
    age = float(np.quantile(customers["T"], 0.5))
    assert section.matrix_age == pytest.approx(age)
    rows = int(np.quantile(customers["frequency"], 0.99))
    pd.testing.assert_frame_equal(section.alive, prediction.alive_matrix(current.model, age, rows))
    next_quarter = 90 / 7  # 2026Q1 in weeks
    expected = prediction.expected_purchases_matrix(current.model, age, next_quarter, rows)
    pd.testing.assert_frame_equal(section.expected, expected)
    figures = {"margin_rate": current.margin_rate, "horizon_months": 12, "annual_rate": 0.1}
    assert clv.valuation_basis(section, 12, 0.1) == Finding(
        "clv.valuation_basis", figures, variant="margin"
    )
    for name, unit in clv.BASE_UNITS.items():
        record = section.kpis[name]
        assert (record["key"], record["unit"]) == (f"clv.{name}", unit)
        assert "withheld" not in record  # a sound spend model withholds nothing
    record = section.kpis["holdout_error_pct"]
    assert (record["key"], record["unit"], record["current"]) == (
        "clv.holdout_error_pct",
        "pct",
        section.chosen["aggregate_error_pct"],
    )


def test_a_change_within_the_uncertainty_is_not_material():
    from helpers.render.kpi_rows import formatted_kpis
    from helpers.render.locale import Locale
    from helpers.sections.kpis import kpi_record

    values = {"current": 101.0, "previous": 100.0, "year_ago": 80.0}
    errors = {"current": 1.0, "previous": 1.0, "year_ago": 1.0}
    record = kpi_record("clv.clv_mean", "currency", values, standard_errors=errors)
    # 1 against 1.96 x sqrt(2) = 2.77: within; 21 against 2.77: beyond
    assert record["qoq_material"] is False and record["yoy_material"] is True
    row = formatted_kpis({"clv_mean": record}, Locale())[0]
    assert row["qoq"] == "▲ +1.0% (within uncertainty)" and row["qoq_class"] == ""
    assert row["current"] == "¥101.00 ± ¥1.96" and row["yoy_class"] == "good"
    assert np.isclose(record["yoy"], 101 / 80 - 1)
    withheld = kpi_record("clv.clv_mean", "currency", {"current": None}) | {"withheld": "no model"}
    assert formatted_kpis({"x": withheld}, Locale())[0]["current"] == "not available: no model"


@pytest.mark.slow
def test_the_cdnow_report_quarter_of_fader_hardie_lee_is_valued(tmp_path):
    """1997Q4 (calibration to 1997-09-30, the window FHL fitted): every model fits, the base is
    valued, and the year-ago base (no customers before 1997) is left out with its reason."""
    from helpers.data import cdnow

    cdnow.main(["--out", str(tmp_path)])
    config = load_config(
        PROJECT / "params", "1997Q4", ["cdnow.yaml"], overrides={"data_dir": str(tmp_path)}
    )
    section = clv.build_section(
        DuckDBEngine(prepare_inputs(config).tables), config, comparison_periods(config.period)
    )
    assert section.withheld is None and section.current.has_clv
    assert all("error" not in row for row in section.candidates.to_dict("records"))
    assert section.kpis["clv_mean"]["year_ago"] is None
    assert any("1996Q4: not valued" in note for note in text.sentences(section.snapshot_notes))
    assert (section.current.predictions["clv"] >= 0).all()
    assert pd.notna(section.kpis["clv_mean"]["current"])


def test_channel_finding_is_its_table(section, config):
    by_channel = section.by_channel.sort_values("clv_mean")
    best, worst = by_channel.iloc[-1], by_channel.iloc[0]
    currency = config.currency
    expected = (
        f"Customers acquired through {best['acquisition_channel']} are worth "
        f"{currency}{best['clv_mean']:,.0f} each over the horizon, "
        f"{best['clv_mean'] / worst['clv_mean']:.1f}x those from "
        f"{worst['acquisition_channel']} ({currency}{worst['clv_mean']:,.0f})."
    )
    assert expected in text.sentences(section.findings)
    p = section.current.predictions
    for row in section.by_channel.itertuples():
        mine = p[p["acquisition_channel"] == row.acquisition_channel]
        assert row.clv_mean == pytest.approx(mine["clv"].mean())
        new = mine[mine["first_quarter"] == "2025Q4"]
        assert row.new_customers == len(new)
        assert row.new_clv_mean == pytest.approx(new["clv"].mean())
        margin = section.current.margin_rate
        assert row.new_first_value_mean == pytest.approx(new["first_day_value"].mean() * margin)
    alive = section.kpis["expected_alive"]["current"]
    buyers = section.kpis["expected_buyers_horizon"]["current"]
    bought = section.kpis["bought_last_12_months"]["current"]
    assert (
        f"The {section.chosen['model']} model expects {alive:,.0f} customers to be still active, "
        f"and {buyers:,.0f} to order over the next 12 months; {bought:,.0f} ordered in the last "
        "12 months." in text.sentences(section.findings)
    )
    assert buyers == pytest.approx(p["p_order_horizon"].sum()) and buyers < alive


def test_a_large_base_compares_models_on_a_sample_and_checks_the_chosen_on_all(small_data):
    config = load_config(
        PROJECT / "params",
        "2025Q4",
        overrides={"data_dir": str(small_data), "clv": {"selection_customers": 1000}},
    )
    tables = prepare_inputs(config).tables
    section = build(config, tables)
    rows = section.candidates.set_index("model")
    everyone = rows.loc[section.chosen["model"], "customers"]
    assert everyone > 2000
    assert (rows.drop(section.chosen["model"])["customers"] == 1000).all()
    assert section.chosen["customers"] == everyone


def test_intervals_equal_a_customer_by_customer_computation_with_lifetimes(section, config):
    """The standard errors, computed from a few sums per history and per frequency, equal the
    delta method worked customer by customer with lifetimes' own CLV and purchase functions."""
    snapshot = section.current
    summary = snapshot.predictions[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    horizon = valuation.horizon_for(config, config.period)
    clv_se, revenue_se = lifetimes_standard_errors(snapshot.model, snapshot.spend, summary, horizon)
    errors = snapshot.standard_errors
    assert errors["clv_total"] == pytest.approx(clv_se * snapshot.margin_rate, rel=1e-6)
    assert errors["clv_mean"] == pytest.approx(errors["clv_total"] / len(summary), rel=1e-12)
    assert errors["expected_revenue_next_quarter"] == pytest.approx(revenue_se, rel=1e-6)


def test_findings_as_data_carry_their_tables_figures(section):
    said = {f.kind: f for f in section.findings}
    share = section.tiers.set_index("tier")["value_share"]
    top = said["clv.concentration"].figures
    assert top["top10"] == share["Top 10%"]
    assert top["top20"] == pytest.approx(share["Top 10%"] + share["Next 10%"])
    ranked = section.by_channel.sort_values("clv_mean")
    channel = said["clv.channel_value"].figures
    assert channel["best_channel"] == ranked.iloc[-1]["acquisition_channel"]
    assert channel["ratio"] == pytest.approx(
        ranked.iloc[-1]["clv_mean"] / ranked.iloc[0]["clv_mean"]
    )
    activity = said["clv.activity"].figures
    assert activity["alive"] == section.kpis["expected_alive"]["current"]
    trust = said["clv.trust"]
    error = section.chosen["aggregate_error_pct"]
    assert trust.figures["error_pct"] == error
    assert (
        trust.variant
        == f"{'under' if error < 0 else 'over'}_{'within' if section.trusted else 'beyond'}"
    )


def test_the_model_note_and_the_spend_record_are_the_fitted_models(section, config, tables):
    model, spend = section.current.model, section.current.spend
    note = clv.model_fit(section)
    assert note.figures["model"] == model.name and note.figures["params"] == model.params
    assert note.figures["spend"]["params"] == spend.params
    assert note.figures["spend"]["repeat_customers"] == spend.repeat_customers
    assert note.figures["check"] == section.spend_check
    words = text.sentence(note)
    assert words.startswith(f"Purchase model {model.name}: ")
    assert f"Gamma-Gamma spend model on {spend.repeat_customers:,} repeat customers" in words
    record = spend.as_record()
    assert record == {
        "repeat_customers": spend.repeat_customers,
        "frequency_spend_correlation": spend.frequency_spend_correlation,
        "params": spend.params,
        "observed_mean": spend.observed_mean,
        "model_mean": spend.model_mean,
        "penalty": 0.0,
        "note": spend.note,
    }
    # the marketing section's CLV by channel, when the CLV section did not save it
    by_channel = clv.value_by_channel(DuckDBEngine(tables), config)
    pd.testing.assert_frame_equal(by_channel, section.by_channel)
