"""The batch end to end on a small generated data set: reports, HTML hygiene, KPIs, failures."""

import html
import json
import re
import shutil

import nbformat
import pandas as pd
import pytest
import yaml

from helpers.render.kpi_rows import formatted_kpis
from helpers.render.locale import Locale
from helpers.run import cli

from .conftest import PROJECT, QUARTERS

pytestmark = pytest.mark.e2e


def test_batch_writes_every_artifact_and_shows_progress(batch):
    reports, _, out = batch
    for quarter in QUARTERS:
        folder = reports / quarter
        assert {p.name for p in folder.iterdir()} >= {
            "index.html",
            "traffic.html",
            "metrics.json",
            "notebooks",
        }
        assert not (folder / "clean").exists()  # customer-level inputs are not published
        assert f"[{quarter}] traffic: running" in out and f"[{quarter}] traffic: done" in out
        assert str(folder / "index.html") in out
    steps = [[cell.strip() for cell in line.split("│")] for line in out.splitlines()]
    done = {(row[1], row[2]) for row in steps if len(row) > 5 and row[3] == "done"}
    assert done >= {(q, s) for q in QUARTERS for s in ("inputs", "traffic", "clv", "report")}
    assert not list(reports.glob(".*building*"))


def _visible(html: str) -> str:
    """The page without its style sheets (CSS comments name things like 'Error')."""
    return re.sub(r"<style.*?</style>", "", html, flags=re.S)


@pytest.mark.parametrize(
    "page", ["index.html", "traffic.html", "clv.html", "repurchase.html", "marketing.html"]
)
def test_html_is_stakeholder_safe_and_offline(ran, page):
    html = (ran / "2025Q4" / page).read_text(encoding="utf-8")
    body = _visible(html)
    assert "Traceback" not in body and not re.search(r"\b[A-Z]\w*Error\b", body)
    assert "application/vnd.jupyter.stderr" not in body  # no warnings either
    assert "jp-InputArea-editor" not in body and "jp-InputPrompt" not in body  # no code
    assert "jp-OutputPrompt" not in body and "In&nbsp;[" not in body  # no prompts
    assert "open_section" not in body and "import " not in body
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert not external, "nothing may be requested from another host"
    assert not re.search(r"@import|<script[^>]+src=", html)
    assert not re.search(r"\bC\d{7}\b", html), "no customer identifiers"
    if page != "index.html":
        images = re.findall(r'<img[^>]+src="([^"]{0,30})', html)
        assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
        assert 'href="index.html"' in html


def _raw(small_data, name):
    return pd.read_parquet(small_data / f"{name}.parquet")


def test_kpis_equal_an_independent_pandas_computation(ran, small_data):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    traffic = _raw(small_data, "traffic")
    orders = _raw(small_data, "orders")
    valid = orders[
        ~orders["status"].isin(["cancelled", "test"])
        & ~((orders["refund"] >= orders["revenue"]) & (orders["revenue"] > 0))
    ]
    first_order = valid.groupby("customer_id")["order_ts"].min()
    for period, quarter in (("current", "2025Q4"), ("previous", "2025Q3"), ("year_ago", "2024Q4")):
        span = pd.Period(quarter, "Q")
        t = traffic[traffic["date"].dt.to_period("Q") == span]
        o = valid[valid["order_ts"].dt.to_period("Q") == span]
        section = metrics["sections"]["traffic"]["kpis"]
        assert section["sessions"][period] == t["sessions"].sum()
        assert section["users"][period] == t["users"].sum()
        assert section["engagement_rate"][period] == pytest.approx(
            t["engaged_sessions"].sum() / t["sessions"].sum()
        )
        net = (o["revenue"] - o["refund"].clip(upper=o["revenue"])).sum()
        # one definition everywhere: net orders (orders table) per session
        assert section["conversion_rate"][period] == pytest.approx(len(o) / t["sessions"].sum())
        assert section["revenue_per_session"][period] == pytest.approx(net / t["sessions"].sum())
        overview = metrics["overview"]
        assert overview["conversion_rate"][period] == section["conversion_rate"][period]
        assert overview["sessions"][period] == section["sessions"][period]
        assert overview["net_revenue"][period] == pytest.approx(net)
        assert overview["orders"][period] == len(o)
        assert overview["customers"][period] == o["customer_id"].nunique()
        assert overview["new_customers"][period] == first_order.dt.to_period("Q").eq(span).sum()
        assert overview["aov"][period] == pytest.approx(net / len(o))
    sessions = metrics["sections"]["traffic"]["kpis"]["sessions"]
    assert sessions["qoq"] == pytest.approx(sessions["current"] / sessions["previous"] - 1)
    targets = pd.read_csv(small_data / "targets.csv").query("period == '2025Q4'")
    shop = targets[targets[["channel", "category", "region"]].isna().all(axis=1)]  # not a level
    target = shop.set_index("metric").loc["net_revenue", "target"]
    assert metrics["overview"]["net_revenue"]["attainment"] == pytest.approx(
        metrics["overview"]["net_revenue"]["current"] / target
    )
    excluded = {row["reason"]: row["rows"] for row in metrics["data_quality"]["exclusions"]}
    assert excluded["status: cancelled"] == (orders["status"] == "cancelled").sum()


