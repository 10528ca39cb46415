"""Traffic section helpers on a hand-built table; expected values computed by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from helpers.core.periods import Quarter, comparison_periods
from helpers.data import queries
from helpers.data.engines import DuckDBEngine
from helpers.models.significance import two_proportion_ztest
from helpers.render import text
from helpers.sections import overview, traffic

COLUMNS = [
    "date",
    "channel",
    "device",
    "sessions",
    "users",
    "new_users",
    "engaged_sessions",
    "pageviews",
    "engagement_seconds",
    "orders",
    "revenue",
]
ROWS = [
    ("2025-01-10", "A", "mobile", 1000, 800, 400, 600, 4000, 120000, 30, 3000.0),
    ("2025-02-10", "B", "desktop", 500, 450, 300, 200, 1000, 30000, 5, 400.0),
    ("2024-11-10", "A", "mobile", 800, 700, 300, 500, 3000, 90000, 16, 1600.0),
    ("2024-11-10", "B", "desktop", 800, 700, 500, 300, 1600, 40000, 8, 800.0),
    ("2024-02-10", "A", "mobile", 500, 400, 200, 300, 2000, 50000, 10, 900.0),
    ("2024-02-10", "B", "desktop", 500, 400, 200, 250, 1500, 40000, 10, 1100.0),
]


@pytest.fixture
def engine():
    frame = pd.DataFrame(ROWS, columns=COLUMNS).assign(date=lambda d: pd.to_datetime(d["date"]))
    return DuckDBEngine({"traffic": frame})


@pytest.fixture
def periods():
    return comparison_periods(Quarter.parse("2025Q1"))


def test_totals_and_ga4_rates(engine, periods):
    totals = traffic.add_rates(queries.traffic_by_period(engine, periods)).set_index("period")
    now = totals.loc["current"]
    assert now["sessions"] == 1500
    assert now["engagement_rate"] == pytest.approx(800 / 1500)
    assert now["bounce_rate"] == pytest.approx(700 / 1500)
    assert now["pages_per_session"] == pytest.approx(5000 / 1500)
    assert now["engagement_time"] == pytest.approx(150000 / 1500)
    assert now["conversion_rate"] == pytest.approx(35 / 1500)
    assert now["revenue_per_session"] == pytest.approx(3400 / 1500)
    comparison = traffic.period_comparison(totals.reset_index()).set_index("measure")
    assert comparison.loc["sessions", "qoq"] == pytest.approx(1500 / 1600 - 1)
    assert comparison.loc["sessions", "yoy"] == pytest.approx(0.5)
    # rates change in rate units (0.01 = 1 pp)
    assert comparison.loc["conversion_rate", "qoq"] == pytest.approx(35 / 1500 - 24 / 1600)


def test_bounce_rate_from_bounces_when_engagement_is_absent():
    frame = pd.DataFrame({"sessions": [200.0], "bounces": [50.0]})
    rates = traffic.add_rates(frame).iloc[0]
    assert rates["bounce_rate"] == 0.25
    assert rates["engagement_rate"] == 0.75
    assert np.isnan(rates["conversion_rate"])


def test_channel_mix_shares_and_shifts(engine, periods):
    by_channel = traffic.add_rates(queries.traffic_by_period(engine, periods, ["channel"]))
    mix = traffic.channel_mix(by_channel).set_index("channel")
    assert mix.loc["A", "share"] == pytest.approx(1000 / 1500)
    assert mix.loc["A", "share_shift_qoq"] == pytest.approx(1000 / 1500 - 0.5)
    assert mix.loc["B", "share_shift_yoy"] == pytest.approx(500 / 1500 - 0.5)
    assert mix.loc["B", "sessions_qoq"] == pytest.approx(500 / 800 - 1)
    assert mix["share"].sum() == pytest.approx(1.0)
    quadrants = traffic.efficiency_quadrants(mix.reset_index()).set_index("channel")
    assert quadrants.loc["A", "quadrant"] == "Scale & convert"  # 3.0% > 35/1500 overall
    assert quadrants.loc["B", "quadrant"] == "Small and weak"


def test_two_proportion_test_matches_chi_square():
    z, p = two_proportion_ztest([30, 5], [1000, 500], [16, 8], [800, 800])
    # hand-computed z for channel A: 0.01 / sqrt(46/1800 * (1 - 46/1800) * (1/1000 + 1/800))
    assert z[0] == pytest.approx(1.33595, abs=1e-4)
    for i, (xa, na, xb, nb) in enumerate([(30, 1000, 16, 800), (5, 500, 8, 800)]):
        chi2, p_chi, _, _ = chi2_contingency([[xa, na - xa], [xb, nb - xb]], correction=False)
        assert z[i] ** 2 == pytest.approx(chi2)
        assert p[i] == pytest.approx(p_chi)
    z0, p0 = two_proportion_ztest([0], [100], [0], [100])
    assert np.isnan(z0[0]) and np.isnan(p0[0])


def test_conversion_tests_flag_significance_and_skip_small_channels(engine, periods):
    by_channel = queries.traffic_by_period(engine, periods, ["channel"])
    tests = traffic.conversion_tests(by_channel, "previous", 0.2, min_sessions=0).set_index(
        "channel"
    )
    assert tests.loc["A", "change_pp"] == pytest.approx(1.0)
    assert tests.loc["A", "significant"] == (tests.loc["A", "p_value"] < 0.2)
    small = traffic.conversion_tests(by_channel, "previous", 0.05, min_sessions=600)
    assert small.set_index("channel").loc["B", "significant"] is None  # 500 sessions: untested
    assert small["z"].dtype == small["p_value"].dtype == float  # untested: NaN, not None
    edge = traffic.conversion_tests(by_channel, "previous", 0.05, min_sessions=500)
    assert edge.set_index("channel").loc["B", "significant"] is not None  # 500 and 800: tested
    a_year_ago = traffic.conversion_tests(by_channel, "year_ago", 0.05, min_sessions=501)
    assert a_year_ago.set_index("channel")["significant"].isna().all()  # 500 each a year ago
    at_the_minimum = traffic.conversion_tests(by_channel, "year_ago", 0.05, min_sessions=500)
    assert at_the_minimum["significant"].notna().all()


def test_a_mix_without_a_year_ago_has_no_shift_on_it(engine, periods):
    by_channel = traffic.add_rates(queries.traffic_by_period(engine, periods, ["channel"]))
    mix = traffic.channel_mix(by_channel[by_channel["period"] != "year_ago"])
    assert mix["share_shift_yoy"].isna().all() and mix["share_shift_qoq"].notna().all()


def test_a_share_shift_is_said_from_exactly_its_threshold(engine, periods):
    """B's share moved 16.7 pp: said at a threshold of exactly that, not a hair above."""
    _, mix, _, _ = finding_inputs(engine, periods)
    moved = mix["share_shift_qoq"].abs().max() * 100

    def shifts(threshold):
        said = traffic._share_shift(mix, threshold, ("qoq",))
        return [f.figures["channel"] for f in said]

    assert shifts(moved) == ["B"] and shifts(moved + 0.01) == []
    assert traffic._share_shift(mix.iloc[:0], 0.0, ("qoq",)) == []  # no channel, no shift


