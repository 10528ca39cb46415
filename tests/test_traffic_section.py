"""The traffic section and the index's headline KPIs assembled on the small sample, each figure
recomputed with plain pandas from the clean tables."""

import json

import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.periods import Year, comparison_periods
from helpers.data.engines import DuckDBEngine
from helpers.data.inputs import prepare_inputs
from helpers.models.significance import two_proportion_ztest
from helpers.sections import overview, traffic
from helpers.sections.kpis import comparison_bases

from .conftest import PROJECT


@pytest.fixture(scope="module")
def inputs(small_data):
    config = load_config(PROJECT / "params", "2025Q3", overrides={"data_dir": str(small_data)})
    tables = prepare_inputs(config).tables
    return tables, config, comparison_periods(config.period)


@pytest.fixture(scope="module")
def section(inputs):
    tables, config, periods = inputs
    return traffic.build_section(DuckDBEngine(tables), config, periods)


def _in(frame: pd.DataFrame, column: str, quarter) -> pd.DataFrame:
    return frame[(frame[column] >= quarter.start) & (frame[column] < quarter.end)]


def test_headline_traffic_counts_net_orders_of_the_orders_table(inputs, section):
    tables, config, _ = inputs
    now = _in(tables["traffic"], "date", config.period)
    orders = _in(tables["orders"], "order_ts", config.period)
    by = section.comparison.set_index("measure")
    assert by.loc["sessions", "current"] == now["sessions"].sum()
    assert by.loc["conversion_rate", "current"] == pytest.approx(
        len(orders) / now["sessions"].sum()
    )
    revenue = orders["net_revenue"].sum() / now["sessions"].sum()
    assert by.loc["revenue_per_session", "current"] == pytest.approx(revenue)
    engaged = now["engaged_sessions"].sum() / now["sessions"].sum()
    assert by.loc["engagement_rate", "current"] == pytest.approx(engaged)
    assert by.loc["bounce_rate", "current"] == pytest.approx(1 - engaged)
    previous = _in(tables["traffic"], "date", config.period.previous)["sessions"].sum()
    assert by.loc["sessions", "qoq"] == pytest.approx(now["sessions"].sum() / previous - 1)
    assert set(section.kpis) == set(traffic.HEADLINE)
    assert section.measures["users"]["unit"] == "count"
    assert section.orders_source == "both"  # the orders table, and the traffic table by channel


def test_channel_mix_shares_and_their_shifts(inputs, section):
    tables, config, _ = inputs
    now = _in(tables["traffic"], "date", config.period).groupby("channel")["sessions"].sum()
    before = _in(tables["traffic"], "date", config.period.previous).groupby("channel")["sessions"]
    share_before = before.sum() / before.sum().sum()
    mix = section.mix.set_index("channel")
    pd.testing.assert_series_equal(
        mix["share"], (now / now.sum()).reindex(mix.index), check_names=False
    )
    shift = (now / now.sum() - share_before).reindex(mix.index)
    pd.testing.assert_series_equal(mix["share_shift_qoq"], shift, check_names=False)
    assert list(mix["sessions"]) == sorted(mix["sessions"], reverse=True)
    # channel conversion uses the traffic table's own orders
    traffic_orders = _in(tables["traffic"], "date", config.period).groupby("channel")["orders"]
    assert mix["conversion_rate"].to_dict() == pytest.approx(
        (traffic_orders.sum() / now).reindex(mix.index).to_dict()
    )
    quadrants = section.quadrants.set_index("channel")
    overall = quadrants["overall_conversion_rate"].iloc[0]
    assert overall == pytest.approx(traffic_orders.sum().sum() / now.sum())
    for channel, row in quadrants.iterrows():
        big, converts = row["share"] >= 1 / len(mix), row["conversion_rate"] >= overall
        expected = {
            (True, True): "Scale & convert",
            (False, True): "Efficient niche",
            (True, False): "Volume, low conversion",
            (False, False): "Small and weak",
        }[(big, converts)]
        assert row["quadrant"] == expected, channel


def test_devices_and_weekly_trend(inputs, section):
    tables, config, _ = inputs
    now = _in(tables["traffic"], "date", config.period)
    devices = section.devices[section.devices["period"] == "current"].set_index("device")
    by_device = now.groupby("device")["sessions"].sum()
    assert devices["share"].to_dict() == pytest.approx((by_device / by_device.sum()).to_dict())
    first = config.period.shift(1 - config.traffic.trend_quarters).start
    days = tables["traffic"][
        (tables["traffic"]["date"] >= first) & (tables["traffic"]["date"] < config.period.end)
    ]
    days = days.assign(week=days["date"] - pd.to_timedelta(days["date"].dt.day_of_week, unit="D"))
    by_week = days.groupby(["week", "channel"]).agg(
        sessions=("sessions", "sum"), days=("date", "nunique")
    )
    whole = by_week[by_week["days"] == 7]["sessions"]  # only complete weeks are shown
    shown = section.weekly.set_index(["week", "channel"])["sessions"]
    assert shown.to_dict() == whole.astype(float).to_dict()
    assert len(whole) < len(by_week)  # the quarter's partial first and last weeks are left out


