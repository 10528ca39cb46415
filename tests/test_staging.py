"""Typed Parquet inputs are checked by SQL where they lie (helpers.data.staging), never read
into pandas: the same clean tables, exclusions and violations, word for word, as the pandas
checks give for the same files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.core.config import load_config
from helpers.core.errors import DataContractError, InputFileError
from helpers.data import inputs
from helpers.data.contract import CONTRACT
from helpers.data.inputs import data_quality, prepare_inputs
from helpers.data.staging import MEMORY_VARIABLE, Staging, open_staging, typed_sources

from .conftest import PROJECT


def prepare(folder, quarter="2025Q1", pandas=False, monkeypatch=None, **overrides):
    """prepare_inputs on `folder`; with pandas=True every input goes through pandas."""
    if pandas:
        monkeypatch.setattr(inputs, "typed_sources", lambda *args: None)
    try:
        config = load_config(
            PROJECT / "params", quarter, overrides={"data_dir": str(folder), **overrides}
        )
        return prepare_inputs(config)
    finally:
        if pandas:
            monkeypatch.undo()


def both_ways(folder, monkeypatch, quarter="2025Q1"):
    """The violations of the SQL checks and of the pandas checks, as worded."""
    found = []
    for pandas in (False, True):
        with pytest.raises(DataContractError) as caught:
            prepare(folder, quarter, pandas=pandas, monkeypatch=monkeypatch)
        found.append([str(v) for v in caught.value.violations])
    return found


def test_the_sample_is_cleaned_alike_by_sql_and_by_pandas(small_data, monkeypatch):
    for name in ("orders", "order_items", "traffic", "marketing"):  # all typed Parquet
        path = small_data / f"{name}.parquet"
        assert typed_sources(path, CONTRACT[name], {}, path.name) is not None
    read, read_table = [], inputs.read_table
    monkeypatch.setattr(
        inputs, "read_table", lambda path, *a: read.append(path.name) or read_table(path, *a)
    )
    by_sql = prepare(small_data, "2025Q4")
    monkeypatch.undo()
    assert read == ["targets.csv"]  # the Parquet tables were never read into pandas
    by_pandas = prepare(small_data, "2025Q4", pandas=True, monkeypatch=monkeypatch)
    assert by_sql.exclusions == by_pandas.exclusions and by_sql.exclusions
    quarter = load_config(PROJECT / "params", "2025Q4").period
    assert data_quality(by_sql, quarter) == data_quality(by_pandas, quarter)
    for name, frame in by_pandas.tables.items():
        pd.testing.assert_frame_equal(by_sql.tables[name], frame, check_dtype=False)


ORDERS = pd.DataFrame(
    {
        "Order_ID": ["O1", "O2", "O2", "O4", "O5", "O6", "O7"],
        "customer_id": ["C1", "  ", None, "\u3000C4\u3000", "C5", "C6", "C7"],
        "order_ts": pd.to_datetime(
            ["2025-01-05 10:00", "2025-01-06 00:00", None, "2025-02-01 00:00", "2099-01-01 00:00"]
            + ["2025-03-01 00:00", "2025-03-02 00:00"]
        ),
        "revenue": [100.0, np.nan, 50.0, -5.0, 20.0, 30.0, 2e12],
        "cost": [10.0, np.inf, 5.0, 1.0, 2.0, 3.0, 4.0],
        "refund": [0.0, 0.0, np.nan, 0.0, 0.0, 0.0, 0.0],
        "status": ["completed"] * 7,
        "unused": list("abcdefg"),
    }
)


def test_every_check_on_a_typed_file_words_what_pandas_words(tmp_path, monkeypatch):
    ORDERS.to_parquet(tmp_path / "orders.parquet")
    traffic = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-05", "2025-01-05", "2025-01-06", "2025-01-07"]),
            "channel": ["Direct", "Direct", "Paid search", " \u3000"],
            "device": [None, None, "mobile", "mobile"],
            "sessions": pd.array([10, 10, 5, 1], dtype="int64"),
            "users": pd.array([8, 8, 4, 1], dtype="int64"),
            "engaged_sessions": pd.array([3, 3, 6, 0], dtype="int64"),
        }
    )
    traffic.to_parquet(tmp_path / "traffic.parquet")
    by_sql, by_pandas = both_ways(tmp_path, monkeypatch)
    assert by_sql == by_pandas
    assert (
        "orders.parquet [customer_id]: orders with no customer (2 rows) e.g. row 2: "
        in "\n".join(by_sql)
    )
    assert any(v.startswith("traffic.parquet [date+channel+device]: duplicate") for v in by_sql)
    blank = repr(" \u3000")  # what str() of a violation shows: the repr of the cell
    assert f"traffic.parquet [channel]: missing value (1 rows) e.g. row 4: channel={blank}" in (
        by_sql
    )
    assert len(by_sql) == 11  # every rule broken above, each once


def test_an_empty_typed_file_and_one_missing_a_column(tmp_path, monkeypatch):
    ORDERS.iloc[:0].to_parquet(tmp_path / "orders.parquet")
    assert (
        both_ways(tmp_path, monkeypatch)
        == [["orders.parquet [-]: the file has a header but no rows (0 rows)"]] * 2
    )
    ORDERS.drop(columns="revenue").to_parquet(tmp_path / "orders.parquet")
    by_sql, by_pandas = both_ways(tmp_path, monkeypatch)
    assert by_sql == by_pandas and by_sql[0].startswith(
        "orders.parquet [revenue]: missing required column (found: order_id, customer_id"
    )


def test_order_lines_and_quarters_are_checked_across_typed_files(tmp_path, monkeypatch):
    valid = ORDERS.iloc[[0, 5]]
    valid.to_parquet(tmp_path / "orders.parquet")
    items = pd.DataFrame(
        {"order_id": ["O1", "O9"], "sku": ["S1", "S2"], "quantity": [1, 2]}
        | {"unit_price": [10.0, 20.0]}
    )
    items.to_parquet(tmp_path / "order_items.parquet")
    by_sql, by_pandas = both_ways(tmp_path, monkeypatch)
    assert (
        by_sql
        == by_pandas
        == [
            "order_items.parquet [order_id]: order line with no matching order (1 rows) e.g. "
            "row 2: order_id='O9'"
        ]
    )
    items.iloc[:1].to_parquet(tmp_path / "order_items.parquet")

    def checked_with_traffic_on(day, quarter):
        traffic = {"date": pd.to_datetime([day]), "channel": ["ads"], "sessions": [9.0]}
        pd.DataFrame(traffic | {"users": [5.0]}).to_parquet(tmp_path / "traffic.parquet")
        by_sql, by_pandas = both_ways(tmp_path, monkeypatch, quarter=quarter)
        assert by_sql == by_pandas
        return by_sql

    # each dated table is checked, after order lines (no date) and after orders with data
    assert checked_with_traffic_on("2025-02-01", "2026Q1") == [
        "orders.parquet [order_ts]: no data in 2026Q1 (file covers 2025-01-05 to 2025-03-01) "
        "(0 rows)",
        "traffic.parquet [date]: no data in 2026Q1 (file covers 2025-02-01 to 2025-02-01) (0 rows)",
    ]
    assert checked_with_traffic_on("2025-06-01", "2025Q1") == [
        "traffic.parquet [date]: no data in 2025Q1 (file covers 2025-06-01 to 2025-06-01) (0 rows)"
    ]


def test_only_files_of_the_contract_types_are_checked_by_sql(tmp_path):
    spec = CONTRACT["orders"]
    ORDERS.to_parquet(tmp_path / "typed.parquet")
    sources, names = typed_sources(tmp_path / "typed.parquet", spec, {}, "typed.parquet")
    assert sources["order_id"] == '"Order_ID"' and "unused" not in sources
    assert names[:2] == ["order_id", "customer_id"] and "unused" in names
    as_text = ORDERS.assign(order_ts=ORDERS["order_ts"].astype(str))
    as_text.to_parquet(tmp_path / "text_dates.parquet")
    assert typed_sources(tmp_path / "text_dates.parquet", spec, {}, "text_dates.parquet") is None
    zoned = ORDERS.assign(order_ts=ORDERS["order_ts"].dt.tz_localize("Asia/Shanghai"))
    zoned.to_parquet(tmp_path / "zoned.parquet")
    assert typed_sources(tmp_path / "zoned.parquet", spec, {}, "zoned.parquet") is None
    ORDERS.to_csv(tmp_path / "orders.csv")
    assert typed_sources(tmp_path / "orders.csv", spec, {}, "orders.csv") is None


def test_zoned_and_typed_times_keep_their_wall_clock_whatever_the_date_format(tmp_path):
    """A time zone is dropped, not converted (10:00 in Shanghai stays 10:00); a column that is
    already a time is used as it is, even where date_format is set for text files. Times and
    dates come out in microseconds, the engine's own, whatever the file held."""
    valid = ORDERS.iloc[[0, 5]].assign(customer_id=["C1", "C6"])
    wall_clock = valid["order_ts"].tolist()
    in_nanoseconds = valid["order_ts"].astype("datetime64[ns]")
    zoned = valid.assign(order_ts=in_nanoseconds.dt.tz_localize("Asia/Shanghai"))
    zoned.to_parquet(tmp_path / "orders.parquet")
    days = pd.to_datetime(["2025-01-05", "2025-01-06"]).astype("datetime64[ns]")
    traffic = pd.DataFrame(
        {"date": days.tz_localize("Asia/Shanghai"), "channel": ["Direct", "Email"]}
        | {"sessions": [10, 5], "users": [8, 4], "engaged_sessions": [3, 2]}
    )
    traffic.to_parquet(tmp_path / "traffic.parquet")
    for date_format in ({}, {"orders": "%d/%m/%Y %H:%M", "traffic": "%d/%m/%Y"}):
        tables = prepare(tmp_path, date_format=date_format).tables
        assert tables["orders"]["order_ts"].tolist() == wall_clock
        assert tables["traffic"]["date"].tolist() == list(days)
        assert tables["orders"]["order_ts"].dtype == tables["traffic"]["date"].dtype == "M8[us]"
    assert sorted(tables) == ["orders", "traffic"]
    with pytest.raises(KeyError, match="marketing"):  # no file, no table
        tables["marketing"]


