"""Apache Spark as the query engine (`engine: spark`): the same queries, translated.

Queries are written in DuckDB's SQL; sqlglot translates each to Spark SQL once (cached), and
`SparkDialect` covers the few DuckDB functions sqlglot leaves as they are. Tables are temporary
views over the clean Parquet files (or over pandas tables handed in); results come back
through Arrow and are given DuckDB's column types, so a section cannot tell the engines apart.
The input checks run here too (`SparkStaging`: staging's SQL over the input files as Spark
reads them), and Spark writes the clean tables the sections read.

A batch runs one Spark Connect server (`connect_server`) that every section's kernel connects
to, so the JVM starts once and stays warm; a notebook opened on its own starts Spark in its
own process instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyspark
import sqlglot
from pyspark.sql import DataFrame, SparkSession, functions
from pyspark.sql.types import (
    ByteType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    TimestampNTZType,
    TimestampType,
)
from sqlglot import exp
from sqlglot.dialects.spark import Spark

from helpers.core.config import SparkParams
from helpers.core.errors import ReportError
from helpers.data.engines import DataEngine, Tables, left_out, rechunked
from helpers.data.exports import FORMULA_START
from helpers.data.locations import Location
from helpers.data.staging import Staging

# Spark settings the report relies on; params' spark.conf may add to them or override the rest
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",  # timestamps are naive shop-local times: never shifted
    "spark.sql.ansi.enabled": "false",  # DuckDB's x / 0 is NULL, not an error
}
# CSV as pyarrow writes it (exports): quotes doubled, not backslash-escaped; cells kept
# as they are (Spark trims their spaces when writing by default); timestamps to the microsecond
CSV_WRITING = {
    "header": "true",
    "escape": '"',
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "timestampNTZFormat": "yyyy-MM-dd HH:mm:ss.SSSSSS",
}
REMOTE_VARIABLE = "OPSREPORT_SPARK_REMOTE"  # sc://host:port of the batch's Connect server
CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
SERVER_START_SECONDS = 180
QUIET_CONF = {"spark.ui.showConsoleProgress": "false", "spark.ui.enabled": "false"}
# where Spark would keep saved tables (the report saves none): in the temporary folder, not a
# spark-warehouse folder left in whatever folder the batch or notebook runs from
WAREHOUSE_CONF = {"spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "opsreport-spark")}

# pyspark 4.3 warns when used that it does not support pandas 3 in full: tables cross between
# pandas and Spark as Arrow only, and tests/test_spark.py compares every result with DuckDB's
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)


def spark_settings(params: SparkParams) -> dict[str, str]:
    """The settings Spark starts with: in local mode, shuffles split for this machine's cores
    rather than Spark's 200 parts (at 1M customers, 4 parts ran the orders per period in 7-11 s
    instead of 16-18 s) and a 4 GB driver (Spark's default 1 GB is also all its executors'
    memory in local mode); then the params' own, then what the report relies on."""
    local = {}
    if params.master.startswith("local"):
        cores = os.cpu_count() or 1
        local = {"spark.sql.shuffle.partitions": str(2 * cores), "spark.driver.memory": "4g"}
    return {**QUIET_CONF, **WAREHOUSE_CONF, **local, **params.conf, **REQUIRED_CONF}


def _smallest(generator: Spark.Generator, expression: exp.Min) -> str:
    """DuckDB's min(x, n), the n smallest values as a sorted list, which Spark lacks."""
    count = expression.args.get("count")
    if count is None:
        return generator.function_fallback_sql(expression)
    values = exp.func("ARRAY_SORT", exp.func("COLLECT_LIST", expression.this))
    return generator.sql(exp.func("SLICE", values, exp.Literal.number(1), count))


def _infinite(generator: Spark.Generator, expression: exp.IsInf) -> str:
    """DuckDB's isinf(x), which Spark lacks: NULL stays NULL, NaN is not infinite."""
    return f"(ABS({generator.sql(expression, 'this')}) = DOUBLE('inf'))"


def _function(generator: Spark.Generator, expression: exp.Anonymous) -> str:
    """DuckDB's isfinite(x), which Spark lacks (Spark orders NaN above infinity, so a NaN is
    not below it); any other function as sqlglot writes it."""
    if expression.name.lower() == "isfinite":
        return f"(ABS({generator.sql(expression.expressions[0])}) < DOUBLE('inf'))"
    return Spark.Generator.anonymous_sql(generator, expression)


class SparkDialect(Spark):
    """Spark SQL, with translations for the DuckDB functions sqlglot leaves as they are."""

    class Generator(Spark.Generator):
        TRANSFORMS = {
            **Spark.Generator.TRANSFORMS,
            exp.Min: _smallest,
            exp.IsInf: _infinite,
            exp.Anonymous: _function,
        }


@lru_cache(maxsize=256)
def to_spark_sql(query: str) -> str:
    """A DuckDB query as Spark SQL."""
    return sqlglot.transpile(query, read="duckdb", write=SparkDialect)[0]


