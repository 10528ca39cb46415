"""Tables written for CRM and for later sections (a batch's `artifacts/`), in one layout
whichever engine ran: `<name>.parquet` and `<name>.csv`, or, beyond PART_ROWS rows, a folder
`<name>/` of numbered parts (`<name>-0001.parquet` and `.csv`, ...), each of which a
spreadsheet opens whole. The CSV's text cells are spreadsheet-safe; the Parquet keeps the raw
values. Every file appears whole or not at all: the runner starts a section waiting on an
artifact once it exists.

A table with a row per customer (`CustomerExport`) is written by the engine that holds it:
Spark writes its parts itself (`DataEngine.write_parts`), so no machine holds every
customer; DuckDB's rows come here a range of customers at a time.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import csv

from helpers.core.errors import ReportError
from helpers.data.engines import DataEngine, rechunked
from helpers.data.queries import in_customer_order

PART_ROWS = 1_000_000  # below a spreadsheet's 1,048,576 rows, the header included
FETCH_ROWS = 100_000  # customers fetched from an engine at a time when they come here
FORMULA_START = r"^[=+\-@\t\r]"  # what Excel, WPS and LibreOffice read as a formula


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """Text cells that a spreadsheet would run as a formula (=HYPERLINK(...), +, -, @, tab,
    carriage return first) prefixed with a single quote, as OWASP recommends for CSV
    exports; other cells and non-text columns unchanged."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, FORMULA_START)
            quote, nothing = pa.scalar("'", column.type), pa.scalar("", column.type)
            column = pc.if_else(risky, pc.binary_join_element_wise(quote, column, nothing), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_frame(frame: pd.DataFrame, folder: Path, name: str) -> None:
    """A pandas table as artifact `name` in `folder`."""
    write_tables([pa.Table.from_pandas(frame, preserve_index=False)], folder, name)


def write_tables(tables: Iterable[pa.Table], folder: Path, name: str) -> None:
    """Arrow tables of any sizes, one after the other, as artifact `name` in `folder`: whole,
    or in parts of PART_ROWS rows."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = rechunked(_record_batches(tables), PART_ROWS)
    first, second = next(parts), next(parts, None)
    if second is None:
        _write_whole(first, folder, name)
        return
    partial = _partial_folder(folder, name)
    for number, part in enumerate(itertools.chain([first, second], parts), start=1):
        _write_whole(part, partial, _part_name(name, number))
    os.replace(partial, folder / name)


def read(folder: Path, name: str) -> pd.DataFrame | None:
    """Artifact `name` in `folder`, whole or from its parts; None where it was not written."""
    whole = folder / f"{name}.parquet"
    if whole.is_file():
        return pd.read_parquet(whole)
    parts = sorted((folder / name).glob(f"{name}-*.parquet"))
    return pd.concat(map(pd.read_parquet, parts), ignore_index=True) if parts else None


@dataclass(frozen=True)
class CustomerExport:
    """Every row of `table`, an engine's table with a row per customer, as `columns` (SQL,
    taking `params`), in customer order."""

    engine: DataEngine
    table: str
    columns: str = "*"
    params: list = field(default_factory=list)

    def write(self, folder: Path, name: str) -> None:
        """Written as artifact `name` in `folder`: by the engine itself, in parts, where it
        can and there are more than PART_ROWS customers; else through this machine, a range
        of customers at a time."""
        (customers,) = self.engine.first_row(f"SELECT count(*) FROM {self.table}")
        if customers <= PART_ROWS or not self.engine.writes_parts:
            rows = in_customer_order(self.engine, self.table, FETCH_ROWS, self.columns, self.params)
            write_tables(rows, folder, name)
            return
        folder.mkdir(parents=True, exist_ok=True)
        partial = _partial_folder(folder, name)
        written = partial / "engine"  # pragma: no mutate (any name)
        query = f"SELECT {self.columns} FROM {self.table}"
        self.engine.write_parts(query, self.params, "customer_id", written, PART_ROWS)
        _name_parts(written, partial, name)
        os.replace(partial, folder / name)


def _name_parts(written: Path, partial: Path, name: str) -> None:
    """The engine's parts (Parquet in written/parquet, the same rows as CSV in written/csv,
    their file names in row order) moved into `partial` as <name>-0001.parquet and .csv, ...;
    the engine's folders removed."""
    found = [sorted((written / kind).glob(f"part-*.{kind}")) for kind in ("parquet", "csv")]
    if len(found[0]) != len(found[1]) or not found[0]:  # pragma: no mutate (found[1]: alike)
        raise ReportError(
            f"{name}: the engine wrote {len(found[0])} Parquet and {len(found[1])} CSV parts; "
            "they must pair up"
        )
    pairs = zip(*found, strict=True)  # pragma: no mutate (the counts are equal)
    for number, (parquet, text) in enumerate(pairs, start=1):
        parquet.rename(partial / f"{_part_name(name, number)}.parquet")
        text.rename(partial / f"{_part_name(name, number)}.csv")
    shutil.rmtree(written)


def _partial_folder(folder: Path, name: str) -> Path:
    """A new hidden folder beside where artifact `name` goes, renamed into place once full."""
    partial = folder / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted run left
    partial.mkdir()
    return partial


def _part_name(name: str, number: int) -> str:
    return f"{name}-{number:04d}"


def _record_batches(tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    """The record batches of each table; an empty table gives one empty batch (its columns)."""
    for table in tables:
        yield from table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def _write_whole(table: pa.Table, folder: Path, name: str) -> None:
    """<name>.csv and <name>.parquet in `folder`, each appearing whole or not at all."""
    for path, write, content in (
        (folder / f"{name}.csv", csv.write_csv, spreadsheet_safe(table)),  # 10x to_csv
        (folder / f"{name}.parquet", pq.write_table, table),
    ):
        partial = path.with_name(f".{path.name}.partial")
        write(content, partial)
        os.replace(partial, path)
