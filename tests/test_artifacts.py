"""Customer-level artifacts: whole files for a table a spreadsheet opens, numbered parts of
at most exports.PART_ROWS rows beyond, read back whole either way, whichever engine wrote
them (Spark's own parts: tests/test_spark.py)."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import csv

from helpers.core.config import load_config
from helpers.core.errors import ReportError
from helpers.data import exports
from helpers.data.engines import DuckDBEngine
from helpers.run import notebook
from helpers.run.build_folder import artifact_written

from .conftest import PROJECT


def context(build_dir):
    config = load_config(PROJECT / "params", "2025Q4")
    return notebook.SectionContext("clv", config, pd.DataFrame(), None, build_dir)


def test_a_large_artifact_is_written_in_parts_a_spreadsheet_opens(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "PART_ROWS", 3)
    customers = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(7)], "clv": [float(i) for i in range(7)]}
    ).assign(note=["=HYPERLINK(1)"] + ["ok"] * 6)
    ctx = context(tmp_path / "build")  # its artifacts folder, and the build folder, made
    left = tmp_path / "build" / "artifacts" / ".clv_customers.partial"
    left.mkdir(parents=True)
    (left / "clv_customers-0009.csv").touch()  # what an interrupted run left: not kept
    ctx.save_artifact("clv_customers", customers.set_axis(list(range(10, 17))))  # no index
    tmp_path = tmp_path / "build"
    folder = tmp_path / "artifacts" / "clv_customers"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"clv_customers-{n:04d}.{ext}" for n in (1, 2, 3) for ext in ("csv", "parquet")
    ]
    csv_parts = [pd.read_csv(folder / f"clv_customers-{n:04d}.csv") for n in (1, 2, 3)]
    assert [len(part) for part in csv_parts] == [3, 3, 1]
    assert csv_parts[0]["note"].tolist() == ["'=HYPERLINK(1)", "ok", "ok"]  # spreadsheet-safe
    assert csv_parts[0].columns.tolist() == ["customer_id", "clv", "note"]  # no index
    pd.testing.assert_frame_equal(ctx.read_artifact("clv_customers"), customers)
    assert artifact_written(tmp_path, "clv_customers")  # a section waiting on it may start
    assert not list((tmp_path / "artifacts").glob(".*"))  # no partial folder left

    ctx.save_artifact("clv_by_channel", customers.head(3))
    assert (tmp_path / "artifacts" / "clv_by_channel.parquet").is_file()
    assert (tmp_path / "artifacts" / "clv_by_channel.csv").is_file()
    pd.testing.assert_frame_equal(ctx.read_artifact("clv_by_channel"), customers.head(3))
    assert ctx.read_artifact("customer_segments") is None
    assert artifact_written(tmp_path, "clv_by_channel")
    assert not artifact_written(tmp_path, "customer_segments")
    assert context(None).read_artifact("clv_customers") is None


def test_an_artifact_coming_in_parts_of_any_size_is_written_whole_or_in_parts(
    tmp_path, monkeypatch
):
    """What an engine's rows come as: Arrow tables of its batch size."""
    monkeypatch.setattr(exports, "PART_ROWS", 4)
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)], "clv": range(10)})
    table = pa.Table.from_pandas(customers, preserve_index=False)
    exports.write_tables((table.slice(i, 3) for i in range(0, 10, 3)), tmp_path, "clv_customers")
    folder = tmp_path / "clv_customers"
    parts = [pd.read_parquet(folder / f"clv_customers-{n:04d}.parquet") for n in (1, 2, 3)]
    assert [len(part) for part in parts] == [4, 4, 2]
    pd.testing.assert_frame_equal(exports.read(tmp_path, "clv_customers"), customers)

    deeper = tmp_path / "made" / "here"  # with the folders above it
    exports.write_tables(iter([table.slice(0, 2), table.slice(2, 2)]), deeper, "few")
    pd.testing.assert_frame_equal(exports.read(deeper, "few"), customers.head(4))
    exports.write_tables([table.slice(0, 0)], tmp_path, "none")  # the columns, no rows
    assert exports.read(tmp_path, "none").columns.tolist() == ["customer_id", "clv"]
    ctx = context(tmp_path)
    ctx.save_artifact("empty_frame", customers.head(0))
    assert len(ctx.read_artifact("empty_frame")) == 0


