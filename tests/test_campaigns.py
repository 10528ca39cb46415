"""Campaign windows, by hand: phases and their baseline, daily averages with empty days as
zero, uplift, the same days a year before, and sales pulled forward."""

import pandas as pd
import pytest

from helpers.core.config import CampaignWindow, load_config
from helpers.core.periods import Quarter, comparison_periods
from helpers.data.engines import DuckDBEngine
from helpers.render import text
from helpers.sections import campaigns

from .conftest import PROJECT

SALE = CampaignWindow(
    name="Sale", warm_up=("11-01", "11-02"), peak=("11-03", "11-03"), after=("11-04", "11-05")
)
OTHER = CampaignWindow(
    name="Other", warm_up=("10-10", "10-11"), peak=("10-12", "10-12"), after=("10-13", "10-13")
)


def _orders(year: int, daily: dict[str, float]) -> pd.DataFrame:
    days = list(daily)
    return pd.DataFrame(
        {
            "order_id": [f"{year}-{d}" for d in days],
            "customer_id": [f"c{year}{i}" for i in range(len(days))],
            "order_ts": pd.to_datetime([f"{year}-{d} 12:00" for d in days]),
            "net_revenue": list(daily.values()),
            "cost": [v / 2 for v in daily.values()],
        }
    )


# 2025: every baseline day outside Other sells 10 (Oct 4-31, less Oct 10-13: 24 days), the
# warm-up 20 a day, the peak 100, the after phase 4 and nothing (an empty day).
BASELINE = [d.strftime("%m-%d") for d in pd.date_range("2025-10-04", "2025-10-31")]
DAILY_2025 = {d: 10.0 for d in BASELINE} | {"10-12": 500.0}
DAILY_2025 |= {"11-01": 20.0, "11-02": 20.0, "11-03": 100.0, "11-04": 4.0}
ORDERS = pd.concat([_orders(2025, DAILY_2025), _orders(2024, {"11-03": 80.0})])


def test_phases_and_their_baseline():
    phases = campaigns.phase_dates(SALE, 2025)
    assert phases["baseline"] == (pd.Timestamp("2025-10-04"), pd.Timestamp("2025-10-31"))
    assert phases["peak"] == (pd.Timestamp("2025-11-03"), pd.Timestamp("2025-11-03"))


def test_daily_averages_uplift_a_year_before_and_pulled_forward():
    engine = DuckDBEngine({"orders": ORDERS})
    daily = campaigns.queries.daily_sales(
        engine, pd.Timestamp("2024-10-01"), pd.Timestamp("2025-12-01")
    )
    now = campaigns.daily_averages(daily, SALE, 2025, [SALE, OTHER]).set_index("phase")
    assert now.loc["baseline", "days"] == 24  # Oct 10-13 are Other's window
    assert now.loc["baseline", "net_revenue"] == pytest.approx(10.0)
    assert now.loc["warm_up", "net_revenue"] == 20.0
    assert now.loc["after", "net_revenue"] == pytest.approx(2.0)  # 4 and an empty day
    assert now.loc["peak", "margin"] == pytest.approx(50.0)
    before = campaigns.daily_averages(daily, SALE, 2024, [SALE, OTHER])
    table = campaigns.compare(now.reset_index(), before).set_index("phase")
    assert table.loc["peak", "uplift"] == pytest.approx(100 / 10 - 1)
    assert table.loc["peak", "yoy"] == pytest.approx(100 / 80 - 1)
    assert campaigns.pulled_forward(table.reset_index()) == pytest.approx((10 - 2) * 2)
    finding = campaigns.campaign_finding("Sale", table.reset_index())
    assert finding.figures["pulled_forward"] == pytest.approx(16.0) and finding.stake == 100.0
    assert text.sentence(finding) == (
        "Sale: ¥100 of net revenue a day at its peak, 10.0x an ordinary day, +25.0% on the "
        "same days a year before; the days after it sold ¥16.00 less than ordinary days: sales "
        "pulled forward."
    )


def test_the_section_reports_the_windows_whose_peak_falls_in_the_quarter():
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(
        update={"campaigns": [SALE, OTHER]}
    )
    engine = DuckDBEngine({"orders": ORDERS})
    periods = comparison_periods(Quarter.parse("2025Q4"))
    section = campaigns.build_section(engine, config, periods)
    assert list(section.windows) == ["Sale", "Other"]
    q3 = config.model_copy(update={"quarter": "2025Q3"})
    assert [f.kind for f in campaigns.build_section(engine, q3, periods).findings] == [
        "campaigns.none"
    ]


