"""The year report (opsreport --year) of the shared batch: every section over the year against
the two years before, recomputed with plain pandas; the quarters side by side adding up to the
year; the targets scorecard against the targets file; the year's words; the links between the
year and its quarters."""

import json
import re

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from helpers.core.config import Config

from .conftest import QUARTERS, YEAR

pytestmark = pytest.mark.e2e

SECTIONS = Config.model_fields["sections"].default_factory()


@pytest.fixture(scope="module")
def metrics(ran) -> dict:
    return json.loads((ran / YEAR / "metrics.json").read_text())


def _valid_orders(small_data) -> pd.DataFrame:
    orders = pd.read_parquet(small_data / "orders.parquet")
    return orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]


def test_every_section_runs_over_the_year(ran, metrics):
    folder = ran / YEAR
    assert (metrics["period"], metrics["grain"]) == (YEAR, "year")
    assert set(metrics["sections"]) == set(SECTIONS)
    for name in ("index", *SECTIONS):
        assert (folder / f"{name}.html").is_file(), name


def test_the_year_against_the_two_before_by_hand(metrics, small_data):
    valid = _valid_orders(small_data)
    traffic = pd.read_parquet(small_data / "traffic.parquet")
    first = valid.groupby("customer_id")["order_ts"].min()
    overview, sections = metrics["overview"], metrics["sections"]
    for period, year in (("current", 2025), ("previous", 2024), ("year_ago", 2023)):
        orders = valid[valid["order_ts"].dt.year == year]
        net = (orders["revenue"] - orders["refund"]).sum()
        assert overview["net_revenue"][period] == pytest.approx(net)
        assert overview["orders"][period] == len(orders)
        assert overview["customers"][period] == orders["customer_id"].nunique()
        assert overview["new_customers"][period] == (first.dt.year == year).sum()
        sessions = traffic.loc[traffic["date"].dt.year == year, "sessions"].sum()
        assert sections["traffic"]["kpis"]["sessions"][period] == sessions
        counts = orders.groupby("customer_id").size()  # repeat purchase within the year
        assert sections["repurchase"]["kpis"]["repeat_rate"][period] == pytest.approx(
            (counts > 1).mean()
        )
    revenue = overview["net_revenue"]
    assert revenue["qoq"] == pytest.approx(revenue["current"] / revenue["previous"] - 1)


def test_the_quarters_side_by_side_add_up_to_the_year(metrics, small_data):
    rows = {row["key"]: row["values"] for row in metrics["quarters"]}
    labels = [f"{YEAR}Q{q}" for q in range(1, 5)]
    assert list(rows["overview.net_revenue"]) == [*labels, YEAR]
    for additive in ("overview.net_revenue", "overview.orders", "overview.new_customers"):
        values = rows[additive]
        assert sum(values[q] for q in labels) == pytest.approx(values[YEAR]), additive
    valid = _valid_orders(small_data)
    q2 = valid[valid["order_ts"].dt.to_period("Q") == pd.Period(f"{YEAR}Q2", "Q")]
    assert rows["overview.customers"][f"{YEAR}Q2"] == q2["customer_id"].nunique()
    # a customer buying in two quarters counts once in the year
    assert rows["overview.customers"][YEAR] < sum(rows["overview.customers"][q] for q in labels)


def test_the_scorecard_holds_the_targets_files_rows_for_the_year(metrics, small_data):
    targets = pd.read_csv(small_data / "targets.csv", dtype={"period": str})
    year_rows = targets[targets["period"] == YEAR]
    card = pd.DataFrame(metrics["scorecard"])
    assert len(card[card["period"] == YEAR]) == len(year_rows)  # the year at every level
    parts = targets[targets["period"].str.match(rf"{YEAR}(Q\d|-\d\d)$")]
    shop_parts = parts[parts[["channel", "category", "region"]].isna().all(axis=1)]
    assert len(card[card["period"] != YEAR]) == len(shop_parts)  # its parts for the shop only
    valid = _valid_orders(small_data)
    net = (valid["revenue"] - valid["refund"])[valid["order_ts"].dt.year == int(YEAR)].sum()
    whole = card[
        (card["period"] == YEAR) & (card["dimension"] == "") & (card["metric"] == "net_revenue")
    ]
    assert whole["actual"].iloc[0] == pytest.approx(net)
    weighted = card.dropna(subset=["weight", "score"])
    assert metrics["score"] == pytest.approx(weighted["score"].sum() / weighted["weight"].sum())
    assert (weighted["score"] <= weighted["weight"] * 1.2 + 1e-9).all()  # the cap
    region = card[(card["period"] == YEAR) & (card["dimension"] == "region")].iloc[0]
    in_region = valid[
        (valid["order_ts"].dt.year == int(YEAR)) & (valid["region"] == region["member"])
    ]
    assert region["actual"] == pytest.approx((in_region["revenue"] - in_region["refund"]).sum())


def test_the_year_speaks_of_the_year(ran):
    for name in ("index", *SECTIONS):
        page = BeautifulSoup((ran / YEAR / f"{name}.html").read_text(), "html.parser")
        words = page.get_text(" ")
        assert not re.search(r"this quarter|previous quarter|Quarterly operations", words), name
    index = BeautifulSoup((ran / YEAR / "index.html").read_text(), "html.parser")
    assert index.h1.get_text() == "Annual operations review"
    heads = [th.get_text() for th in index.select("#kpis thead th")]
    assert heads[1:6] == [YEAR, "2024", "YoY", "2023", "vs 2 yrs before"]
    linked = [a.get_text() for a in index.select("#quarters thead a")]
    assert linked == list(QUARTERS)  # the quarters with a report link to it


def test_the_quarters_link_to_their_year(ran):
    for quarter in QUARTERS:
        index = BeautifulSoup((ran / quarter / "index.html").read_text(), "html.parser")
        hrefs = [a["href"] for a in index.select("nav.related a")]
        assert f"../{YEAR}/index.html" in hrefs, quarter
        assert (ran / quarter / hrefs[0]).resolve() == (ran / YEAR / "index.html").resolve()
