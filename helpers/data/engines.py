"""The engines the queries run on: embedded DuckDB (the default) or Apache Spark (spark.py).

Every query in `queries` is written once, in DuckDB's SQL; an engine takes that text, runs it
over its tables and returns a pandas table. Nothing above the data layer knows which engine
ran: sections receive a `DataEngine` from `open_engine` and call query functions with it.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from helpers.core.config import Config

ENGINE_THREADS_VARIABLE = "OPSREPORT_ENGINE_THREADS"
# DuckDB's memory_limit for a section's queries (e.g. 2GB; the batch runner sets it): beyond
# it they spill to a temporary folder. Unset, DuckDB may take 80% of the machine's memory in
# every section's kernel at once
ENGINE_MEMORY_VARIABLE = "OPSREPORT_ENGINE_MEMORY"
# contract columns no query reads: loaded tables leave them out (at 1M customers, 220 MB of
# the orders' 460 MB in each section's kernel); views still show every column
UNQUERIED = {"orders": ("order_id", "status", "region", "discount", "refund")}

# a Parquet file larger than this stays a view, however often it is queried: loaded, 10M
# customers' orders (0.9 GB of Parquet) took 5.7 GB of each kernel's memory, and scanning the
# file made the CLV section faster, not slower (119 s against 128 s)
MATERIALIZE_MAX_BYTES = 256 * 2**20

Tables = Mapping[str, pd.DataFrame | Path]


def connect_duckdb(
    memory_limit: str | None, purpose: str, threads: int | None = None
) -> tuple[duckdb.DuckDBPyConnection, tempfile.TemporaryDirectory | None]:
    """An in-memory DuckDB connection using `threads` threads, or ENGINE_THREADS_VARIABLE's
    (every core by default). With `memory_limit` it holds at most that much and spills the
    rest to a new temporary folder named after `purpose`, returned for the caller to remove
    on close."""
    con = duckdb.connect()
    threads = threads or int(os.environ.get(ENGINE_THREADS_VARIABLE) or os.cpu_count() or 1)
    con.execute(f"SET threads TO {threads}")
    if memory_limit is None:
        return con, None
    spill = tempfile.TemporaryDirectory(prefix=f"opsreport-{purpose}-")
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET temp_directory = ?", [spill.name])
    return con, spill


def left_out(table: str, present: Collection[str], keep: Collection[str]) -> list[str]:
    """The UNQUERIED columns of `table` a loaded copy leaves out: those present, not in `keep`."""
    return [c for c in UNQUERIED.get(table, ()) if c in present and c not in keep]


class DataEngine(ABC):
    """Named tables and DuckDB-dialect SQL over them."""

    tables: list[str]
    writes_parts = False  # whether write_parts writes a result where the engine runs

    def has(self, table: str) -> bool:
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        """The table's columns; KeyError for a table the engine does not hold (SQL would
        accept any case, and an unknown name would read as a missing column)."""
        if table not in self.tables:
            raise KeyError(f"no {table!r} table; the engine holds {', '.join(self.tables)}")
        return self._columns(table)

    def first_row(self, query: str, params: list | None = None) -> tuple:
        """The first row of a query's result, as a tuple."""
        return tuple(self.sql(query, params).iloc[0])

    @abstractmethod
    def _columns(self, table: str) -> list[str]: ...

    @abstractmethod
    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Run DuckDB-dialect SQL (`?` for each of `params`) and return its result."""

    @abstractmethod
    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a small pandas table queryable under `name`, replacing one of that name."""

    @abstractmethod
    def keep(self, name: str, query: str, params: list | None = None, stored: bool = True) -> None:
        """Make a query's result a table of the engine under `name`, replacing one of that
        name: computed once and held when `stored`, else computed whenever it is read (a view,
        which takes no `params`). Results stay in the engine, however large."""

    @abstractmethod
    def forget(self, name: str) -> None:
        """Drop a table `keep` or `register` made."""

    @abstractmethod
    def batches(self, query: str, rows: int, params: list | None = None) -> Iterable[pa.Table]:
        """A query's result in consecutive Arrow tables of `rows` rows (the last one shorter),
        for writing a result too large to hold as one pandas table."""

    def write_parts(self, query: str, params: list, order: str, folder: Path, rows: int) -> None:
        """Write a query's result, ordered by column `order`, as Parquet parts in
        folder/parquet and the same rows as CSV parts (with a header; text spreadsheet-safe)
        in folder/csv, at most `rows` rows a part, their file names (part-*) sorting in row
        order. Only engines that `writes_parts`."""
        raise NotImplementedError(f"{type(self).__name__} writes no parts itself")

    @abstractmethod
    def close(self) -> None: ...


