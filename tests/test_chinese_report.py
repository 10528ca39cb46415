"""The Chinese sample end to end: a GBK export with Chinese headers and names, read through
params/sample-zh.yaml, gives a report whose every page is Chinese (headings, findings, tables,
charts), with 万 amounts, lang="zh-CN", and charts drawn even under MPLBACKEND=Agg."""

import base64
import json
import re

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from helpers.core.config import Config
from helpers.data import sample_zh
from helpers.run import cli

from .conftest import PROJECT

pytestmark = pytest.mark.e2e
PAGES = ("index", *Config.model_fields["sections"].default_factory())  # every page, in order
# technical terms Chinese analysts write in Latin letters, and the model names
LATIN_TERMS = {
    "CLV",
    "ROAS",
    "ROI",
    "MER",
    "LTV",
    "CAC",
    "CPC",
    "CTR",
    "CPA",
    "MAE",
    "RFM",
    "BG/NBD",
    "Pareto/NBD",
    "Gamma-Gamma",
    "Gamma",
    "GA4",
    "Shopify",
    "Hill",
    "delta",
    "CPS",
    "SKU",
    "ABC",
}
# names from the data, not words: file names and SKU codes
FILE_NAME = re.compile(r"[\w.-]+\.(?:csv|parquet|xlsx|yaml)|(?<![A-Za-z])[A-Z]{2}-\d{3}(?!\d)")


@pytest.fixture(scope="module")
def chinese_report(small_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("zh")
    sample_zh.write_chinese_export(small_data, root / "data")
    extra = root / "data.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(root / "data")}))
    argv = [
        "--project",
        str(PROJECT),
        "--reports-dir",
        str(root / "reports"),
        "--quarter",
        "2025Q4",
    ]
    argv += ["--params", str(PROJECT / "params" / "sample-zh.yaml"), "--params", str(extra)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MPLBACKEND", "Agg")  # as on servers and CI: charts must still be images
        assert cli.main(argv) == 0
    return root / "reports" / "zh" / "2025Q4"


def _page(folder, name) -> BeautifulSoup:
    return BeautifulSoup((folder / f"{name}.html").read_text(encoding="utf-8"), "html.parser")


def _visible_text(soup: BeautifulSoup) -> str:
    for hidden in soup(["style", "script"]):
        hidden.decompose()
    return soup.get_text(" ")


def test_every_page_is_chinese(chinese_report):
    for name in PAGES:
        soup = _page(chinese_report, name)
        assert soup.html["lang"] == "zh-CN", name
        words = set(
            re.findall(r"[A-Za-z][A-Za-z0-9/-]{2,}", FILE_NAME.sub("", _visible_text(soup)))
        )
        assert words <= LATIN_TERMS, f"{name}: English words {sorted(words - LATIN_TERMS)}"
    index = _page(chinese_report, "index")
    assert index.h1.get_text() == "季度经营报告"
    assert "2025年第四季度" in index.title.get_text() and "返回报告概览" in _visible_text(
        _page(chinese_report, "traffic")
    )
    assert re.search(r"¥\d+(\.\d+)?万", _visible_text(index))  # amounts in 万
    assert "个百分点" in _visible_text(index)


def test_chinese_names_reach_tables_and_findings(chinese_report):
    traffic = _visible_text(_page(chinese_report, "traffic"))
    for channel in sample_zh.NAMES["channel"].values():
        assert channel in traffic
    metrics = json.loads((chinese_report / "metrics.json").read_text())
    said = " ".join(f for s in metrics["sections"].values() for f in s["findings"])
    assert "核心结论" in _visible_text(_page(chinese_report, "clv"))
    assert any(name in said for name in sample_zh.NAMES["channel"].values())
    assert "重要价值客户" in _visible_text(_page(chinese_report, "repurchase"))  # rfm8 in zh-CN


def test_every_chart_is_an_image_with_chinese_alt_text_and_no_missing_glyph(chinese_report):
    for name in PAGES[1:]:
        images = _page(chinese_report, name).find_all("img")
        assert images, name
        for image in images:
            assert re.search("[\u4e00-\u9fff]", image["alt"]), image["alt"]
            assert base64.b64decode(image["src"].split(",", 1)[1]).startswith(b"\x89PNG")
        executed = nbformat.read(chinese_report / "notebooks" / f"{name}.ipynb", as_version=4)
        printed = json.dumps([cell.get("outputs", []) for cell in executed.cells])
        assert "missing from font" not in printed and "<Figure size" not in printed