def test_a_missing_table_skips_its_section_with_a_note(small_data, tmp_path):
    data = tmp_path / "no_traffic"
    shutil.copytree(small_data, data)
    (data / "traffic.parquet").unlink()
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(data)}))
    reports = tmp_path / "reports"
    assert (
        cli.main(["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(extra)])
        == 0
    )
    index = (reports / "2025Q4" / "index.html").read_text()
    assert "Traffic structure was skipped: no traffic table in the inputs" in index
    metrics = json.loads((reports / "2025Q4" / "metrics.json").read_text())
    assert metrics["skipped"][0]["name"] == "traffic" and "sessions" not in metrics["overview"]


def test_failed_section_exits_nonzero_keeps_notebook_and_previous_report(
    batch, ran, tmp_path, capsys
):
    reports, extra, _ = batch
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "params", project / "params")
    shutil.copytree(PROJECT / "notebooks", project / "notebooks")
    notebook = nbformat.read(project / "notebooks" / "traffic.ipynb", as_version=4)
    notebook.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('broken on purpose')"))
    nbformat.write(notebook, project / "notebooks" / "traffic.ipynb")
    good = (reports / "2025Q4" / "index.html").read_text()

    code = cli.main(
        [
            "--project",
            str(project),
            "--reports-dir",
            str(reports),
            "--params",
            str(extra),
            "--quarter",
            "2025Q4",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "[2025Q4] section 'traffic' failed in cell 4" in err
    assert "RuntimeError: broken on purpose" in err
    kept = reports / "2025Q4.failed" / "notebooks" / "traffic.ipynb"
    assert kept.is_file() and str(kept) in err
    # only what debugging needs: no cleaned inputs or CRM tables with customer ids
    kept_names = {p.name for p in (reports / "2025Q4.failed").iterdir()}
    assert "notebooks" in kept_names and not kept_names & {"clean", "artifacts", "kernels"}
    assert (reports / "2025Q4" / "index.html").read_text() == good  # last good report intact
    assert not list(reports.glob(".*building*"))


def test_bad_inputs_stop_the_batch_before_any_notebook(small_data, tmp_path, capsys):
    data = tmp_path / "bad"
    shutil.copytree(small_data, data)
    traffic = pd.read_parquet(data / "traffic.parquet")
    traffic.loc[5, "sessions"] = -1
    traffic.to_parquet(data / "traffic.parquet")
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(data)}))
    code = cli.main(
        ["--project", str(PROJECT), "--reports-dir", str(tmp_path / "r"), "--params", str(extra)]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert (
        "traffic.parquet [sessions]: negative value (1 rows) e.g. row 6: sessions=-1"
        in captured.err
    )
    assert "traffic: running" not in captured.out
    assert not (tmp_path / "r" / "2025Q4").exists()


def test_malformed_quarter_on_the_command_line(capsys):
    assert cli.main(["--project", str(PROJECT), "--quarter", "2024Q5"]) == 2
    assert "malformed quarter '2024Q5'" in capsys.readouterr().err


def test_clv_metrics_record_the_model_and_its_holdout_error(ran, small_data):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    section = metrics["sections"]["clv"]
    model = section["model"]
    names = {"BG/NBD": {"a", "b"}, "Modified BG/NBD": {"a", "b"}, "Pareto/NBD": {"s", "beta"}}
    assert set(model["params"]) == {"r", "alpha"} | names[model["model"]]
    assert section["kpis"]["holdout_error_pct"]["current"] == model["aggregate_error_pct"]
    assert section["withheld"] is None and section["spend_model"]["params"]["q"] > 1
    orders = _raw(small_data, "orders")
    valid = orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]
    in_quarter = valid[valid["order_ts"].dt.to_period("Q") == pd.Period("2025Q4", "Q")]
    before = set(valid.loc[valid["order_ts"] < "2025-10-01", "customer_id"])
    repeat_days = in_quarter[in_quarter["customer_id"].isin(before)]
    actual = (
        repeat_days.groupby("customer_id")["order_ts"]
        .apply(lambda ts: ts.dt.normalize().nunique())
        .sum()
    )
    assert model["actual_purchases"] == actual
    assert (
        section["kpis"]["customers"]["current"]
        == valid.loc[valid["order_ts"] < "2026-01-01", "customer_id"].nunique()
    )


