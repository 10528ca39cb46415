"""Reading input files: which file holds a table (any case, or named in the parameters), reading
CSV (UTF-8, UTF-8 with BOM or GBK, detected), Parquet or Excel, and mapping its column names to
the data contract's."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import pandas as pd

from helpers.core.config import Config
from helpers.core.errors import InputFileError
from helpers.data.contract import TableSpec
from helpers.data.locations import (
    Location,
    files_in,
    is_file,
    joined,
    name_of,
    on_this_machine,
    suffix_of,
)

READERS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".xlsx": "excel", ".xls": "excel"}


CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # utf-8-sig reads plain UTF-8 and UTF-8 with BOM


def find_input_file(config: Config, table: str) -> Location | None:
    """The file for a table: `files.<table>` if set, else data_dir/<table>.<csv|parquet|xlsx>,
    the name matched whatever its case (Orders.CSV is the orders table); a path here or a URL
    on shared storage (see locations)."""
    try:
        if table in config.files:
            location = joined(config.data_dir, config.files[table])
            if not is_file(location):
                raise InputFileError(f"{table}: file not found: {location}")
            return location
        found = files_in(config.data_dir)
    except OSError as exc:  # shared storage that cannot be reached, or no such folder there
        raise InputFileError(f"{table}: cannot look for its file: {exc}") from exc
    candidates = [f for f in found if _stem(f).lower() == table and suffix_of(f) in READERS]
    if len(candidates) > 1:
        raise InputFileError(
            f"{table}: several candidate files {[name_of(c) for c in candidates]} in "
            f"{config.data_dir}; choose one with files.{table} in the params"
        )
    return candidates[0] if candidates else None


def _stem(location: Location) -> str:
    return PurePosixPath(name_of(location)).stem


def read_table(location: Location, encoding: str | None = None) -> pd.DataFrame:
    """Read CSV (UTF-8, UTF-8 with BOM or GBK, detected), Parquet or Excel; a header that
    appears twice is an error (pandas would rename the copy and use the first). A file on
    shared storage is copied here first."""
    kind = READERS.get(suffix_of(location))
    if kind is None:
        raise InputFileError(f"{location}: unsupported file type; use one of {sorted(READERS)}")
    try:
        with on_this_machine(location) as path:
            if kind == "parquet":
                frame, header = pd.read_parquet(path), None
            elif kind == "excel":
                frame = pd.read_excel(path, dtype=object)  # pragma: no mutate (checks coerce it)
                # the header row as written (one row: any more are not read)
                first = pd.read_excel(path, header=None, nrows=1)  # pragma: no mutate
                header = first.iloc[0].tolist() if len(frame.columns) else []
            else:
                frame, header = _read_csv(path, encoding, location)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{location}: cannot read: {exc}") from exc
    names = [str(name).strip().lstrip("\ufeff") for name in (header or frame.columns)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputFileError(
            f"{location}: column header(s) {repeated} appear more than once; rename or remove "
            "the copies"
        )
    return frame


def _read_csv(
    path: Path, encoding: str | None, location: Location
) -> tuple[pd.DataFrame, list[str]]:
    """The table and its header row as written (pandas renames repeated headers)."""
    for candidate in (encoding,) if encoding else CSV_ENCODINGS:
        try:
            frame = pd.read_csv(path, dtype=str, encoding=candidate)
            # newline="" as the csv module asks; a header line reads alike without it
            with path.open(encoding=candidate, newline="") as handle:  # pragma: no mutate
                header = next(csv.reader(handle), [])  # pragma: no mutate (pandas read a line)
            return frame, header
        except UnicodeDecodeError:
            continue
    raise InputFileError(
        f"{location}: cannot decode as {' or '.join(CSV_ENCODINGS)}; set csv_encoding in the params"
    )


def map_columns(
    frame: pd.DataFrame, spec: TableSpec, mapping: dict[str, str], file: str
) -> pd.DataFrame:
    """Rename a user's columns to contract names: explicit mapping first, then case-insensitive.

    A mapped column the file does not have, or two columns landing on one contract name, is an
    InputFileError naming the file and the columns."""
    stripped = {c: str(c).strip().lstrip("\ufeff") for c in frame.columns}
    frame = frame.rename(columns=stripped)
    absent = [name for name in mapping if name not in frame.columns]
    if absent:
        raise InputFileError(
            f"{file}: columns {absent} named in the column mapping are not in the file "
            f"(it has {list(frame.columns)})"
        )
    frame = frame.rename(columns=mapping)
    by_lower = {name.lower(): name for name in spec.columns}
    rename = {
        c: by_lower[c.lower()]
        for c in frame.columns
        if c.lower() in by_lower and c not in spec.columns
    }
    renamed = [rename.get(c, c) for c in frame.columns]
    clashes = sorted({name for name in renamed if renamed.count(name) > 1})
    if clashes:
        pairs = list(zip(stripped.values(), renamed, strict=True))  # pragma: no mutate (same sizes)
        sources = {name: [old for old, new in pairs if new == name] for name in clashes}
        raise InputFileError(
            f"{file}: several columns would become {clashes}: {sources}; map only one of them"
        )
    return frame.rename(columns=rename)