def test_conversion_tests_are_on_both_periods_sessions(section):
    tested = section.tests_qoq.set_index("channel")
    by = section.by_channel.set_index(["period", "channel"])
    for channel, row in tested.iterrows():
        now, before = by.loc[("current", channel)], by.loc[("previous", channel)]
        assert row["conversion_rate"] == pytest.approx(now["orders"] / now["sessions"])
        assert row["base_conversion_rate"] == pytest.approx(before["orders"] / before["sessions"])
        assert row["change_pp"] == pytest.approx(
            (row["conversion_rate"] - row["base_conversion_rate"]) * 100
        )
        assert row["significant"] == (row["p_value"] < 0.05)
        z, p = two_proportion_ztest(
            now["orders"], now["sessions"], before["orders"], before["sessions"]
        )
        assert (row["z"], row["p_value"]) == pytest.approx((float(z), float(p)))


def test_the_section_holds_what_its_parts_compute(inputs, section):
    """Both conversion tests at the parameters' alpha and minimum sessions, the channel
    margins, and the findings on the quarter's comparison bases (2025Q3: the previous quarter
    only), each equal to its part run on its own."""
    tables, config, periods = inputs
    engine = DuckDBEngine(tables)
    alpha, least = config.significance_level, config.traffic.min_sessions_for_test
    for table, base in ((section.tests_qoq, "previous"), (section.tests_yoy, "year_ago")):
        expected = traffic.conversion_tests(section.by_channel, base, alpha, least)
        pd.testing.assert_frame_equal(table, expected)
    assert section.tests_yoy["base_conversion_rate"].notna().all()
    pd.testing.assert_frame_equal(section.margins, traffic.channel_margins(engine, periods))
    thresholds = {
        "material_change_pct": config.material_change_pct,
        "material_rate_change_pp": config.material_rate_change_pp,
        "material_share_shift_pp": config.material_share_shift_pp,
    }
    bases = comparison_bases(config.period, config.seasonal_quarters)
    tests = {"qoq": section.tests_qoq, "yoy": section.tests_yoy}
    expected = traffic.findings(section.comparison, section.mix, tests, thresholds, bases)
    as_json = lambda found: json.dumps([f.as_record() for f in found], default=str)  # noqa: E731
    assert as_json(section.findings) == as_json(expected) and len(expected) > 1


def test_headline_kpis_of_the_index(inputs):
    tables, config, periods = inputs
    kpis = overview.headline_kpis(DuckDBEngine(tables), periods)
    orders = _in(tables["orders"], "order_ts", config.period)
    first = tables["orders"].groupby("customer_id")["order_ts"].min()
    new = first[(first >= config.period.start) & (first < config.period.end)]
    assert kpis["net_revenue"]["current"] == pytest.approx(orders["net_revenue"].sum())
    assert kpis["orders"]["current"] == len(orders)
    assert kpis["customers"]["current"] == orders["customer_id"].nunique()
    assert kpis["new_customers"]["current"] == len(new)
    assert kpis["aov"]["current"] == pytest.approx(orders["net_revenue"].sum() / len(orders))
    sessions = _in(tables["traffic"], "date", config.period)["sessions"].sum()
    assert kpis["sessions"]["current"] == sessions
    assert kpis["conversion_rate"]["current"] == pytest.approx(len(orders) / sessions)
    shop = tables["targets"][
        tables["targets"][["channel", "category", "region"]].isna().all(axis=1)
    ]
    target = shop.set_index(["period", "metric"])["target"][(config.quarter, "net_revenue")]
    assert kpis["net_revenue"]["target"] == target
    assert kpis["net_revenue"]["attainment"] == pytest.approx(orders["net_revenue"].sum() / target)
    year_ago = _in(tables["orders"], "order_ts", config.period.year_ago)["net_revenue"].sum()
    assert kpis["net_revenue"]["yoy"] == pytest.approx(orders["net_revenue"].sum() / year_ago - 1)


def test_without_an_orders_table_traffic_uses_its_own_orders(inputs):
    tables, config, periods = inputs
    only_traffic = DuckDBEngine({"traffic": tables["traffic"]})
    section = traffic.build_section(only_traffic, config, periods)
    now = _in(tables["traffic"], "date", config.period)
    by = section.comparison.set_index("measure")
    assert by.loc["conversion_rate", "current"] == pytest.approx(
        now["orders"].sum() / now["sessions"].sum()
    )
    assert section.orders_source == "traffic_table"
    assert set(overview.headline_kpis(only_traffic, periods)) == {"sessions", "conversion_rate"}