def test_quadrants_at_exactly_an_equal_share_and_the_overall_rate():
    """Two channels of equal share converting at exactly the overall rate count as big and
    converting."""
    mix = pd.DataFrame(
        {
            "channel": ["A", "B"],
            "sessions": [100, 100],
            "orders": [2, 2],
            "share": [0.5, 0.5],
            "conversion_rate": [0.02, 0.02],
            "revenue_per_session": [1.0, 1.0],
        }
    )
    assert traffic.efficiency_quadrants(mix)["quadrant"].tolist() == ["Scale & convert"] * 2


def test_the_money_moved_on_the_basis_it_moved_most_and_none_without_a_basis():
    by = pd.DataFrame(
        {
            "measure": ["sessions", "conversion_rate", "revenue_per_session"],
            "unit": ["count", "rate", "currency"],
            "current": [1000.0, 0.0, 2.0],
            "qoq": [np.nan, 0.01, 0.25],
            "yoy": [1.0, np.nan, np.nan],
        }
    ).set_index("measure")
    both = ("qoq", "yoy")
    assert traffic.revenue_moved(by, "sessions", both) == pytest.approx(500 * 2.0)  # 500 -> 1,000
    assert traffic.revenue_moved(by, "revenue_per_session", both) == pytest.approx(0.4 * 1000)
    assert traffic.revenue_moved(by, "conversion_rate", both) is None  # nobody converts now
    assert traffic.revenue_moved(by, "sessions", ("qoq",)) is None  # no change known


