"""Reports in more than one language: every catalogue has every text with the same figures,
numbers and dates read as the locale writes them, charts draw Chinese with the font the
project installs, and a character no font has stops the run instead of printing a box."""

import re
import typing

import nbformat
import pandas as pd
import pytest
import yaml
from IPython.core.formatters import DisplayFormatter

from helpers.core.config import Config
from helpers.core.errors import ChartError, Reason, SectionFailedError
from helpers.data import sample_zh
from helpers.render import charts, text
from helpers.render.catalogue import LOCALES, catalogue, known_locales
from helpers.render.chart_style import use_report_style
from helpers.render.locale import Locale
from helpers.run.runner import check_charts_drawn
from helpers.sections import segments
from helpers.sections.findings import Finding

from .conftest import PROJECT, catalogue_leaves
from .scoring import migrated, segmented

CHINESE = Locale("zh-CN")
ENGLISH = Locale("en")
CJK = "[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"


def test_the_locale_parameter_offers_exactly_the_catalogues():
    offered = typing.get_args(Config.model_fields["locale"].annotation)
    assert sorted(offered) == known_locales() == ["en", "zh-CN"]


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_every_text_is_in_every_locale_with_the_same_figures(locale):
    english = dict(catalogue_leaves(catalogue("en")))
    other = dict(catalogue_leaves(catalogue(locale)))
    assert sorted(english) == sorted(other), "keys differ: " + ", ".join(
        sorted(set(english) ^ set(other))
    )
    for key, template in english.items():
        if isinstance(template, str) and key.split(".")[0] not in ("numbers", "dates"):
            assert text.figures(key, "en") == text.figures(key, locale), key


def test_chinese_texts_have_no_stray_spaces_between_characters():
    """YAML folds a line break into a space: fine between English words, a gap in Chinese."""
    for key, template in [
        *catalogue_leaves(catalogue("zh-CN")),
        *catalogue_leaves(catalogue("zh-CN@year")),
    ]:
        if isinstance(template, str):
            assert not re.search(f"{CJK} {CJK}|{CJK} \\{{%(?!-)|%\\}} {CJK}", template), key


def _year_words(locale: str) -> dict[str, str]:
    """The texts a year report words differently (render/locales/year/<locale>.yaml)."""
    path = LOCALES / "year" / f"{locale}.yaml"
    return dict(catalogue_leaves(yaml.safe_load(path.read_text(encoding="utf-8"))))


def test_a_year_reports_words_replace_texts_that_exist_with_the_same_figures():
    english, chinese = _year_words("en"), _year_words("zh-CN")
    assert sorted(english) == sorted(chinese), set(english) ^ set(chinese)
    base = dict(catalogue_leaves(catalogue("en")))
    for key in english:
        assert key in base, f"{key}: a year text for no quarter text"
        for locale in ("en", "zh-CN"):
            assert text.figures(key, f"{locale}@year") == text.figures(key, locale), key


# words of the quarter that stay in a year report: forecasts of the next quarter, cohorts and
# first purchases by quarter, campaign windows against a year before
QUARTER_WORDS = re.compile(
    r"this quarter|previous quarter|the quarter\b|本季度|上季度|季度末|季度前"
)


NOT_IN_A_YEAR = {"notes.basis.seasonal"}  # a year has no seasonal basis (comparison_bases)


def test_a_year_reports_texts_do_not_speak_of_the_quarter():
    for locale in ("en", "zh-CN"):
        for key, template in catalogue_leaves(catalogue(f"{locale}@year")):
            if isinstance(template, str) and key not in NOT_IN_A_YEAR:
                assert not QUARTER_WORDS.search(template), f"{locale}@year {key}: {template}"
    year = Locale("zh-CN", "¥", "year")
    assert (year.quarter("2025"), year.text("index.default_title")) == ("2025年", "年度经营回顾")
    assert Locale("en", "¥", "year").text("kpi_table.qoq") == "YoY"
    assert Locale("en").text("kpi_table.qoq") == "QoQ"


@pytest.mark.parametrize(
    ("value", "unit", "english", "chinese"),
    [
        (7_857, "count", "7,857", "7,857"),
        (15_500, "count", "15.5K", "1.55万"),
        (2_206_000, "currency", "¥2.21M", "¥221万"),
        (320_000_000, "currency", "¥320M", "¥3.20亿"),
        (-15_000, "currency", "-¥15.0K", "-¥1.50万"),
        (1_234.5, "currency", "¥1,234.50", "¥1,234.50"),
        (0.0196, "rate", "1.96%", "1.96%"),
        (0.0123, "pp", "+1.2 pp", "+1.2个百分点"),
        (3.2, "roas", "3.20", "1:3.20"),
        (105, "seconds", "1m 45s", "1分45秒"),
        (True, "yesno", "Yes", "是"),
    ],
)
def test_numbers_in_each_locale(value, unit, english, chinese):
    assert ENGLISH.value(value, unit) == english
    assert CHINESE.value(value, unit) == chinese


