from pathlib import Path

import pytest

from helpers.core.config import load_config
from helpers.core.errors import ParameterError
from helpers.core.periods import Quarter, Year

from .conftest import PROJECT

PARAMS = PROJECT / "params"


def test_defaults_and_quarter_file_layering():
    config = load_config(PARAMS)
    assert config.quarter == "2025Q4"
    assert config.report_title.startswith("Quarterly and year-end")  # from params/2025Q4.yaml
    assert config.data_dir == PROJECT / "data" / "sample"
    other = load_config(PARAMS, period="2025Q3")
    assert other.quarter == "2025Q3"
    assert other.report_title is None  # the locale's own title


def test_extra_file_and_overrides_win(params_for):
    extra = params_for(shop_name="Brand B", traffic={"trend_quarters": 2})
    config = load_config(PARAMS, "2025Q3", [extra], overrides={"significance_level": 0.01})
    assert config.shop_name == "Brand B"
    assert config.traffic.trend_quarters == 2
    assert config.traffic.min_sessions_for_test == 1000  # nested defaults survive the merge
    assert config.significance_level == 0.01


def test_unknown_parameter_names_suggest_the_right_one(params_for):
    extra = params_for(signifcance_level=0.01)
    with pytest.raises(
        ParameterError,
        match=r"unknown parameter 'signifcance_level' "
        r"\(did you mean 'significance_level'\?\)",
    ):
        load_config(PARAMS, extra_files=[extra])
    nested = params_for(traffic={"trend_quarter": 3})
    with pytest.raises(ParameterError, match=r"'traffic.trend_quarter'.*'traffic.trend_quarters'"):
        load_config(PARAMS, extra_files=[nested])


def test_malformed_quarter_in_a_file_or_argument(params_for):
    with pytest.raises(ParameterError, match="malformed quarter '2024Q5'"):
        load_config(PARAMS, period="2024Q5")
    with pytest.raises(ParameterError, match="malformed quarter '2024Q5'"):
        load_config(PARAMS, extra_files=[params_for(quarter="2024Q5")])


def test_bad_values_are_reported_with_their_name(params_for):
    with pytest.raises(ParameterError, match="significance_level"):
        load_config(PARAMS, extra_files=[params_for(significance_level=2)])
    with pytest.raises(ParameterError, match=r"unknown section\(s\) \['trafic'\]"):
        load_config(PARAMS, extra_files=[params_for(sections=["trafic"])])
    with pytest.raises(ParameterError, match="parameter file not found"):
        load_config(PARAMS, extra_files=[Path("no_such.yaml")])


def test_a_year_is_reported_when_asked_for_or_set_in_a_file(params_for, tmp_path):
    year = load_config(PARAMS, period="2025")
    assert year.period == Year(2025) and year.year == 2025
    assert year.report_title is None  # params/2025Q4.yaml is a quarter's, not the year's
    in_file = params_for(year=2024)
    assert load_config(PARAMS, extra_files=[in_file]).period == Year(2024)
    # an explicit quarter wins over a year in a file
    assert load_config(PARAMS, "2025Q3", [in_file]).period == Quarter(2025, 3)
    with pytest.raises(ParameterError, match="malformed period .25.: expected a quarter"):
        load_config(PARAMS, extra_files=[params_for(year=25)])


def test_a_year_file_layers_over_the_defaults(tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    (params / "default.yaml").write_text((PARAMS / "default.yaml").read_text())
    (params / "2025.yaml").write_text("shop_name: Year shop\n")
    (tmp_path / "data" / "sample").mkdir(parents=True)
    assert load_config(params, "2025").shop_name == "Year shop"
    assert load_config(params, "2025Q4").shop_name == "Sample shop"


def test_the_engine_is_duckdb_unless_spark_is_asked_for(params_for):
    assert load_config(PARAMS).engine == "duckdb"
    spark = load_config(
        PARAMS, extra_files=[params_for(engine="spark", spark={"conf": {"a": "1"}})]
    )
    assert (spark.engine, spark.spark.master, spark.spark.conf) == ("spark", "local[*]", {"a": "1"})
    with pytest.raises(ParameterError, match="engine"):
        load_config(PARAMS, extra_files=[params_for(engine="postgres")])
    with pytest.raises(ParameterError, match="spark.remote"):
        load_config(PARAMS, extra_files=[params_for(spark={"remote": "http://host:15002"})])