def test_device_split(engine, periods):
    devices = traffic.device_split(queries.traffic_by_period(engine, periods, ["device"]))
    now = devices[devices["period"] == "current"].set_index("device")
    assert now.loc["mobile", "share"] == pytest.approx(1000 / 1500)
    assert now.loc["desktop", "conversion_rate"] == pytest.approx(5 / 500)


def test_weekly_trend_keeps_complete_weeks_only():
    days = pd.date_range("2025-01-06", "2025-01-22")  # Monday 6th to Wednesday 22nd
    frame = pd.DataFrame({"date": days, "channel": "A", "sessions": 10.0, "users": 5.0})
    weekly = queries.traffic_weekly(
        DuckDBEngine({"traffic": frame}), days[0], days[-1] + pd.Timedelta(days=1)
    )
    assert weekly["week"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-06", "2025-01-13"]
    assert weekly["sessions"].tolist() == [70.0, 70.0]


def test_orders_come_from_the_orders_table_when_traffic_has_none(periods):
    frame = pd.DataFrame(ROWS, columns=COLUMNS).drop(columns=["orders", "revenue"])
    frame["date"] = pd.to_datetime(frame["date"])
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3"],
            "customer_id": ["x", "y", "x"],
            "order_ts": pd.to_datetime(["2025-01-02", "2025-01-03", "2024-11-02"]),
            "channel": ["A", "A", "B"],
            "net_revenue": [10.0, 20.0, 5.0],
        }
    )
    engine = DuckDBEngine({"traffic": frame, "orders": orders})
    sums = queries.traffic_by_period(engine, periods, ["channel"])
    filled = traffic._orders_from_order_table(engine, periods, sums, ["channel"])
    now = filled[filled["period"] == "current"].set_index("channel")
    assert now.loc["A", "orders"] == 2 and now.loc["A", "revenue"] == 30.0
    assert np.isnan(now.loc["B", "orders"])


THRESHOLDS = {"material_change_pct": 10, "material_rate_change_pp": 0.5}


def finding_inputs(engine, periods):
    """What traffic.findings reads, from the hand-built table; conversion tested at alpha 0.5."""
    totals = traffic.add_rates(queries.traffic_by_period(engine, periods))
    by_channel = traffic.add_rates(queries.traffic_by_period(engine, periods, ["channel"]))
    tests = {
        basis: traffic.conversion_tests(by_channel, base, 0.5, min_sessions=0)
        for basis, base in (("qoq", "previous"), ("yoy", "year_ago"))
    }
    thresholds = THRESHOLDS | {"material_share_shift_pp": 2}
    return traffic.period_comparison(totals), traffic.channel_mix(by_channel), tests, thresholds


