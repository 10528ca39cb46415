"""Inputs named by URL (shared storage, read by Spark where they lie): found, typed and read
here as the same files named by path are. file:// URLs stand in for s3a:// or hdfs://, which
pyarrow's filesystems take alike; Spark reading them: tests/test_spark.py."""

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from pyarrow import fs

from helpers.core.config import load_config
from helpers.core.errors import InputFileError, ParameterError
from helpers.data import locations
from helpers.data.contract import CONTRACT
from helpers.data.reading import find_input_file, read_table
from helpers.data.staging import typed_sources
from tests.test_inputs import ORDERS

from .conftest import PROJECT


def config_for(data_dir: str, engine: str = "spark", **overrides):
    overrides = {"data_dir": data_dir, "engine": engine, **overrides}
    return load_config(PROJECT / "params", "2025Q1", overrides=overrides)


@pytest.fixture
def inputs(tmp_path) -> Path:
    """Orders in GBK with a header in any case, traffic as Parquet, a folder that is no input."""
    (tmp_path / "Orders.CSV").write_bytes(ORDERS.encode("gbk"))
    pd.DataFrame({"date": [pd.Timestamp("2025-01-05")], "channel": ["Direct"]}).to_parquet(
        tmp_path / "traffic.parquet"
    )
    (tmp_path / "marketing.csv").mkdir()  # a folder, whatever its name
    return tmp_path


def test_a_url_data_dir_is_kept_as_written_and_needs_spark(inputs):
    url = inputs.as_uri()  # file:///tmp/...
    assert config_for(url).data_dir == url  # not resolved against the project, // kept
    assert config_for(str(inputs)).data_dir == inputs
    with pytest.raises(ParameterError, match=r"file:///.* is a URL: .* engine: spark"):
        config_for(url, engine="duckdb")
    with pytest.raises(ParameterError, match="s3a://lake/orders.parquet is a URL"):
        config_for(str(inputs), engine="duckdb", files={"orders": "s3a://lake/orders.parquet"})


def test_inputs_in_a_url_folder_are_found_as_in_a_local_one(inputs):
    url = inputs.as_uri()
    found = {table: find_input_file(config_for(url), table) for table in CONTRACT}
    local = {table: find_input_file(config_for(str(inputs)), table) for table in CONTRACT}
    assert found == {
        table: None if path is None else f"{url}/{path.name}" for table, path in local.items()
    }
    assert found["orders"] == f"{url}/Orders.CSV" and found["marketing"] is None


def test_a_file_named_in_the_params_is_looked_for_in_the_url_folder(inputs):
    url = inputs.as_uri()
    named = config_for(
        url, files={"orders": "Orders.CSV", "traffic": str(inputs / "traffic.parquet")}
    )
    assert find_input_file(named, "orders") == f"{url}/Orders.CSV"
    assert find_input_file(named, "traffic") == inputs / "traffic.parquet"  # an absolute path
    elsewhere = config_for(str(inputs), files={"orders": f"{url}/Orders.CSV"})
    assert find_input_file(elsewhere, "orders") == f"{url}/Orders.CSV"
    with pytest.raises(InputFileError, match=f"orders: file not found: {url}/nope.csv"):
        find_input_file(config_for(url, files={"orders": "nope.csv"}), "orders")
    with pytest.raises(InputFileError, match="orders: cannot look for its file"):
        find_input_file(config_for(f"{url}/no-such-folder"), "orders")


def test_several_candidates_in_a_url_folder_are_an_error(inputs):
    (inputs / "orders.parquet").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"several candidate files \['Orders.CSV', 'orders"):
        find_input_file(config_for(inputs.as_uri()), "orders")


def test_a_file_at_a_url_reads_as_the_same_file_here(inputs):
    url = inputs.as_uri()
    pd.testing.assert_frame_equal(
        read_table(f"{url}/Orders.CSV"), read_table(inputs / "Orders.CSV")
    )
    spec, file = CONTRACT["traffic"], "traffic.parquet"
    typed = typed_sources(f"{url}/{file}", spec, {}, file)
    assert typed == typed_sources(inputs / file, spec, {}, file) and typed is not None
    with pytest.raises(InputFileError, match=f"{url}/Orders.CSV: cannot decode as utf-8"):
        read_table(f"{url}/Orders.CSV", encoding="utf-8")
    assert not list(Path(tempfile.gettempdir()).glob("opsreport-input-*"))  # copies gone


def test_a_url_is_listed_and_read_through_its_own_filesystem(inputs, monkeypatch):
    """What s3a://lakeX/ is to pyarrow: a filesystem whose paths are not this machine's."""
    lake = fs.SubTreeFileSystem(str(inputs), fs.LocalFileSystem())
    monkeypatch.setattr(locations, "_arrow", lambda url: (lake, url.split("lakeX/", 1)[1]))
    assert locations.files_in("s3a://lakeX/") == [
        "s3a://lakeX/Orders.CSV",
        "s3a://lakeX/traffic.parquet",
    ]
    assert locations.is_file("s3a://lakeX/traffic.parquet")
    assert not locations.is_file("s3a://lakeX/marketing.csv")  # a folder
    schema = locations.parquet_schema("s3a://lakeX/traffic.parquet")
    assert schema.names == ["date", "channel"]
    with locations.on_this_machine("s3a://lakeX/Orders.CSV") as copy:
        assert copy.read_bytes() == (inputs / "Orders.CSV").read_bytes()


def test_hadoops_s3_names_are_pyarrows_s3():
    assert locations.arrow_url("s3a://lake/shop/orders.parquet") == "s3://lake/shop/orders.parquet"
    assert locations.arrow_url("S3N://lake/x") == "s3://lake/x"
    assert locations.arrow_url("gs://lake/x") == "gs://lake/x"
    assert locations.arrow_url("file:///data/x") == "file:///data/x"
    assert locations.arrow_url("s3a://lake/odd://name") == "s3://lake/odd://name"


def test_a_files_name_is_the_last_part_of_its_path_or_url():
    assert locations.name_of("s3a://lake/shop/orders.parquet") == "orders.parquet"
    assert locations.name_of(Path("/data/Orders.CSV")) == "Orders.CSV"
    assert locations.suffix_of("s3a://lake/shop/Orders.CSV") == ".csv"
    assert locations.suffix_of(Path("/data/orders")) == ""
    assert locations.joined("s3a://lakeX/", "orders.csv") == "s3a://lakeX/orders.csv"
    assert locations.joined(Path("/data"), "orders.csv") == Path("/data/orders.csv")