SHUFFLED = [f"C{i:02d}" for i in (7, 3, 11, 0, 9, 1, 10, 5, 2, 8, 4, 6)]


def customers_engine() -> DuckDBEngine:
    """12 customers stored out of order, one with an id a spreadsheet would run."""
    ids = ["=cmd|' /C calc'!A0" if c == "C05" else c for c in SHUFFLED]
    return DuckDBEngine({"scores": pd.DataFrame({"customer_id": ids, "clv": range(12)})})


def test_a_customer_table_comes_from_its_engine_in_customer_order_and_in_parts(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(exports, "PART_ROWS", 5)
    monkeypatch.setattr(exports, "FETCH_ROWS", 2)  # fetched 2 at a time, written 5 a part
    engine = customers_engine()
    ctx = context(tmp_path)
    ctx.save_artifact("crm", exports.CustomerExport(engine, "scores", "*, clv * ? AS twice", [2]))
    folder = tmp_path / "artifacts" / "crm"
    got = ctx.read_artifact("crm")
    expected = engine.sql("SELECT *, clv * 2 AS twice FROM scores ORDER BY customer_id")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    csv_parts = [pd.read_csv(folder / f"crm-{n:04d}.csv") for n in (1, 2, 3)]
    assert [len(part) for part in csv_parts] == [5, 5, 2]
    assert csv_parts[0]["customer_id"].iloc[0] == "'=cmd|' /C calc'!A0"


class PartWritingEngine(DuckDBEngine):
    """DuckDB standing in for an engine that writes its own parts (Spark's are tested in
    test_spark): Parquet and CSV parts of at most `rows` rows, named as Spark names them."""

    writes_parts = True

    def write_parts(self, query, params, order, folder, rows):
        self.asked = (query, params, order, rows)
        table = self.con.sql(f"{query} ORDER BY {order}", params=params).to_arrow_table()
        for kind in ("parquet", "csv"):
            (folder / kind).mkdir(parents=True)
            for start in range(0, table.num_rows, rows):
                part = folder / kind / f"part-{start:05d}-c000.{kind}"
                chunk = table.slice(start, rows)
                if kind == "parquet":
                    pq.write_table(chunk, part)
                else:
                    csv.write_csv(exports.spreadsheet_safe(chunk), part)
            (folder / kind / "_SUCCESS").touch()


def test_an_engine_that_writes_parts_writes_a_large_customer_table_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "PART_ROWS", 5)
    engine = PartWritingEngine({"scores": customers_engine().sql("SELECT * FROM scores")})
    tmp_path = tmp_path / "made" / "here"  # made, with the folders above it
    exports.CustomerExport(engine, "scores", "customer_id, clv").write(tmp_path, "crm")
    assert engine.asked == ("SELECT customer_id, clv FROM scores", [], "customer_id", 5)
    assert sorted(p.name for p in (tmp_path / "crm").iterdir()) == [
        f"crm-{n:04d}.{ext}" for n in (1, 2, 3) for ext in ("csv", "parquet")
    ]
    expected = engine.sql("SELECT * FROM scores ORDER BY customer_id")
    pd.testing.assert_frame_equal(exports.read(tmp_path, "crm"), expected)
    assert not list(tmp_path.glob(".*"))  # no partial folder left
    (tmp_path / ".again.partial" / "engine").mkdir(parents=True)  # an interrupted run's
    exports.CustomerExport(engine, "scores").write(tmp_path, "again")
    assert not list(tmp_path.glob(".*"))  # replaced, then renamed into place

    monkeypatch.setattr(exports, "PART_ROWS", 12)  # all fit one file: through this machine
    engine.asked = None
    exports.CustomerExport(engine, "scores").write(tmp_path, "small")
    assert engine.asked is None and (tmp_path / "small.parquet").is_file()


def test_parts_that_do_not_pair_up_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "PART_ROWS", 5)
    engine = PartWritingEngine({"scores": customers_engine().sql("SELECT * FROM scores")})
    written = engine.write_parts
    engine.write_parts = lambda query, params, order, folder, rows: (
        written(query, params, order, folder, rows),
        (folder / "csv" / "part-00000-c000.csv").unlink(),
    )
    with pytest.raises(ReportError, match="3 Parquet and 2 CSV parts; they must pair up"):
        exports.CustomerExport(engine, "scores").write(tmp_path, "crm")