def test_findings_follow_one_comparison_rule(engine, periods):
    """QoQ always, YoY too in a seasonal quarter, each named; a change is reported when it is
    material on a basis shown. Figures: sessions 1,500 / 1,600 / 1,000; conversion 35/1,500 vs
    24/1,600 (+0.83 pp); B's share 500/1,500 vs 800/1,600 and 500/1,000 (-16.7 pp both)."""
    comparison, mix, tests, thresholds = finding_inputs(engine, periods)
    quarterly = text.sentences(traffic.findings(comparison, mix, tests, thresholds, ("qoq",)))
    assert not any(n.startswith("Sessions") for n in quarterly)  # -6.25% is not material
    assert quarterly[0] == (
        "Conversion rate (orders / sessions): +0.83 pp on the previous quarter, at 2.33% this "
        "quarter."
    )
    assert "B now brings 33.3% of sessions; its share moved -16.7 pp on the previous quarter." in (
        quarterly
    )
    assert any(
        n.startswith("Conversion in A improved from 2.00% in the previous quarter to 3.00%")
        for n in quarterly
    )
    assert not any("a year ago" in n for n in quarterly)
    seasonal = text.sentences(traffic.findings(comparison, mix, tests, thresholds, ("qoq", "yoy")))
    assert seasonal[0] == (
        "Sessions: -6.2% on the previous quarter and +50.0% on a year ago, at 1,500 this quarter."
    )
    assert (
        "B now brings 33.3% of sessions; its share moved -16.7 pp on the previous quarter and "
        "-16.7 pp on a year ago." in seasonal
    )
    # the same findings as data: each figure is its table's, no English parsed
    found = traffic.findings(comparison, mix, tests, thresholds, ("qoq", "yoy"))
    said = {f.figures.get("kpi", f.kind): f for f in found}
    sessions = comparison.set_index("measure").loc["sessions"]
    change = said["traffic.sessions"]
    assert change.kind == "traffic.measure_change" and change.material
    assert change.figures["current"] == sessions["current"] == 1500
    assert change.figures["changes"] == {"qoq": sessions["qoq"], "yoy": sessions["yoy"]}
    shift = said["traffic.share_shift"]
    b = mix.set_index("channel").loc["B"]
    assert shift.figures == {
        "channel": "B",
        "share": b["share"],
        "shifts": {"qoq": b["share_shift_qoq"], "yoy": b["share_shift_yoy"]},
    }
    assert shift.bases == ("qoq", "yoy")


def test_each_finding_puts_the_revenue_its_change_moved_at_stake(engine, periods):
    """This quarter: 1,500 sessions, 35 orders, ¥3,400 (¥2.27 a session, ¥97.14 an order).
    Sessions moved most a year ago (1,000: 500 sessions); conversion most on the previous
    quarter (24 / 1,600: 0.83 pp of 1,500 sessions); B's share most on a year ago (16.7 pp of
    1,500 sessions at B's ¥0.80); a significant channel's change at its own sessions and order
    value. The best and worst channels by revenue per session close the findings."""
    comparison, mix, tests, thresholds = finding_inputs(engine, periods)
    found = traffic.findings(comparison, mix, tests, thresholds, ("qoq", "yoy"))
    said = {f.figures.get("kpi", f.kind): f for f in found}
    sessions, conversion = said["traffic.sessions"], said["traffic.conversion_rate"]
    assert sessions.stake == pytest.approx(500 * 3400 / 1500)
    assert conversion.stake == pytest.approx((35 / 1500 - 24 / 1600) * 1500 * 3400 / 35)
    assert sessions.bases == conversion.bases == ("qoq", "yoy")
    b = mix.set_index("channel").loc["B"]
    shift = said["traffic.share_shift"]
    assert shift.material and shift.stake == pytest.approx(abs(500 / 1500 - 0.5) * 1500 * 0.8)
    assert b["revenue_per_session"] == pytest.approx(0.8)
    significant = [f for f in found if f.kind == "traffic.conversion_significant"]
    assert significant and all(f.material for f in significant)
    for finding in significant:
        (basis,) = finding.bases
        channel = mix.set_index("channel").loc[finding.figures["channel"]]
        change = finding.figures["rate"] - finding.figures["base_rate"]
        assert finding.variant == ("improved" if change > 0 else "fell")
        per_order = channel["revenue_per_session"] / channel["conversion_rate"]
        assert finding.stake == pytest.approx(abs(change) * channel["sessions"] * per_order)
    assert {f.figures["basis"] for f in significant} == {"qoq", "yoy"}
    # revenue per session (¥2.27 against ¥1.50) and engagement (53.3% against 50.0%) moved too
    assert {"traffic.revenue_per_session", "traffic.engagement_rate"} <= set(said)
    value = found[-1]
    assert value.kind == "traffic.session_value"
    assert (value.figures["best_channel"], value.figures["worst_channel"]) == ("A", "B")


