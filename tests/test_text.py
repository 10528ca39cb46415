"""The text catalogue: every finding and KPI the code can produce has words, every text is a
valid template, and a missing figure is an error, never a blank in a sentence."""

import re

import pytest
from jinja2 import Environment, UndefinedError

from helpers.render import text
from helpers.render.kpi_rows import kpi_label, labelled
from helpers.render.locale import Locale
from helpers.sections import clv, overview, traffic
from helpers.sections.findings import Finding

from .conftest import PROJECT, catalogue_leaves

HELPERS = PROJECT / "helpers"
MODEL_FIT = {"model": "BG/NBD", "params": {"r": 1.0}, "model_note": "", "spend_withheld": None}
MODEL_FIT |= {"check": None}


def _code() -> str:
    return "\n".join(p.read_text() for p in HELPERS.rglob("*.py"))


def test_every_finding_kind_the_code_makes_has_words():
    kinds = set(re.findall(r'Finding\(\s*"([a-z_]+\.[a-z_]+)"', _code()))
    assert len(kinds) >= 25  # the pattern finds them
    findings = text.catalogue()["findings"]
    for kind in kinds:
        section, name = kind.split(".")
        assert name in findings.get(section, {}), f"no words for finding {kind}"


def test_every_kpi_has_a_label():
    keys = set(re.findall(r'kpi_record\(\s*"([a-z_]+\.[a-z_]+)"', _code()))
    keys |= {f"traffic.{m}" for m in traffic.MEASURES}
    keys |= {f"overview.{m}" for m in {**overview.ORDER_KPIS, **overview.MARGIN_KPIS}}
    keys |= {f"overview.{m}" for m in overview.TRAFFIC_KPIS}
    keys |= {f"clv.{m}" for m in clv.BASE_UNITS} | {"clv.holdout_error_pct"}
    labels = text.catalogue()["kpis"]
    for key in keys:
        section, name = key.split(".")
        assert name in labels.get(section, {}), f"no label for KPI {key}"


def test_every_text_is_a_valid_template():
    env = Environment()
    for _, template in catalogue_leaves(text.catalogue()):
        env.parse(template)  # raises on a syntax error, naming the line


def test_a_missing_figure_is_an_error_not_a_blank():
    with pytest.raises(KeyError, match="needs the figure.s. best_value, worst_channel, worst_v"):
        text.sentence(Finding("traffic.session_value", {"best_channel": "A"}))
    with pytest.raises((UndefinedError, TypeError)):  # a field missing from a figure
        text.sentence(Finding("clv.model_fit", {**MODEL_FIT, "spend": {}}))
    with pytest.raises(KeyError, match="no text 'findings.traffic.nope'"):
        text.sentence(Finding("traffic.nope"))
    with pytest.raises(ValueError, match="known: en"):
        text.catalogue("xx-XX")


def test_a_kpi_label_quotes_its_details():
    record = {"key": "repurchase.second_order", "window": 60, "cohorts": {"current": "2025Q2"}}
    assert kpi_label(record, Locale()) == (
        "New customers ordering again within 60 days (latest cohort with 60 days: 2025Q2)"
    )
    assert labelled({"x": record}, Locale())["x"]["label"] == kpi_label(record, Locale())
    chinese = "新客60天内复购率（满60天的最近一批：2025年第二季度）"
    assert kpi_label(record, Locale("zh-CN")) == chinese


def test_findings_are_json_ready_records():
    import numpy as np

    from helpers.core.errors import Reason

    why = Reason("too_few_customers", {"customers": np.int64(3)})
    figures = {
        "alive": np.float64(2.5),
        "bought": np.nan,
        "moves": [{"x": np.int64(3)}, "A"],
        "why": why,
    }
    finding = Finding("clv.activity", figures, bases=("qoq",))
    assert finding.as_record() == {
        "kind": "clv.activity",
        "variant": None,
        "figures": {
            "alive": 2.5,
            "bought": None,
            "moves": [{"x": 3}, "A"],
            "why": {"reason": "too_few_customers", "figures": {"customers": 3}},
        },
        "bases": ["qoq"],
        "material": None,
        "stake": None,
    }
    staked = Finding("clv.activity", {}, material=True, stake=np.float64(1250.5))
    assert staked.as_record()["stake"] == 1250.5 and staked.as_record()["material"] is True
    assert type(staked.as_record()["stake"]) is float  # JSON-ready, not a numpy scalar


def test_every_section_has_a_title_and_summary_and_the_heading_names_its_comparisons():
    from helpers.core.outline import SECTIONS

    for name in SECTIONS:
        assert text.render(f"sections.{name}.title") and text.render(f"sections.{name}.summary")
    heading = text.render(
        "headings.section",
        title="Traffic structure",
        shop="Shop",
        quarter="2025Q4",
        compared={"previous": "2025Q3", "year_ago": "2024Q4"},
        basis="Findings compare with the previous quarter.",
    )
    assert heading == (
        "# Traffic structure: Shop, 2025Q4\nCompared with the previous quarter 2025Q3, year ago "
        "2024Q4. Findings compare with the previous quarter."
    )


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("traffic_table", "come from the traffic table. Engagement"),
        ("orders_table", "from the orders table (net orders and net revenue), by order channel."),
        ("both", "in the headline figures, and the traffic table (orders as web analytics"),
    ],
)
def test_the_traffic_definitions_name_where_orders_come_from(source, words):
    assert words in text.render("notes.traffic.definitions", source=source)
