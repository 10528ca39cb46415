import pandas as pd
import pytest

from helpers.core.errors import ParameterError
from helpers.core.periods import Quarter, comparison_periods


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
