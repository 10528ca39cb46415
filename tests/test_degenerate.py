"""Degenerate inputs with clear outcomes: a single customer, a single day, nobody known before
the quarter buying in it, order costs at or above revenue, no costs at all."""

import shutil

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.errors import Reason
from helpers.core.periods import comparison_periods
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.render import text
from helpers.sections import clv, marketing, regions, repurchase, traffic

from .conftest import PROJECT

NONE_BEFORE = Reason("no_customers_before")


def _engine(folder, quarter="2025Q4"):
    config = load_config(PROJECT / "params", quarter, overrides={"data_dir": str(folder)})
    return DuckDBEngine(prepare_inputs(config).tables), config, comparison_periods(config.period)


def _orders_only(tmp_path, orders: pd.DataFrame):
    folder = tmp_path / "data"
    folder.mkdir()
    orders.to_csv(folder / "orders.csv", index=False)
    return _engine(folder)


def _edited(small_data, tmp_path, edit):
    """The small sample with its orders edited."""
    folder = tmp_path / "edited"
    shutil.copytree(small_data, folder)
    orders = edit(pd.read_parquet(folder / "orders.parquet"))
    orders.to_parquet(folder / "orders.parquet", index=False)
    items = pd.read_parquet(folder / "order_items.parquet")
    items = items[items["order_id"].isin(orders["order_id"])]
    items.to_parquet(folder / "order_items.parquet", index=False)
    return folder


def test_a_single_customer(tmp_path):
    orders = pd.DataFrame(
        {"order_id": ["1"], "customer_id": ["a"], "order_ts": ["2025-11-11"], "revenue": [99.0]}
    )
    engine, config, periods = _orders_only(tmp_path, orders)
    section = clv.build_section(engine, config, periods)
    assert section.withheld == Reason(
        "no_purchase_model", {"reason": Reason("no_model_fitted", {"reasons": [NONE_BEFORE]})}
    )
    assert text.worded(section.withheld) == (
        "no purchase model could be fitted: there are no customers with an order before then"
    )
    assert [f.kind for f in section.findings] == ["clv.not_available"]
    rates = repurchase.build_section(engine, config, periods).kpis
    assert rates["repeat_rate"]["current"] == 0.0
    assert rates["returning_rate"]["current"] == 0.0  # the one customer is new


def test_a_single_day_of_data(tmp_path):
    """Sixty customers, all on Double 11: nothing before the quarter to fit on; everyone new."""
    orders = pd.DataFrame(
        {
            "order_id": [str(i) for i in range(60)],
            "customer_id": [f"c{i % 55}" for i in range(60)],
            "order_ts": "2025-11-11 20:00",
            "revenue": 50.0,
        }
    )
    engine, config, periods = _orders_only(tmp_path, orders)
    withheld = clv.build_section(engine, config, periods).withheld
    assert withheld.figures["reason"].figures["reasons"] == [NONE_BEFORE]
    section = repurchase.build_section(engine, config, periods)
    assert section.kpis["repeat_rate"]["current"] == pytest.approx(5 / 55)  # 5 ordered twice
    assert section.kpis["returning_rate"]["current"] == 0.0  # everyone is new
    assert section.kpis["repeat_rate"]["previous"] is None  # no customers: no rate, not 0


def test_nobody_known_before_the_quarter_buys_in_it(small_data, tmp_path):
    """Remove every 2025Q4 order of a customer who first bought before: the holdout has no
    buyer, so the model cannot be checked, which the section says instead of a 0% error."""

    def only_new_buy_in_q4(orders):
        first = orders.groupby("customer_id")["order_ts"].transform("min")
        in_q4 = orders["order_ts"] >= "2025-10-01"
        return orders[~in_q4 | (first >= "2025-10-01")]

    engine, config, periods = _engine(_edited(small_data, tmp_path, only_new_buy_in_q4))
    section = clv.build_section(engine, config, periods)
    assert section.chosen["aggregate_error_pct"] is None and not section.trusted
    trust = section.findings[0]
    assert (trust.kind, trust.variant) == ("clv.trust", "unchecked")
    assert "could not be checked" in text.sentence(trust)


def test_costs_above_revenue_are_not_used_as_a_margin(small_data, tmp_path):
    """Costs at three times revenue give a margin rate near -200%: CLV and ROI fall back to
    revenue, the rate is reported, and no CLV is negative."""

    def costs_in_another_unit(orders):
        return orders.assign(cost=orders["revenue"] * 3)

    engine, config, periods = _engine(_edited(small_data, tmp_path, costs_in_another_unit))
    section = clv.build_section(engine, config, periods)
    rejected = section.current.rejected_margin_rate
    assert rejected == pytest.approx(-2.0, abs=0.05) and section.current.margin_rate is None
    assert (section.current.predictions["clv"] >= 0).all()
    assert section.findings[1].kind == "common.margin_rejected"
    assert section.findings[1].figures == {"rate": rejected}
    basis = clv.valuation_basis(section, 12, 0.1)
    assert basis.variant == "rejected" and basis.figures["margin_rate"] == rejected
    roi = marketing.build_section(engine, config, periods, section.by_channel)
    assert roi.margin_rate is None and roi.total["profit_roi"].isna().all()
    assert roi.findings[1].kind == "common.margin_rejected"


def test_without_costs_value_is_revenue(small_data, tmp_path):
    engine, config, periods = _engine(
        _edited(small_data, tmp_path, lambda orders: orders.drop(columns="cost"))
    )
    section = clv.build_section(engine, config, periods)
    assert section.current.margin_rate is None and section.current.rejected_margin_rate is None
    assert clv.valuation_basis(section, 12, 0.1).variant == "revenue" and section.basis == "revenue"
    assert "common.margin_rejected" not in {f.kind for f in section.findings}
    assert np.isfinite(section.current.predictions["clv"]).all()


def test_a_shop_in_its_first_quarter_has_every_section(small_data, tmp_path):
    """Every input starts on 1 October: nothing to compare with. Traffic's conversion tests,
    regions' repeat-rate change, marketing's findings and ROAS bridge raised on the missing
    previous quarter; now each says so: unknown changes, no test, no bridge."""
    folder = _edited(
        small_data, tmp_path, lambda orders: orders[orders["order_ts"] >= "2025-10-01"]
    )
    for name in ("traffic", "marketing"):
        table = pd.read_parquet(folder / f"{name}.parquet")
        table[table["date"] >= "2025-10-01"].to_parquet(folder / f"{name}.parquet", index=False)
    engine, config, periods = _engine(folder)
    visits = traffic.build_section(engine, config, periods)
    for tests in (visits.tests_qoq, visits.tests_yoy):
        assert tests["significant"].isna().all() and len(tests) > 0
    places = regions.build_section(engine, config, periods)
    assert (
        places.table["repeat_change_qoq"].isna().all() and places.table["net_revenue"].gt(0).all()
    )
    spend = marketing.build_section(engine, config, periods, None)
    assert spend.roas_bridge() is None and spend.decomposition.empty
    (first,) = [f for f in spend.findings if f.kind == "marketing.spend"]
    assert first.figures["previous_roas"] is None and first.figures["growth"] is None
    sentence = text.sentences([first])[0]
    assert "previous quarter" not in sentence and "nan" not in sentence
