import re

import pandas as pd
import pytest

from helpers.core.errors import ParameterError
from helpers.core.periods import (
    Month,
    Quarter,
    Year,
    comparison_periods,
    next_quarter,
    parse_period,
    parse_target_period,
    trend_start,
    within,
)


def test_parse_and_bounds():
    q = Quarter.parse("2024Q4")
    assert (q.year, q.q, q.label) == (2024, 4, "2024Q4")
    assert q.start == pd.Timestamp("2024-10-01")
    assert q.end == pd.Timestamp("2025-01-01")
    assert q.last_day == pd.Timestamp("2024-12-31")
    assert Quarter.parse("2024-q1") == Quarter(2024, 1)


@pytest.mark.parametrize("text", ["2024Q5", "2024Q0", "24Q1", "2024", "Q3 2024", ""])
def test_malformed_quarter_is_rejected(text):
    with pytest.raises(ParameterError, match="malformed quarter"):
        Quarter.parse(text)


def test_previous_and_year_ago_cross_year_boundaries():
    q = Quarter.parse("2025Q1")
    assert q.previous.label == "2024Q4"
    assert q.year_ago.label == "2024Q1"
    assert Quarter.parse("2024Q4").shift(1).label == "2025Q1"
    assert Quarter.of(pd.Timestamp("2025-06-30 23:59")).label == "2025Q2"


def test_comparison_periods():
    periods = comparison_periods(Quarter.parse("2025Q4"))
    assert periods["period"].tolist() == ["current", "previous", "year_ago"]
    assert periods["quarter"].tolist() == ["2025Q4", "2025Q3", "2024Q4"]


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_falls_in_its_quarter(month):
    quarter = Quarter.of(pd.Timestamp(2025, month, 15))
    assert quarter.label == f"2025Q{(month + 2) // 3}"
    assert quarter.start <= pd.Timestamp(2025, month, 15) < quarter.end


def test_a_year_is_a_period_made_of_four_quarters():
    year = parse_period("2025")
    assert year == Year(2025) and parse_period(2025) == year and year.grain == "year"
    assert (year.start, year.end, year.last_day) == (
        pd.Timestamp("2025-01-01"),
        pd.Timestamp("2026-01-01"),
        pd.Timestamp("2025-12-31"),
    )
    assert [q.label for q in year.quarters] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    # a year compares with the year before and the year before that
    assert (year.previous.label, year.year_ago.label) == ("2024", "2023")
    assert list(comparison_periods(year)["quarter"]) == ["2025", "2024", "2023"]
    assert parse_period("2025Q4") == Quarter(2025, 4)
    # the analyst is told both forms a period may take
    expected = (
        "malformed period '25': expected a quarter (YYYYQn, e.g. '2025Q4') "
        "or a year (YYYY, e.g. '2025')"
    )
    with pytest.raises(ParameterError, match=re.escape(expected)):
        parse_period("25")


def test_target_periods_are_years_quarters_or_months():
    assert parse_target_period("2025-10") == Month(2025, 10)
    assert Month(2025, 12).end == pd.Timestamp("2026-01-01") and Month(2025, 2).label == "2025-02"
    assert parse_target_period("2025") == Year(2025)
    assert parse_target_period("2025Q2") == Quarter(2025, 2)
    for bad in ("2025-13", "2025-1", "Oct 2025", ""):
        assert parse_target_period(bad) is None
    assert within(Month(2025, 10), Quarter(2025, 4)) and within(Quarter(2025, 4), Year(2025))
    assert not within(Month(2025, 9), Quarter(2025, 4)) and within(Year(2025), Year(2025))


def test_trends_and_forecasts_around_a_period():
    # a quarter's trend of 4 quarters starts three quarters earlier; a year's covers the year
    assert trend_start(Quarter(2025, 4), 4) == pd.Timestamp("2025-01-01")
    assert trend_start(Year(2025), 2) == pd.Timestamp("2025-01-01")
    assert trend_start(Year(2025), 6) == pd.Timestamp("2024-07-01")
    assert next_quarter(Year(2025)) == Quarter(2026, 1)
    assert next_quarter(Quarter(2025, 3)) == Quarter(2025, 4)