def test_staging_holds_2_gb_unless_told_and_spills_to_a_folder_named_for_it(monkeypatch):
    settings = "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    monkeypatch.delenv(MEMORY_VARIABLE, raising=False)
    staging = Staging()
    limit, folder = staging.con.execute(settings).fetchone()
    assert limit == "1.8 GiB" and Path(folder).name.startswith("opsreport-staging-")
    staging.close()
    monkeypatch.setenv(MEMORY_VARIABLE, "1GiB")
    staging = Staging()
    assert staging.con.execute(settings).fetchone()[0] == "1.0 GiB"
    staging.close()


def test_a_mapped_column_a_typed_file_lacks_names_the_file(small_data):
    with pytest.raises(InputFileError, match=r"^orders\.parquet: columns \['nope'\] named in"):
        prepare(small_data, columns={"orders": {"nope": "order_id"}})


def test_targets_and_unreadable_files_are_not_read_by_sql(tmp_path):
    """Targets always go through pandas (their periods are text to parse); a file Arrow cannot
    read is an input error naming the file."""
    pd.DataFrame({"period": ["2025Q1"], "metric": ["orders"], "target": [1.0]}).to_parquet(
        tmp_path / "targets.parquet"
    )
    targets = CONTRACT["targets"]
    assert typed_sources(tmp_path / "targets.parquet", targets, {}, "targets.parquet") is None
    with pytest.raises(InputFileError, match=r"^o\.parquet: .*'nope'"):  # names the file
        typed_sources(
            tmp_path / "targets.parquet", CONTRACT["orders"], {"nope": "order_id"}, "o.parquet"
        )
    broken = tmp_path / "orders.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InputFileError, match=r"orders\.parquet: cannot read: "):
        typed_sources(broken, CONTRACT["orders"], {}, "orders.parquet")