def _remote(params: SparkParams) -> str | None:
    """The Spark Connect server to use: the batch's, or one the params name."""
    return os.environ.get(REMOTE_VARIABLE) or params.remote


def new_session(params: SparkParams) -> SparkSession:
    """A Spark session of its own: on the Spark Connect server REMOTE_VARIABLE names, or in
    this process (started on first use, then shared by its sessions)."""
    remote = _remote(params)
    if remote:
        return SparkSession.builder.remote(remote).create()
    builder = SparkSession.builder.appName("opsreport").master(params.master)
    for key, value in spark_settings(params).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark.newSession()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("localhost", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def connect_server(params: SparkParams, log: Path) -> Iterator[None]:
    """Run a Spark Connect server (the Spark driver, on `params.master`) while the block runs,
    and point this process and the kernels it starts at it; nothing to start when the
    params name a server of their own (`remote`). The server's output goes to `log`."""
    if params.remote:
        yield
        return
    port = _free_port()
    settings = {**spark_settings(params), "spark.connect.grpc.binding.port": str(port)}
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    command = [str(submit), "--class", CONNECT_SERVER, "--name", "opsreport"]
    command += ["--master", params.master]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(server, port, log, params.master)
        os.environ[REMOTE_VARIABLE] = f"sc://localhost:{port}"
        yield
    finally:
        os.environ.pop(REMOTE_VARIABLE, None)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_until_listening(server: subprocess.Popen, port: int, log: Path, master: str) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not _listening(port):
        if server.poll() is not None or time.monotonic() > deadline:
            lines = log.read_text(errors="replace").splitlines()
            said = [line for line in lines if line.strip() and not line.startswith("\tat ")]
            raise ReportError(
                f"the Spark Connect server did not start (master {master!r}); "
                "its last lines, without stack frames:\n" + "\n".join(said[-8:])
            )
        time.sleep(0.5)


class SparkEngine(DataEngine):
    """Temporary views in a Spark session of their own (two engines never see each other's
    tables). Tables named in `materialize` (all by default) are cached in Spark's memory
    once first read, without the UNQUERIED columns other than those in `keep`."""

    writes_parts = True

    def __init__(
        self,
        tables: Tables,
        params: SparkParams,
        materialize: Collection[str] | None = None,
        keep: Collection[str] = (),
    ):
        self.spark = new_session(params)
        self.on_server = _remote(params) is not None
        self.tables = []
        for name, source in tables.items():
            if isinstance(source, Path):
                frame = self.spark.read.parquet(str(source))
                if materialize is None or name in materialize:
                    frame = frame.drop(*left_out(name, frame.columns, keep)).cache()
            else:
                frame = self._from_pandas(source)
            frame.createOrReplaceTempView(name)
            self.tables.append(name)

    def _from_pandas(self, frame: pd.DataFrame):
        return self.spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))

    def _columns(self, table: str) -> list[str]:
        return self.spark.table(table).columns

    def _frame(self, query: str, params: list | None = None):
        return _query(self.spark, query, params)

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return as_duckdb_returns(self._frame(query, params).toArrow())

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self._from_pandas(frame).createOrReplaceTempView(name)

    def keep(self, name: str, query: str, params: list | None = None, stored: bool = True) -> None:
        """Views are cached too: Spark's cache spills to disk, and without it every read
        plans and runs the view's query again (several seconds a query)."""
        self.forget(name)
        self._frame(query, params).cache().createOrReplaceTempView(name)
        self.tables.append(name)

    def forget(self, name: str) -> None:
        catalog = self.spark.catalog
        if catalog.tableExists(name):
            if catalog.isCached(name):
                catalog.uncacheTable(name)
            catalog.dropTempView(name)
        if name in self.tables:
            self.tables.remove(name)

    def batches(self, query: str, rows: int, params: list | None = None) -> Iterator[pa.Table]:
        """Collected to this machine as Arrow first (exports.CustomerExport has Spark write
        what is too large for that itself)."""
        result = _as_duckdb_types(self._frame(query, params).toArrow())
        yield from rechunked(result.to_batches(), rows, result.schema)

    def write_parts(self, query: str, params: list, order: str, folder: Path, rows: int) -> None:
        """Written by Spark where it runs, from one cached copy of the result in ranges of
        `order` (so the Parquet and the CSV parts hold the same rows), each sorted. A range
        holds about four fifths of `rows`: its bounds come from a sample, and one that still
        overshoots is split (maxRecordsPerFile)."""
        frame = _with_duckdb_types(self._frame(query, params))
        ranges = max(1, -(-frame.count() * 5 // (rows * 4)))
        key = frame[order].asc_nulls_last()  # as DuckDB orders
        ordered = frame.repartitionByRange(ranges, key).sortWithinPartitions(key).cache()
        try:
            ordered.write.option("maxRecordsPerFile", rows).parquet(str(folder / "parquet"))
            text = _spreadsheet_safe(ordered).write.option("maxRecordsPerFile", rows)
            text.options(**CSV_WRITING).csv(str(folder / "csv"))
        finally:
            ordered.unpersist()

    def close(self) -> None:
        """Drop this engine's views and uncache its tables; end its session on a Connect
        server. Sessions in one process share Spark and its cache: the other engines' cached
        tables stay."""
        _end(self.spark, self.on_server)


class SparkStaging(Staging):
    """The input checks run by Spark (engine: spark): Staging's SQL, translated, over the input
    files as Spark reads them (each row's position in its file from Spark's row_index), and
    the clean tables written by Spark, each as a folder of Parquet parts. What pandas must
    read (CSV, Excel, Parquet not of the contract's types) is read on this machine, as with
    DuckDB, and handed to Spark as Arrow; typed Parquet inputs never pass through it."""

    def __init__(self, params: SparkParams) -> None:
        self.spark = new_session(params)
        self.on_server = _remote(params) is not None
        self.kinds: dict[str, dict[str, str]] = {}
        self.written: set[str] = set()

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        result = _as_duckdb_types(_query(self.spark, query, params).toArrow())
        return list(zip(*(column.to_pylist() for column in result.columns), strict=True))

    def frame(self, query: str) -> pd.DataFrame:
        return as_duckdb_returns(_query(self.spark, query).toArrow())

    def view(self, name: str, query: str) -> None:
        _query(self.spark, query).createOrReplaceTempView(name)

    def view_of_file(self, name: str, path: Location) -> None:
        """A path here or a URL on shared storage, read where it lies; row numbers from
        Spark's row_index, within each part of a folder."""
        frame = self.spark.read.parquet(str(path))
        rows = frame["_metadata.row_index"].alias("file_row_number")
        frame.select("*", rows).createOrReplaceTempView(name)

    def view_of_arrow(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def copy_to_parquet(self, query: str, path: Path) -> None:
        """A folder of Parquet parts, one per Spark partition, its rows in no set order (the
        report's queries order what they need)."""
        _query(self.spark, query).write.mode("overwrite").parquet(str(path))

    @contextmanager
    def within_memory(self) -> Iterator[None]:
        """Spark spills what does not fit its executors' memory itself."""
        yield

    def close(self) -> None:
        _end(self.spark, self.on_server)


def _query(spark: SparkSession, query: str, params: list | None = None):
    """A DuckDB query (`?` for each of `params`) as a Spark DataFrame."""
    args = [_spark_value(value) for value in params or []]
    return spark.sql(to_spark_sql(query), args=args or None)


def _end(spark: SparkSession, on_server: bool) -> None:
    """Drop a session's views and uncache its tables; end it on a Connect server."""
    catalog = spark.catalog
    for view in catalog.listTables():
        if view.isTemporary:
            if catalog.isCached(view.name):
                catalog.uncacheTable(view.name)
            catalog.dropTempView(view.name)
    if on_server:
        spark.stop()


def _with_duckdb_types(frame: DataFrame) -> DataFrame:
    """A Spark DataFrame with the column types DuckDB's result would have: dates and
    timestamps naive, decimals as doubles, integers as BIGINT (Spark's rank() is an INT)."""
    columns = []
    for field in frame.schema.fields:
        column = frame[field.name]
        kind = field.dataType
        if isinstance(kind, DateType | TimestampType):
            column = column.cast(TimestampNTZType())
        elif isinstance(kind, DecimalType):
            column = column.cast(DoubleType())
        elif isinstance(kind, ByteType | ShortType | IntegerType):
            column = column.cast(LongType())
        columns.append(column.alias(field.name))
    return frame.select(*columns)


def _spreadsheet_safe(frame: DataFrame) -> DataFrame:
    """exports.spreadsheet_safe, in Spark: text a spreadsheet would run as a formula prefixed
    with a single quote."""
    columns = []
    for field in frame.schema.fields:
        column = frame[field.name]
        if isinstance(field.dataType, StringType):
            risky = column.rlike(FORMULA_START)  # Java's regex reads the pattern alike
            column = functions.when(risky, functions.concat(functions.lit("'"), column))
            column = column.otherwise(frame[field.name])
        columns.append(column.alias(field.name))
    return frame.select(*columns)


def _spark_value(value):
    """A query parameter as Spark takes it: timestamps and dates as Python's."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def as_duckdb_returns(table: pa.Table) -> pd.DataFrame:
    """A Spark result as DuckDB would have returned it: dates and timestamps as naive
    datetime64[us], decimals as floats."""
    return _as_duckdb_types(table).to_pandas()


def _as_duckdb_types(table: pa.Table) -> pa.Table:
    """Dates and timestamps as naive timestamps[us], decimals as doubles."""
    columns = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        elif pa.types.is_date(kind):
            column = column.cast(pa.timestamp("us"))
        elif pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        columns[field.name] = column
    return pa.table(columns)