def test_a_traffic_table_with_only_the_required_columns(inputs):
    """date, channel, sessions, users: no engagement, pages, devices or traffic-side orders;
    conversion comes from the orders table, the rest is left out, not zero."""
    tables, config, periods = inputs
    bare = tables["traffic"][["date", "channel", "sessions", "users"]]
    section = traffic.build_section(
        DuckDBEngine({"traffic": bare, "orders": tables["orders"]}), config, periods
    )
    shown = set(section.comparison["measure"])
    assert shown == {"sessions", "users", "orders", "conversion_rate", "revenue_per_session"}
    assert section.devices is None
    no_device_orders = tables["traffic"].drop(columns=["orders", "revenue"])
    engine = DuckDBEngine({"traffic": no_device_orders, "orders": tables["orders"]})
    assert traffic.build_section(engine, config, periods).devices is None  # no orders by device
    mix = section.mix.set_index("channel")
    assert mix["engagement_rate"].isna().all() and mix["pages_per_session"].isna().all()
    now = _in(tables["orders"], "order_ts", config.period)
    by_channel = now.groupby("channel").size()
    sessions = _in(bare, "date", config.period).groupby("channel")["sessions"].sum()
    assert mix["conversion_rate"].to_dict() == pytest.approx(
        (by_channel / sessions).reindex(mix.index).to_dict()
    )
    assert section.orders_source == "orders_table"
    assert "new_user_share" in section.mix and section.mix["new_user_share"].isna().all()


def test_bounces_instead_of_engaged_sessions(inputs):
    tables, config, periods = inputs
    frame = (
        tables["traffic"]
        .assign(bounces=tables["traffic"]["sessions"] - tables["traffic"]["engaged_sessions"])
        .drop(columns=["engaged_sessions"])
    )
    section = traffic.build_section(DuckDBEngine({"traffic": frame}), config, periods)
    now = _in(frame, "date", config.period)
    by = section.comparison.set_index("measure")
    bounce = now["bounces"].sum() / now["sessions"].sum()
    assert by.loc["bounce_rate", "current"] == pytest.approx(bounce)
    assert by.loc["engagement_rate", "current"] == pytest.approx(1 - bounce)


def test_channel_mix_volume_and_new_user_figures(inputs, section):
    tables, config, _ = inputs
    mix = section.mix.set_index("channel")
    frame = tables["traffic"]
    now = _in(frame, "date", config.period).groupby("channel")[["sessions", "users", "new_users"]]
    year_ago = _in(frame, "date", config.period.year_ago).groupby("channel")["sessions"].sum()
    sums = now.sum().reindex(mix.index)
    assert mix["sessions_yoy"].to_dict() == pytest.approx(
        (sums["sessions"] / year_ago.reindex(mix.index) - 1).to_dict()
    )
    assert mix["new_user_share"].to_dict() == pytest.approx(
        (sums["new_users"] / sums["users"]).to_dict()
    )


def test_a_p_value_exactly_at_alpha_is_not_significant(section):
    by_channel = section.by_channel
    first = traffic.conversion_tests(by_channel, "previous", 0.05, min_sessions=0)
    p = first.set_index("channel")["p_value"].iloc[0]
    exact = traffic.conversion_tests(by_channel, "previous", p, min_sessions=0).set_index("channel")
    assert not exact["significant"].iloc[0]
    just_above = traffic.conversion_tests(by_channel, "previous", p * (1 + 1e-9), min_sessions=0)
    assert just_above.set_index("channel")["significant"].iloc[0]
    sessions = by_channel.pivot_table(index="channel", columns="period", values="sessions")
    smallest = sessions["current"].min()  # a channel with exactly the minimum is tested
    floor = traffic.conversion_tests(by_channel, "previous", 0.05, min_sessions=smallest)
    assert (
        floor["p_value"].notna().sum()
        == (sessions[["current", "previous"]].min(axis=1) >= smallest).sum()
    )


def test_a_years_quarters_side_by_side(inputs):
    tables = inputs[0]
    rows = {
        row["key"]: row for row in overview.quarters_side_by_side(DuckDBEngine(tables), Year(2024))
    }
    orders = tables["orders"][tables["orders"]["order_ts"].dt.year == 2024]
    by_quarter = orders.groupby(orders["order_ts"].dt.quarter)
    revenue = rows["overview.net_revenue"]
    assert revenue["unit"] == "currency"
    assert list(revenue["values"]) == ["2024Q1", "2024Q2", "2024Q3", "2024Q4", "2024"]
    for q, quarter in by_quarter:
        assert revenue["values"][f"2024Q{q}"] == pytest.approx(quarter["net_revenue"].sum())
        assert rows["overview.customers"]["values"][f"2024Q{q}"] == quarter["customer_id"].nunique()
    assert revenue["values"]["2024"] == pytest.approx(orders["net_revenue"].sum())
    assert rows["overview.customers"]["values"]["2024"] == orders["customer_id"].nunique()
    sessions = tables["traffic"].loc[tables["traffic"]["date"].dt.year == 2024, "sessions"].sum()
    assert rows["overview.sessions"]["values"]["2024"] == sessions


def test_a_seasonal_quarter_compares_with_a_year_ago_too(small_data):
    """2025Q4 (Double 11) is seasonal: every change is said on the previous quarter and on a
    year ago."""
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(small_data)})
    tables = prepare_inputs(config).tables
    section = traffic.build_section(DuckDBEngine(tables), config, comparison_periods(config.period))
    changes = [f for f in section.findings if f.kind == "traffic.measure_change"]
    assert changes and all(f.bases == ("qoq", "yoy") for f in changes)