def test_decimal_amounts_are_read_as_numbers(tmp_path, monkeypatch):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    valid = ORDERS.iloc[[0, 5]].drop(columns="Order_ID").assign(order_id=["O1", "O6"])
    table = pa.Table.from_pandas(valid, preserve_index=False)
    amounts = pa.array([decimal.Decimal("100.25"), decimal.Decimal("30.50")], pa.decimal128(9, 2))
    table = table.set_column(table.schema.get_field_index("revenue"), "revenue", amounts)
    pq.write_table(table, tmp_path / "orders.parquet")
    assert typed_sources(tmp_path / "orders.parquet", CONTRACT["orders"], {}, "o") is not None
    by_sql = prepare(tmp_path).tables["orders"]
    by_pandas = prepare(tmp_path, pandas=True, monkeypatch=monkeypatch).tables["orders"]
    assert by_sql["revenue"].tolist() == by_pandas["revenue"].tolist() == [100.25, 30.5]
    assert by_sql["net_revenue"].dtype.kind == "f"


def test_staging_holds_its_memory_limit_and_removes_its_spill_folder(monkeypatch):
    from pathlib import Path

    from helpers.data.staging import MEMORY_VARIABLE, Staging

    def setting(staging, name):
        return staging.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]

    def limit(staging):
        value, unit = setting(staging, "memory_limit").split()
        return float(value) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]

    staging = Staging("64MB")
    spill = Path(setting(staging, "temp_directory"))
    assert limit(staging) == pytest.approx(64e6, rel=0.01) and spill.is_dir()
    staging.close()
    assert not spill.exists()
    monkeypatch.setenv(MEMORY_VARIABLE, "128MB")
    assert limit(Staging()) == pytest.approx(128e6, rel=0.01)
    monkeypatch.delenv(MEMORY_VARIABLE)
    assert limit(Staging()) == pytest.approx(2e9, rel=0.05)  # shown as 1.8 GiB