def test_changes_and_dates_in_each_locale():
    assert CHINESE.change(0.0123, "rate") == "+1.23个百分点"
    assert ENGLISH.change(0.0123, "rate") == "+1.23 pp"
    assert CHINESE.change(-0.053, "currency") == ENGLISH.change(-0.053, "currency") == "-5.3%"
    assert CHINESE.quarter("2025Q4") == "2025年第四季度"
    assert ENGLISH.quarter("2025Q4") == "2025Q4"
    assert CHINESE.month(pd.Timestamp("2025-10-01")) == "2025年10月"
    assert ENGLISH.month(pd.Timestamp("2025-10-01")) == "Oct 2025"
    assert CHINESE.period(pd.Timestamp("2025-07-01"), "quarter") == "2025年第三季度"


def test_a_chinese_finding_reads_as_chinese_with_its_figures():
    finding = Finding(
        "traffic.measure_change",
        {
            "kpi": "traffic.sessions",
            "unit": "count",
            "current": 807_000.0,
            "changes": {"qoq": 0.412, "yoy": 0.448},
        },
    )
    assert CHINESE.sentences([finding]) == ["访问次数：环比+41.2%，同比+44.8%，本季度为80.7万。"]
    assert ENGLISH.sentences([finding]) == [
        "Sessions: +41.2% on the previous quarter and +44.8% on a year ago, at 807K this quarter."
    ]


def test_the_value_matrix_by_hand():
    """Means: recency 50 days, orders 2, revenue 200. A: recent, frequent, valuable; B: recent,
    one order, valuable; C: long ago, frequent, low value; D: long ago, one order, low value."""
    customers = pd.DataFrame(
        {
            "customer_id": list("ABCD"),
            "recency_days": [10, 20, 80, 90],
            "orders": [4, 1, 2.5, 0.5],
            "revenue": [400, 250, 100, 50],
        }
    )
    scored = segmented(customers, 5, segments.VALUE_MATRIX)
    assert list(scored["segment"]) == [
        "important_value",
        "important_development",
        "general_retention",
        "general_winback",
    ]
    names = [CHINESE.term("segment", code) for code in segments.VALUE_MATRIX.segments]
    assert names == [
        "重要价值客户",
        "重要发展客户",
        "重要保持客户",
        "重要挽留客户",
        "一般价值客户",
        "一般发展客户",
        "一般保持客户",
        "一般挽留客户",
    ]


def test_moving_into_a_winback_segment_is_lapsing_in_the_value_matrix():
    scheme = segments.VALUE_MATRIX
    previous = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "segment": pd.Categorical(["important_value", "general_value"], scheme.segments),
        }
    )
    current = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "segment": pd.Categorical(
                ["important_winback", "important_value", "general_development"],
                scheme.segments,
                ordered=True,
            ),
            "window_revenue": [0.0, 300.0, 80.0],
        }
    )
    _, flows = migrated(previous, current, scheme)
    moved = flows.set_index("flow")["customers"]
    assert (moved["Lapsed"], moved["Moved up"], moved["New"], moved["Moved down"]) == (1, 1, 1, 0)


@pytest.mark.parametrize("locale", [ENGLISH, CHINESE])
def test_chinese_names_draw_in_either_locale_with_the_installed_font(locale):
    use_report_style(locale.code)
    frame = pd.DataFrame(
        {"channel": ["抖音短视频", "达人种草", "Email"], "sessions": [3e4, 2e4, 1e4]}
    )
    chart = charts.ranked_bars(frame, "channel", "sessions", locale.chart("traffic.sessions"))
    assert chart.png.startswith(b"\x89PNG")
    data, metadata = DisplayFormatter().format(chart)  # what Jupyter and nbconvert receive
    assert "image/png" in data and metadata["image/png"]["alt"].startswith(chart.title)
    assert "抖音短视频" in metadata["image/png"]["alt"]  # the alt text says what the data shows


