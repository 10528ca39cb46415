"""A careless or hostile data source: names that are HTML or spreadsheet formulas are shown as
text on every page and neutralised in the CSV exports."""

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from helpers.run import cli

from .conftest import PROJECT

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert('x')</script>"
CHANNEL = f"{SCRIPT}Email"
CAMPAIGN = "<img src=x onerror=alert(2)>Newsletter"
DEVICE = "<b onmouseover=alert(3)>tablet</b>"
FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def hostile_report(small_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    shutil.copytree(small_data, data)

    def edit(table, change):
        frame = pd.read_parquet(data / f"{table}.parquet")
        change(frame).to_parquet(data / f"{table}.parquet", index=False)

    def channel(frame):
        return frame.assign(channel=frame["channel"].replace("Email / CRM", CHANNEL))

    edit("traffic", lambda f: channel(f).assign(device=f["device"].replace("tablet", DEVICE)))
    edit(
        "marketing",
        lambda f: channel(f).assign(campaign=f["campaign"].replace("Newsletter", CAMPAIGN)),
    )
    orders = pd.read_parquet(data / "orders.parquet")
    victim = orders["customer_id"].iloc[0]
    edit(
        "orders",
        lambda f: channel(f).assign(
            customer_id=f["customer_id"].replace(victim, FORMULA),
            region=f"{SCRIPT}East",
        ),
    )
    edit(
        "order_items", lambda f: f.assign(category=f"{SCRIPT}Skincare", sku=f"{SCRIPT}" + f["sku"])
    )
    params = root / "hostile.yaml"
    params.write_text(
        yaml.safe_dump(
            {"data_dir": str(data), "shop_name": f"{SCRIPT}Shop", "report_title": f"{SCRIPT}Title"}
        )
    )
    reports = root / "reports"
    argv = ["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(params)]
    assert cli.main(argv) == 0
    return reports / "2025Q4"


@pytest.mark.parametrize(
    "page", ["index.html", "traffic.html", "clv.html", "repurchase.html", "marketing.html"]
)
def test_names_from_the_data_are_text_on_every_page(hostile_report, page):
    html = (hostile_report / page).read_text()
    for code in (SCRIPT, "<img src=x", "<b onmouseover", "onerror=alert(2)>"):
        assert code not in html, f"{code!r} is live HTML in {page}"
    visible = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    assert "&lt;script&gt;" in visible  # shown, as text


def test_each_hostile_name_reaches_a_page_as_text(hostile_report):
    pages = " ".join((hostile_report / p).read_text() for p in ("traffic.html", "marketing.html"))
    quote = r"(?:'|&#x27;|&#39;)"  # quotes may or may not be escaped, both are text
    assert re.search(rf"&lt;script&gt;alert\({quote}x{quote}\)&lt;/script&gt;Email", pages)
    assert "&lt;img src=x onerror=alert(2)&gt;Newsletter" in pages
    assert "&lt;b onmouseover=alert(3)&gt;tablet&lt;/b&gt;" in pages


def test_formula_cells_are_neutralised_in_csv_and_kept_in_parquet(hostile_report):
    artifacts = hostile_report / "artifacts"
    for name in ("clv_customers", "customer_segments"):
        text = (artifacts / f"{name}.csv").read_text()
        assert "'=HYPERLINK" in text and '\n"=HYPERLINK' not in text and "\n=HYPERLINK" not in text
        raw = pd.read_parquet(artifacts / f"{name}.parquet")
        assert FORMULA in set(raw["customer_id"])
    metrics = json.loads((hostile_report / "metrics.json").read_text())
    assert "HYPERLINK" not in json.dumps(metrics)  # no customer ids in what is published


def test_a_tiny_export_publishes_what_it_can_and_says_what_it_withholds(tmp_path, capsys):
    """Eight orders of four customers (three before the quarter): no purchase model can be
    fitted, so CLV is withheld with its reason; repurchase is published; the run exits 0 with
    a warning line."""
    data = tmp_path / "tiny"
    data.mkdir()
    pd.DataFrame(
        {
            "order_id": [str(i) for i in range(1, 9)],
            "customer_id": ["a", "b", "a", "c", "a", "b", "d", "c"],
            "order_ts": pd.to_datetime(
                [
                    "2025-04-03",
                    "2025-05-03",
                    "2025-07-03",
                    "2025-08-03",
                    "2025-10-03",
                    "2025-11-03",
                    "2025-11-13",
                    "2025-12-03",
                ]
            ),
            "revenue": [100.0, 50, 80, 40, 90, 60, 30, 20],
        }
    ).to_csv(data / "orders.csv", index=False)
    params = tmp_path / "tiny.yaml"
    params.write_text(yaml.safe_dump({"data_dir": str(data)}))
    reports = tmp_path / "reports"
    argv = ["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(params)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    reason = "not enough customers to fit a purchase model: 3, need at least 50"  # before Q4
    assert f"clv: WARNING figures withheld: no purchase model could be fitted: {reason}" in out
    metrics = json.loads((reports / "2025Q4" / "metrics.json").read_text())
    assert reason in metrics["sections"]["clv"]["withheld"]
    assert metrics["sections"]["repurchase"]["kpis"]["repeat_rate"]["current"] == 0.0
    index = (reports / "2025Q4" / "index.html").read_text()
    assert f"CLV is not available: no purchase model could be fitted: {reason}" in index
    clv_page = (reports / "2025Q4" / "clv.html").read_text()
    assert "Traceback" not in clv_page and "enough history for a sound model" in clv_page