def test_a_campaign_day_must_be_a_day():
    with pytest.raises(ValueError, match="'13-01' is not a MM-DD day"):
        CampaignWindow(
            name="x", warm_up=("13-01", "13-02"), peak=("11-11", "11-11"), after=("11-12", "11-13")
        )


def test_every_column_of_a_phase_and_what_the_section_assembles():
    """Spend 50 a day on the peak, attributed revenue 150 (ROAS 3); the after phase's empty
    day counts as zero orders; both windows make the baseline shorter; the section's table
    is the comparison of this year's and last year's phases, its finding names the window."""
    marketing = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-11-03"]),
            "channel": ["Ads"],
            "spend": [50.0],
            "attributed_revenue": [150.0],
        }
    )
    engine = DuckDBEngine({"orders": ORDERS, "marketing": marketing})
    daily = campaigns.queries.daily_sales(
        engine, pd.Timestamp("2024-10-01"), pd.Timestamp("2025-12-01")
    )
    now = campaigns.daily_averages(daily, SALE, 2025, [SALE, OTHER]).set_index("phase")
    assert now.loc["peak", "roas"] == 3.0 and now.loc["peak", "spend"] == 50.0
    assert now.loc["after", "orders"] == pytest.approx(0.5)  # one order over two days
    assert now.loc["after", "new_customers"] == pytest.approx(0.5)
    alone = campaigns.daily_averages(daily, SALE, 2025, [SALE]).set_index("phase")
    assert alone.loc["baseline", "days"] == 28  # without Other, every day before counts
    before = campaigns.daily_averages(daily, SALE, 2024, [SALE, OTHER])
    table = campaigns.compare(now.reset_index(), before).set_index("phase")
    assert table.loc["peak", "year_before"] == 80.0 and pd.isna(table.loc["after", "yoy"])
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(
        update={"campaigns": [SALE, OTHER]}
    )
    section = campaigns.build_section(engine, config, comparison_periods(Quarter.parse("2025Q4")))
    pd.testing.assert_frame_equal(section.windows["Sale"], table.reset_index())
    finding = section.findings[0]
    assert finding.figures["campaign"] == "Sale" and finding.bases == ("yoy",)
    assert finding.stake == pytest.approx(100.0)  # one peak day of 100


def _phases(days: list[int], net_revenue: list[float]) -> pd.DataFrame:
    """A campaign's table by phase (baseline, warm-up, peak, after), uplift on the baseline."""
    return pd.DataFrame(
        {
            "phase": list(campaigns.PHASES),
            "days": days,
            "net_revenue": net_revenue,
            "uplift": [v / net_revenue[0] - 1 for v in net_revenue],
            "yoy": [None] * 4,
        }
    )


def test_nothing_is_pulled_forward_when_the_days_after_sell_as_usual():
    table = _phases(days=[10, 2, 1, 3], net_revenue=[10.0, 20.0, 100.0, 10.0])
    assert campaigns.pulled_forward(table) == 0.0
    assert campaigns.campaign_finding("x", table).figures["pulled_forward"] is None
    short = campaigns.campaign_finding("x", table.assign(net_revenue=[10.0, 20.0, 100.0, 9.5]))
    assert short.figures["pulled_forward"] == pytest.approx(1.5)  # 0.5 a day over three days


def test_windows_at_the_quarters_edges_and_the_days_read():
    """A peak starting on the quarter's first day is in it, one starting on the next
    quarter's first day is not, and one running past the quarter's end counts by its first
    day. The section reads daily sales from last year's baseline to this year's last day."""
    edge = CampaignWindow(
        name="Edge", warm_up=("09-20", "09-29"), peak=("09-30", "10-01"), after=("10-02", "10-03")
    )
    start = CampaignWindow(
        name="Start", warm_up=("06-25", "06-30"), peak=("07-01", "07-01"), after=("07-02", "07-02")
    )
    late = CampaignWindow(
        name="Late", warm_up=("09-28", "09-30"), peak=("10-01", "10-01"), after=("10-02", "10-02")
    )
    config = load_config(PROJECT / "params", "2025Q3", []).model_copy(
        update={"campaigns": [edge, start, late]}
    )
    engine = DuckDBEngine({"orders": ORDERS})
    periods = comparison_periods(Quarter.parse("2025Q3"))
    read = []
    real = campaigns.queries.daily_sales

    def recorded(engine, first, end):
        read.append((first, end))
        return real(engine, first, end)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaigns.queries, "daily_sales", recorded)
        section = campaigns.build_section(engine, config, periods)
    assert list(section.windows) == ["Edge", "Start"]
    # Start's 2024 baseline (from 2024-05-28) to Edge's last day plus one
    assert read == [(pd.Timestamp("2024-05-28"), pd.Timestamp("2025-10-04"))]
    nothing = campaigns.build_section(
        engine, config.model_copy(update={"campaigns": [late]}), periods
    )
    assert nothing.windows == {} and [f.kind for f in nothing.findings] == ["campaigns.none"]