def test_nothing_material_is_said_as_such(engine, periods):
    comparison, mix, tests, _ = finding_inputs(engine, periods)
    calm = {"material_change_pct": 100, "material_rate_change_pp": 50}
    quiet = {basis: table.assign(significant=False) for basis, table in tests.items()}
    found = traffic.findings(
        comparison, mix.iloc[:0], quiet, calm | {"material_share_shift_pp": 50}, ("qoq",)
    )
    assert [f.kind for f in found] == ["traffic.nothing_material"]
    only_value = traffic.findings(
        comparison, mix, quiet, calm | {"material_share_shift_pp": 50}, ("qoq",)
    )
    assert [f.kind for f in only_value] == ["traffic.session_value"]


def test_headline_conversion_counts_net_orders_when_there_is_an_orders_table(periods, monkeypatch):
    frame = pd.DataFrame(ROWS, columns=COLUMNS).assign(date=lambda d: pd.to_datetime(d["date"]))
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3"],
            "customer_id": ["x", "y", "x"],
            "order_ts": pd.to_datetime(["2025-01-10", "2025-02-11", "2024-11-10"]),
            "net_revenue": [100.0, 50.0, 70.0],
        }
    )
    engine = DuckDBEngine({"traffic": frame, "orders": orders})
    traffic_sums = queries.traffic_by_period(engine, periods)
    totals = traffic.add_rates(traffic.with_net_orders(engine, periods, traffic_sums)).set_index(
        "period"
    )
    assert totals.loc["current", "conversion_rate"] == pytest.approx(2 / 1500)
    assert totals.loc["current", "revenue_per_session"] == pytest.approx(150 / 1500)
    assert totals.loc["previous", "conversion_rate"] == pytest.approx(1 / 1600)
    # the caller's orders_by_period table, when given, is the one used (not queried again)
    given = queries.orders_by_period(engine, periods).assign(orders=7.0, net_revenue=70.0)
    totals = traffic.with_net_orders(engine, periods, traffic_sums, given).set_index("period")
    assert totals.loc["current", ["orders", "revenue"]].tolist() == [7.0, 70.0]
    # the index page's KPIs query the orders once, for its order KPIs and its conversion
    queried = []
    real = queries.orders_by_period
    monkeypatch.setattr(queries, "orders_by_period", lambda *args: queried.append(1) or real(*args))
    kpis = overview.headline_kpis(engine, periods)
    assert len(queried) == 1 and kpis["conversion_rate"]["current"] == pytest.approx(2 / 1500)