def test_cdnow_runs_end_to_end_with_orders_only(tmp_path):
    from helpers.data import cdnow

    cdnow.main(["--out", str(tmp_path / "cdnow")])
    extra = tmp_path / "where.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "cdnow")}))
    reports = tmp_path / "reports"
    assert (
        cli.main(
            [
                "--project",
                str(PROJECT),
                "--reports-dir",
                str(reports),
                "--params",
                "cdnow.yaml",
                "--params",
                str(extra),
                "--quarter",
                "1998Q2",
                "--year",
                "1997",
            ]
        )
        == 0
    )
    year = reports / "cdnow" / "1997"  # the cohort's first year: nothing before it to fit on
    index = (year / "index.html").read_text()
    assert "Traffic structure was skipped: no traffic table" in index
    assert 'id="targets"' not in index and 'id="quarters"' in index  # no targets file
    withheld = json.loads((year / "metrics.json").read_text())["sections"]["clv"]["withheld"]
    assert "no customers with an order before then" in withheld
    folder = reports / "cdnow" / "1998Q2"
    index = (folder / "index.html").read_text()
    assert "Traffic structure was skipped: no traffic table" in index
    assert "Merchandise and gross margin was skipped: no order lines table" in index
    assert "from parameters default.yaml, cdnow.yaml, where.yaml." in index  # no 1998Q2.yaml
    metrics = json.loads((folder / "metrics.json").read_text())
    clv = metrics["sections"]["clv"]
    holdout = clv["model"]
    assert holdout["customers"] == 23570  # the whole CDNOW cohort joined in 1997Q1
    assert clv["trusted"] and abs(holdout["aggregate_error_pct"]) <= 15
    assert clv["basis"] == "revenue"  # CDNOW has no order costs
    spend = clv["spend_model"]
    assert spend["model_mean"] == pytest.approx(spend["observed_mean"], rel=0.02)
    kpis = clv["kpis"]
    for period in ("current", "previous", "year_ago"):  # a mean is its total over the base
        assert kpis["clv_mean"][period] * kpis["customers"][period] == pytest.approx(
            kpis["clv_total"][period]
        )
    customers = pd.read_csv(folder / "artifacts" / "clv_customers.csv")
    assert (customers["clv"] >= 0).all() and (customers["expected_order_value"] > 0).all()
    # a closed cohort: no new customers, so no returning rate and no 90-day rate to show
    repurchase = metrics["sections"]["repurchase"]
    assert repurchase["kpis"]["returning_rate"]["current"] is None
    assert repurchase["kpis"]["second_order_90d"]["current"] is None
    assert any("Returning-customer rate is not shown" in f for f in repurchase["findings"])
    html = _visible((folder / "clv.html").read_text())
    assert not re.search(r"\bCD\d{5}\b", html) and "Traceback" not in html


