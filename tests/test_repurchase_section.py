"""The repurchase section assembled on the small sample: its findings quote its tables."""

import pytest

from helpers.core.config import load_config
from helpers.core.periods import comparison_periods
from helpers.data.inputs import prepare_inputs
from helpers.data.queries import DataEngine
from helpers.render import text
from helpers.render.formats import compact
from helpers.sections import repurchase

from .conftest import PROJECT


@pytest.fixture(scope="module")
def section(small_data):
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})
    engine = DataEngine(prepare_inputs(config).tables)
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