def test_inputs_beyond_the_staging_memory_say_how_to_give_it_more(small_data, monkeypatch):
    from helpers.core.errors import InputFileError
    from helpers.data.staging import MEMORY_VARIABLE

    monkeypatch.setenv(MEMORY_VARIABLE, "1MB")
    with pytest.raises(InputFileError) as caught:
        prepare(small_data, "2025Q4")
    message = str(caught.value)
    assert message.startswith("checking the inputs needs more than the 976.5 KiB it may use")
    assert f"set {MEMORY_VARIABLE}=8GB (or more)" in message and "\n" not in message


def test_quotes_in_a_folder_name_and_a_column_name_are_read_as_written(tmp_path):
    """A folder named it's o'clock (a quote would end an SQL string) and a column named
    Order "ID" mapped onto order_id (a double quote would end an SQL name)."""
    folder = tmp_path / "it's o'clock"
    folder.mkdir()
    ORDERS.iloc[[0, 5]].rename(columns={"Order_ID": 'Order "ID"'}).to_parquet(
        folder / "orders.parquet"
    )
    mapping = {'Order "ID"': "order_id"}
    sources, _ = typed_sources(folder / "orders.parquet", CONTRACT["orders"], mapping, "o")
    assert sources["order_id"] == '"Order ""ID"""'
    bundle = prepare(folder, columns={"orders": mapping})
    assert bundle.tables["orders"]["order_id"].tolist() == ["O1", "O6"]