def test_last_years_baseline_is_read_whole():
    """2024's baseline days sold 5 a day: the year-before column of the baseline says so."""
    baseline_2024 = {d.strftime("%m-%d"): 5.0 for d in pd.date_range("2024-10-04", "2024-10-31")}
    orders = pd.concat(
        [ORDERS, _orders(2024, baseline_2024).assign(order_id=lambda d: "b" + d["order_id"])]
    )
    config = load_config(PROJECT / "params", "2025Q4", []).model_copy(
        update={"campaigns": [SALE, OTHER]}
    )
    engine = DuckDBEngine({"orders": orders})
    section = campaigns.build_section(engine, config, comparison_periods(Quarter.parse("2025Q4")))
    table = section.windows["Sale"].set_index("phase")
    assert table.loc["baseline", "year_before"] == pytest.approx(5.0)


def test_baseline_days_are_left_out_for_every_other_window_in_any_order():
    engine = DuckDBEngine({"orders": ORDERS})
    daily = campaigns.queries.daily_sales(
        engine, pd.Timestamp("2024-10-01"), pd.Timestamp("2025-12-01")
    )
    for windows in ([SALE, OTHER], [OTHER, SALE]):
        now = campaigns.daily_averages(daily, SALE, 2025, windows)
        assert list(now["phase"]) == list(campaigns.PHASES)  # in phase order
        assert now.set_index("phase").loc["baseline", "days"] == 24
    days = pd.Series(pd.date_range("2025-10-09", "2025-10-14"))
    assert campaigns.in_windows(days, [OTHER, SALE]).tolist() == [False] + [True] * 4 + [False]
    none = campaigns.in_windows(days, [])
    assert none.dtype == bool and not none.any()


def test_comparisons_on_a_zero_baseline_a_small_year_before_and_phases_in_any_order():
    now = pd.DataFrame(
        {"phase": list(campaigns.PHASES), "days": [28, 2, 1, 2], "net_revenue": [0, 2, 3, 1.0]}
    )
    before = pd.DataFrame(
        {"phase": ["peak", "after", "warm_up", "baseline"], "net_revenue": [0.5, 0.0, 4.0, 2.0]}
    )
    table = campaigns.compare(now, before).set_index("phase")
    assert table["uplift"].isna().all()  # no baseline sales: no uplift
    assert table["year_before"].tolist() == [2.0, 4.0, 0.5, 0.0]  # matched by phase
    assert table.loc["peak", "yoy"] == pytest.approx(3 / 0.5 - 1)  # a small base still counts
    assert pd.isna(table.loc["after", "yoy"]) and table["yoy"].dtype == float


def test_roas_needs_spend_and_small_pull_forwards_and_long_peaks_count():
    marketing = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-11-01", "2025-11-03"]),
            "channel": ["Ads", "Ads"],
            "spend": [0.0, 0.5],
            "attributed_revenue": [10.0, 2.0],
        }
    )
    engine = DuckDBEngine({"orders": ORDERS, "marketing": marketing})
    daily = campaigns.queries.daily_sales(
        engine, pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-01")
    )
    now = campaigns.daily_averages(daily, SALE, 2025, [SALE]).set_index("phase")
    assert now.loc["peak", "roas"] == pytest.approx(4.0)  # 2 on 0.5 of spend
    assert pd.isna(now.loc["warm_up", "roas"])  # revenue without spend has no return on it
    table = _phases(days=[10, 2, 2, 3], net_revenue=[10.0, 20.0, 100.0, 9.9])
    finding = campaigns.campaign_finding("x", table)
    assert finding.figures["pulled_forward"] == pytest.approx(0.3)  # 0.1 a day for 3 days
    assert finding.stake == pytest.approx(200.0)  # two peak days of 100