def test_index_shows_the_section_figures_it_repeats(ran):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    index = (ran / "2025Q4" / "index.html").read_text()
    clv = (ran / "2025Q4" / "clv.html").read_text()
    for row in formatted_kpis(metrics["sections"]["clv"]["kpis"], Locale()):
        assert html.escape(row["current"]) in index and html.escape(row["current"]) in clv
    traffic = (ran / "2025Q4" / "traffic.html").read_text()
    conversion = formatted_kpis({"c": metrics["overview"]["conversion_rate"]}, Locale())[0][
        "current"
    ]
    assert conversion in index and conversion in traffic


def test_clv_figures_are_sound_on_the_sample(ran):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    kpis = metrics["sections"]["clv"]["kpis"]
    assert kpis["expected_alive"]["current"] <= kpis["bought_last_12_months"]["current"]
    customers = pd.read_parquet(ran / "2025Q4" / "artifacts" / "clv_customers.parquet")
    assert (customers["clv"] >= 0).all()
    assert kpis["clv_total"]["current"] == pytest.approx(customers["clv"].sum())


def test_repurchase_kpis_equal_an_independent_pandas_computation(ran, small_data):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    kpis = metrics["sections"]["repurchase"]["kpis"]
    orders = _raw(small_data, "orders")
    valid = orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]
    first = valid.groupby("customer_id")["order_ts"].min()
    for period, quarter in (("current", "2025Q4"), ("previous", "2025Q3"), ("year_ago", "2024Q4")):
        span = pd.Period(quarter, "Q")
        in_quarter = valid[valid["order_ts"].dt.to_period("Q") == span]
        counts = in_quarter.groupby("customer_id").size()
        assert kpis["repeat_rate"][period] == pytest.approx((counts > 1).mean())
        returning = first.reindex(counts.index) < span.start_time
        assert kpis["returning_rate"][period] == pytest.approx(returning.mean())
    # the 90-day rate is the latest cohort's with 90 days behind it: 2025Q3, 2025Q2, 2024Q3
    ranked = valid.sort_values("order_ts").assign(n=lambda d: d.groupby("customer_id").cumcount())
    pairs = ranked[ranked["n"] < 2].pivot(index="customer_id", columns="n", values="order_ts")
    days = (pairs[1] - pairs[0]).dt.total_seconds() / 86400
    for period, cohort in (("current", "2025Q3"), ("previous", "2025Q2"), ("year_ago", "2024Q3")):
        joined = pairs[0].dt.to_period("Q") == pd.Period(cohort, "Q")
        assert kpis["second_order_90d"][period] == pytest.approx((days[joined] <= 90).mean())


def test_marketing_kpis_equal_an_independent_pandas_computation(ran, small_data):
    metrics = json.loads((ran / "2025Q4" / "metrics.json").read_text())
    kpis = metrics["sections"]["marketing"]["kpis"]
    spend_data = _raw(small_data, "marketing")
    for period, quarter in (("current", "2025Q4"), ("previous", "2025Q3")):
        rows = spend_data[spend_data["date"].dt.to_period("Q") == pd.Period(quarter, "Q")]
        assert kpis["spend"][period] == pytest.approx(rows["spend"].sum())
        assert kpis["roas"][period] == pytest.approx(
            rows["attributed_revenue"].sum() / rows["spend"].sum()
        )
        assert kpis["cac"][period] == pytest.approx(
            rows["spend"].sum() / rows["new_customers"].sum()
        )
        net = metrics["overview"]["net_revenue"][period]
        assert kpis["mer"][period] == pytest.approx(net / rows["spend"].sum())