def test_engine_loads_only_the_tables_a_section_needs(tmp_path):
    frame = pd.DataFrame(ROWS, columns=COLUMNS).assign(date=lambda d: pd.to_datetime(d["date"]))
    frame.to_parquet(tmp_path / "traffic.parquet")
    frame.to_parquet(tmp_path / "other.parquet")
    engine = DuckDBEngine(
        {"traffic": tmp_path / "traffic.parquet", "other": tmp_path / "other.parquet"},
        materialize=("traffic",),
    )
    tables = {
        row[0] for row in engine.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    }
    views = {
        row[0]
        for row in engine.con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    assert tables == {"traffic"} and views == {"other"}
    assert (
        engine.sql("SELECT sum(sessions) AS s FROM other")["s"].iloc[0] == frame["sessions"].sum()
    )


def test_rates_of_a_single_session_and_of_none():
    """A denominator of 1 is a rate like any other; of 0, no rate at all (not 0, not inf)."""
    sums = pd.DataFrame(
        {"sessions": [1.0, 0.0], "engaged_sessions": [1.0, 0.0], "orders": [1.0, 0.0]}
        | {"users": [1.0, 0.0], "new_users": [1.0, 0.0], "revenue": [5.0, 0.0]}
    )
    rates = traffic.add_rates(sums)
    assert rates.loc[0, ["conversion_rate", "engagement_rate", "new_user_share"]].tolist() == [
        1.0,
        1.0,
        1.0,
    ]
    assert rates.loc[0, "revenue_per_session"] == 5.0
    assert rates.loc[1, ["conversion_rate", "revenue_per_session"]].isna().all()
    assert rates["pages_per_session"].isna().all()  # no pageviews column: no figure
    assert rates["pages_per_session"].dtype == float


def test_a_share_shift_without_a_year_ago_names_only_the_basis_it_has():
    """A channel with no traffic a year ago has no year-on-year shift: the finding names the
    quarter-on-quarter move alone (it once printed "+nan pp on a year ago")."""
    mix = pd.DataFrame(
        {
            "channel": ["New app", "Web"],
            "share": [0.3, 0.7],
            "share_shift_qoq": [0.05, -0.05],
            "share_shift_yoy": [np.nan, np.nan],
            "sessions": [3000, 7000],
            "revenue_per_session": [2.0, 1.0],
        }
    )
    (finding,) = traffic._share_shift(mix, 2.0, ("qoq", "yoy"))
    assert finding.figures["shifts"] == {"qoq": 0.05} and finding.bases == ("qoq",)
    assert finding.stake == pytest.approx(0.05 * 10_000 * 2.0)  # 500 sessions at ¥2 each
    assert text.sentence(finding) == (
        "New app now brings 30.0% of sessions; its share moved +5.0 pp on the previous quarter."
    )


def test_a_conversion_changes_stake_is_the_orders_it_moved_at_their_value():
    """0.5 pp more conversion of 1,000 sessions is 5 orders; at ¥3 a session and 2%
    conversion an order is worth ¥150: ¥750 at stake. A channel that converts nobody has no
    order value to put on it."""
    mix = pd.DataFrame(
        {
            "channel": ["Ads", "Dead"],
            "sessions": [1000, 500],
            "conversion_rate": [0.02, 0.0],
            "revenue_per_session": [3.0, 0.0],
        }
    )
    assert traffic._conversion_stake(mix, "Ads", -0.005) == pytest.approx(750.0)
    assert traffic._conversion_stake(mix, "Dead", 0.01) is None


def test_channel_margins_largest_first_and_no_rate_without_revenue(periods):
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4", "5"],
            "customer_id": ["a", "b", "c", "d", "e"],
            "order_ts": pd.to_datetime(["2025-01-05"] * 4 + ["2024-12-01"]),
            "net_revenue": [0.5, 80.0, 0.0, 150.0, 999.0],
            "cost": [0.2, 20.0, 1.0, 70.0, 1.0],
            "channel": ["gift", "app", "free", "web", "web"],
        }
    )
    margins = traffic.channel_margins(DuckDBEngine({"orders": orders}), periods)
    assert margins["channel"].tolist() == ["web", "app", "gift", "free"]
    assert list(margins.index) == [0, 1, 2, 3] and "index" not in margins
    assert margins["gross_margin"].tolist() == pytest.approx([80.0, 60.0, 0.3, -1.0])
    assert margins["margin_rate"].tolist()[:3] == pytest.approx([80 / 150, 0.75, 0.6])
    assert np.isnan(margins["margin_rate"].iloc[3])  # nothing sold: no rate


def test_rates_over_no_sessions_and_a_comparison_without_a_year_ago(engine, periods):
    totals = traffic.add_rates(queries.traffic_by_period(engine, periods))
    none = traffic.add_rates(totals.assign(sessions=0, users=0).drop(columns="pageviews"))
    for rate in ("conversion_rate", "engagement_rate", "new_user_share", "pages_per_session"):
        assert none[rate].dtype == float and none[rate].isna().all(), rate
    recent = traffic.period_comparison(totals[totals["period"] != "year_ago"])
    sessions = recent.set_index("measure").loc["sessions"]
    assert sessions["current"] == 1500 and sessions["year_ago"] is None and sessions["yoy"] is None