class DuckDBEngine(DataEngine):
    """An embedded DuckDB database over the clean input tables.

    Tables named in `materialize` (all of them by default) are loaded once into DuckDB's own
    columnar storage, so repeated queries scan that rather than the Parquet file again (several
    times faster on millions of rows), unless the file is larger than MATERIALIZE_MAX_BYTES;
    the others stay views over their Parquet files and cost nothing until queried. Loaded
    tables leave out the UNQUERIED columns, except those named in `keep`. DataFrames are
    always loaded, whole.

    DuckDB uses `threads` threads, else ENGINE_THREADS_VARIABLE's value when set, else every
    core: the batch runner sets it to cores / sections run at once, since oversubscribed
    DuckDB threads spin (at 1M customers, 2 sections at once took 77 s with 2 threads each,
    60 s with 1). It holds at most ENGINE_MEMORY_VARIABLE's value in memory when set,
    spilling the rest to disk.
    """

    def __init__(
        self,
        tables: Tables,
        materialize: Collection[str] | None = None,
        keep: Collection[str] = (),
        threads: int | None = None,
    ):
        memory = os.environ.get(ENGINE_MEMORY_VARIABLE)
        self.con, self.spill = connect_duckdb(memory, "engine", threads)
        self.tables = []
        self.kept_columns = set(keep)
        for name, source in tables.items():
            if isinstance(source, Path):
                self._from_parquet(name, source, materialize is None or name in materialize)
            else:
                self.register(name, source)
            self.tables.append(name)

    def _from_parquet(self, name: str, path: Path, load: bool) -> None:
        escaped = str(path).replace("'", "''")
        scan = f"read_parquet('{escaped}')"
        if not load or path.stat().st_size > MATERIALIZE_MAX_BYTES:
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {scan}")
            return
        present = {row[0] for row in self.con.execute(f"DESCRIBE FROM {scan}").fetchall()}
        unused = left_out(name, present, self.kept_columns)
        exclude = f" EXCLUDE ({', '.join(unused)})" if unused else ""
        self.con.execute(f"CREATE TABLE {name} AS SELECT *{exclude} FROM {scan}")

    def _columns(self, table: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE {table}").fetchall()]

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(query, params or []).df()

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Copied into a table, its times in microseconds as staged inputs' are: joined with a
        registered pandas frame's nanoseconds, three quarters of 10M customers' orders took
        1.1 GB more memory."""
        nanoseconds = [column for column, kind in frame.dtypes.items() if kind == "datetime64[ns]"]
        self.con.register("incoming", frame.astype(dict.fromkeys(nanoseconds, "datetime64[us]")))
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
        self.con.unregister("incoming")

    def keep(self, name: str, query: str, params: list | None = None, stored: bool = True) -> None:
        self.forget(name)
        kind = "TABLE" if stored else "VIEW"
        self.con.execute(f"CREATE TEMP {kind} {name} AS {query}", params or [])
        self.tables.append(name)

    def forget(self, name: str) -> None:
        found = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        for (kind,) in found:
            self.con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")
        if name in self.tables:
            self.tables.remove(name)

    def batches(self, query: str, rows: int, params: list | None = None) -> Iterator[pa.Table]:
        reader = self.con.sql(query, params=params or None).to_arrow_reader(rows)
        yield from rechunked(reader, rows, reader.schema)

    def close(self) -> None:
        self.con.close()
        if self.spill is not None:
            self.spill.cleanup()


def rechunked(
    batches: Iterable[pa.RecordBatch], rows: int, schema: pa.Schema | None = None
) -> Iterator[pa.Table]:
    """Arrow tables of exactly `rows` rows, the last one shorter, from batches of any size;
    one empty table when there are no rows (its columns those of the batches, or `schema`
    when there is no batch at all; nothing without either)."""
    pending: list[pa.RecordBatch] = []
    held, given = 0, False
    for batch in batches:
        schema = batch.schema
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, rows)
            given = True
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if schema is not None and (held or not given):
        yield pa.Table.from_batches(pending, schema=schema)


def open_engine(
    config: Config,
    tables: Tables,
    materialize: Collection[str] | None = None,
    keep: Collection[str] = (),
    threads: int | None = None,
) -> DataEngine:
    """The engine the parameters name (`engine`), over `tables` (see DuckDBEngine for
    `materialize`, `keep` and `threads`; Spark has its own parallelism)."""
    if config.engine == "spark":
        from helpers.data.spark import SparkEngine  # pyspark loads only when asked for

        return SparkEngine(tables, config.spark, materialize, keep)
    return DuckDBEngine(tables, materialize, keep, threads)


@contextmanager
def engine_service(config: Config, scratch: Path) -> Iterator[None]:
    """Whatever the engine needs running while a batch's sections run, started before the
    block and stopped after it: for Spark, one Connect server every section's kernel uses
    (one warm JVM instead of one per kernel); nothing for DuckDB. Logs go under `scratch`."""
    if config.engine != "spark":
        yield
        return
    from helpers.data.spark import connect_server

    with connect_server(config.spark, scratch / "spark-connect.log"):
        yield