def test_a_character_no_font_has_stops_the_chart_and_names_it():
    use_report_style("en")
    frame = pd.DataFrame({"channel": ["\U00010900 Phoenician"], "sessions": [1.0]})
    with pytest.raises(ChartError, match="chart 'Sessions by channel' has characters no installed"):
        charts.ranked_bars(frame, "channel", "sessions", ENGLISH.chart("traffic.sessions"))


def test_a_chart_that_came_out_as_text_fails_its_section(tmp_path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "<Figure size 990x539 with 1 Axes>"}
        )
    ]
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    path = tmp_path / "traffic.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(SectionFailedError, match="cell 1: a chart came out as '<Figure size"):
        check_charts_drawn(path, "2025Q4", "traffic")
    cell.outputs[0]["data"]["image/png"] = "iVBORw0KGgo="
    nbformat.write(notebook, path)
    check_charts_drawn(path, "2025Q4", "traffic")  # an image beside its text is fine


def test_every_catalogue_key_a_notebook_names_exists():
    """Keys the notebooks pass (charts, parts, tables, texts, terms) are in every catalogue;
    f-string keys are expanded over the values they take."""
    expand = {"{base}": ["tests_qoq", "tests_yoy"], "{section.segmentation}": ["rf_map", "rfm8"]}
    patterns = {
        r'loc\.chart\(\s*"([^"]+)"': "charts.{}",
        r'ctx\.part\(\s*f?"([^"]+)"': "parts.{section}.{}",
        r'loc,\s*f?"([a-z]+\.[a-z_{}.]+)"': "tables.{}",
        r'loc\.text\(\s*"([^"]+)"': "{}",
        r'loc\.terms?\(\s*"([^"]+)"': "terms.{}",
    }
    checked = 0
    for path in sorted((PROJECT / "notebooks").glob("*.ipynb")):
        source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
        for pattern, template in patterns.items():
            for found in re.findall(pattern, source):
                keys = [found]
                for placeholder, values in expand.items():
                    keys = [k.replace(placeholder, v) for k in keys for v in values]
                for key in set(keys):
                    full = template.format(key, section=path.stem)
                    for locale in (ENGLISH, CHINESE):
                        assert locale.lookup(full) is not None, f"{path.name}: {full}"
                    checked += 1
    assert checked > 60  # the patterns find the notebooks' keys


def test_the_chinese_export_renames_every_name_and_keeps_every_figure(small_data, tmp_path):
    sample_zh.write_chinese_export(small_data, tmp_path)
    orders = pd.read_csv(tmp_path / "orders.csv", encoding="gbk")
    assert list(orders.columns) == list(sample_zh.ORDER_HEADERS.values())
    english = pd.read_parquet(small_data / "orders.parquet")
    assert orders["实付金额"].sum() == pytest.approx(english["revenue"].sum())
    by_channel = orders.groupby("来源渠道")["实付金额"].sum()
    expected = english.groupby("channel")["revenue"].sum().rename(sample_zh.NAMES["channel"])
    pd.testing.assert_series_equal(
        by_channel.sort_index(), expected.sort_index(), check_names=False
    )
    traffic = pd.read_parquet(tmp_path / "traffic.parquet")
    assert set(traffic["device"]) == {"移动端", "PC端", "平板"}
    with pytest.raises(ValueError, match="no Chinese name for channel"):
        sample_zh.translated(pd.DataFrame({"channel": ["Carrier pigeon"]}))


def test_every_reason_the_code_gives_has_words_in_every_locale():
    code = "\n".join(p.read_text() for p in (PROJECT / "helpers").rglob("*.py"))
    codes = set(re.findall(r'(?:ModelFitError|Reason)\(\s*"([a-z_0-9]+)"', code))
    assert len(codes) >= 12  # the pattern finds them
    for locale in known_locales():
        for found in codes:
            assert found in catalogue(locale)["reasons"], f"{locale}: no words for {found}"


def test_a_reason_within_a_reason_reads_whole_in_chinese():
    fewer = Reason("too_few_customers", {"customers": 3, "need": 50})
    withheld = Reason(
        "no_purchase_model", {"reason": Reason("no_model_fitted", {"reasons": [fewer]})}
    )
    assert (
        CHINESE.reason(withheld)
        == "无法拟合任何购买模型：客户数不足以拟合购买模型：3位，至少需要50位"
    )
    assert ENGLISH.reason(withheld) == (
        "no purchase model could be fitted: not enough customers to fit a purchase model: 3, "
        "need at least 50"
    )
    assert CHINESE.plain({"withheld": withheld, "n": [1]}) == {
        "withheld": CHINESE.reason(withheld),
        "n": [1],
    }
