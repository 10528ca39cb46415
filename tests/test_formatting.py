import math

import pytest

from helpers.render.formats import compact, fmt_change, fmt_value
from helpers.sections.kpis import change, is_material, kpi_record


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1234.5, "currency", "¥1,234.50"),
        (2_345_678, "currency", "¥2.35M"),
        (-15_000, "currency", "-¥15.0K"),
        (987, "count", "987"),
        (80_712, "count", "80.7K"),
        (0.0196, "rate", "1.96%"),
        (0.54, "rate", "54.0%"),
        (105, "seconds", "1m 45s"),
        (42, "seconds", "42s"),
        (0.0004, "pvalue", "< 0.001"),
        (0.0123, "pp", "+1.2 pp"),
        (None, "count", "—"),
        (math.nan, "rate", "—"),
    ],
)
def test_fmt_value(value, unit, expected):
    assert fmt_value(value, unit) == expected


def test_changes_are_pp_for_rates_and_relative_otherwise():
    assert change(0.03, 0.02, "rate") == pytest.approx(0.01)
    assert change(150, 100, "count") == pytest.approx(0.5)
    assert change(5, 0, "count") is None
    assert fmt_change(0.01, "rate") == "+1.00 pp"
    assert fmt_change(-0.053, "currency") == "-5.3%"
    assert compact(1_500_000_000) == "1.50B"


def test_materiality_thresholds():
    assert is_material(0.12, "count", 10, 0.5)
    assert not is_material(0.08, "count", 10, 0.5)
    assert is_material(-0.006, "rate", 10, 0.5)
    assert not is_material(0.004, "rate", 10, 0.5)
    assert not is_material(None, "count", 10, 0.5)


def test_kpi_record_with_target():
    record = kpi_record(
        "Net revenue",
        "currency",
        {"current": 120.0, "previous": 100.0, "year_ago": 80.0},
        target=150,
    )
    assert record["qoq"] == pytest.approx(0.2)
    assert record["yoy"] == pytest.approx(0.5)
    assert record["attainment"] == pytest.approx(0.8)