def test_a_valid_typed_file_is_cleaned_as_pandas_cleans_it(tmp_path, monkeypatch):
    """Ids and text padded with spaces (the ideographic one too) or blank, NaN amounts, a
    member flag missing, traffic dates with a time of day: the same clean tables both ways,
    written with microsecond timestamps (what Spark reads). An order at midnight after the
    run date is in the future; one at the last minute of the run date is not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from helpers.data.inputs import write_clean_inputs

    today = pd.Timestamp.now().normalize()
    orders = pd.DataFrame(
        {
            "order_id": ["O1 ", "\u3000O2", "O3"],
            "customer_id": ["C1", " C2 ", "C3"],
            "order_ts": [pd.Timestamp("2025-01-05 10:00"), today + pd.Timedelta("23:59:00"), today],
            "revenue": [100.0, 50.0, 20.0],
            "cost": [10.0, np.nan, 5.0],
            "channel": [" Direct", "", None],
            "is_member": pd.array([True, None, False], dtype="boolean"),
        }
    )
    written_by_arrow = pa.Table.from_pandas(orders, preserve_index=False)
    cost = written_by_arrow.schema.get_field_index("cost")  # a real NaN, as Spark writes one
    written_by_arrow = written_by_arrow.set_column(
        cost, "cost", pa.array(orders["cost"].to_numpy())
    )
    assert written_by_arrow.column("cost").null_count == 0
    pq.write_table(written_by_arrow, tmp_path / "orders.parquet")
    traffic = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-05 13:30", "2025-01-06 00:00"]),
            "channel": ["Direct ", "Paid search"],
            "sessions": [10, 5],
            "users": [8, 4],
        }
    )
    traffic.to_parquet(tmp_path / "traffic.parquet")
    by_sql = prepare(tmp_path)
    by_pandas = prepare(tmp_path, pandas=True, monkeypatch=monkeypatch)
    for name in ("orders", "traffic"):
        pd.testing.assert_frame_equal(
            by_sql.tables[name], by_pandas.tables[name], check_dtype=False
        )
    clean = by_sql.tables["orders"]
    assert clean["order_id"].tolist() == ["O1", "O2", "O3"]
    assert clean["channel"].isna().tolist() == [False, True, True]
    assert by_sql.tables["traffic"]["date"].tolist() == list(
        pd.to_datetime(["2025-01-05", "2025-01-06"])
    )
    written = write_clean_inputs(by_sql, tmp_path / "clean")
    # a NaN cost is written as missing, not as NaN (which Spark and DuckDB would add up to NaN)
    assert pq.read_table(written["orders"]).column("cost").null_count == 1
    assert pq.read_schema(written["orders"]).field("order_ts").type == pa.timestamp("us")
    assert pq.read_schema(written["traffic"]).field("date").type == pa.timestamp("us")

    tomorrow = today + pd.Timedelta(days=1)
    orders.assign(order_ts=[orders["order_ts"][0], tomorrow, today]).to_parquet(
        tmp_path / "orders.parquet"
    )
    traffic.assign(date=[traffic["date"][0], tomorrow]).to_parquet(tmp_path / "traffic.parquet")
    by_sql, by_pandas = both_ways(tmp_path, monkeypatch)
    run_date = f"date after the run date {today:%Y-%m-%d} (1 rows) e.g. row 2:"
    assert by_sql == by_pandas
    assert by_sql == [
        f"orders.parquet [order_ts]: {run_date} order_ts={tomorrow}",
        f"traffic.parquet [date]: {run_date} date={tomorrow}",
    ]


def test_inputs_that_break_the_contract_leave_no_spill_folder_behind(tmp_path, monkeypatch):
    from pathlib import Path

    from helpers.data.staging import Staging

    made = []

    class Recorded(Staging):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(Path(self.spill.name))

    monkeypatch.setattr(inputs, "open_staging", lambda config: Recorded())
    ORDERS.to_parquet(tmp_path / "orders.parquet")
    with pytest.raises(DataContractError):
        prepare(tmp_path)
    assert len(made) == 1 and not made[0].exists()


def test_a_real_nan_in_a_typed_file_is_a_missing_value_on_both_paths(tmp_path, monkeypatch):
    """Parquet written by Arrow or Spark can hold NaN, which its statistics leave out: the SQL
    checks must still see it (DuckDB's statistics propagation once folded isnan() to false)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3"],
            "customer_id": ["C1", "C2", "C3"],
            "order_ts": pd.to_datetime(["2025-01-05", "2025-01-06", "2025-01-07"]),
            "revenue": [100.0, np.nan, 20.0],
        }
    )
    table = pa.Table.from_pandas(orders, preserve_index=False)
    revenue = table.schema.get_field_index("revenue")
    table = table.set_column(revenue, "revenue", pa.array(orders["revenue"].to_numpy()))
    pq.write_table(table, tmp_path / "orders.parquet")
    by_sql, by_pandas = both_ways(tmp_path, monkeypatch)
    assert by_sql == by_pandas
    missing = "orders.parquet [revenue]: missing value (1 rows) e.g. row 2: revenue=nan"
    assert by_sql == [missing]


def test_the_inputs_are_checked_in_the_engine_the_parameters_name(monkeypatch):
    from helpers.data import spark

    monkeypatch.setattr(spark, "SparkStaging", lambda params: ("checked by Spark", params))
    overrides = {"engine": "spark", "spark": {"master": "local[3]"}}
    on_spark = load_config(PROJECT / "params", "2025Q1", overrides=overrides)
    assert open_staging(on_spark) == ("checked by Spark", on_spark.spark)
    on_duckdb = open_staging(load_config(PROJECT / "params", "2025Q1"))
    assert type(on_duckdb) is Staging
    on_duckdb.close()
