"""Input tables staged in the engine the parameters name (an embedded DuckDB database, or
Spark: spark.SparkStaging), where the checks across tables, the exclusion rules and the writing
of the clean Parquet files run: inputs of any size are checked without a pandas copy of them.
The checks are DuckDB's SQL, run through the few methods an engine implements (`fetch`,
`view`, ...); Spark translates them as it does the report's queries.

A Parquet input whose contract columns already have their kinds' types (text for ids and text,
naive timestamps or dates, numbers, booleans) is checked where it lies, by SQL over the file
(`check_typed`), with the row numbers and messages the pandas checks give; any other input is
read and coerced by pandas (checks.coerce_and_check) and staged from its clean frame. A staged
table holds its contract columns, coerced, and ROW: its row's position in the file, from 0.

`# pragma: no mutate (SQL case)` marks SQL text whose upper- or lower-case mutants (make mutate)
are equivalent: DuckDB keywords, functions and names are case-insensitive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from helpers.core.config import Config
from helpers.core.errors import InputFileError, Violation
from helpers.core.periods import Quarter
from helpers.data import checks
from helpers.data.contract import CONTRACT, TableSpec
from helpers.data.engines import connect_duckdb
from helpers.data.locations import Location, parquet_schema, suffix_of
from helpers.data.reading import map_columns

ROW = "_row"
# DuckDB's optimizers that trust Parquet statistics, off while checking (1M customers' inputs
# checked and written in 6.3 s without them, 8.1 s with)
TRUSTS_STATISTICS = "statistics_propagation,filter_pushdown"
MEMORY_VARIABLE = "OPSREPORT_STAGING_MEMORY"  # DuckDB's memory_limit for the inputs, e.g. 4GB
DEFAULT_MEMORY_LIMIT = "2GB"  # when neither the caller nor MEMORY_VARIABLE gives one

_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string)
_TYPED = {
    "id": _TEXT_TYPES,
    "text": _TEXT_TYPES,
    "timestamp": (lambda t: pa.types.is_timestamp(t) and t.tz is None, pa.types.is_date),
    "number": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal),
    "bool": (pa.types.is_boolean,),
}
_TYPED["date"] = _TYPED["timestamp"]

# what str.strip() strips: Unicode spaces (the ideographic space of Chinese exports among them)
# and the ASCII controls Python counts as whitespace
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


_SPACE = r"[\pZ\t\n\x0b\f\r\x1c-\x1f\x85]"  # SPACES as an RE2 class


def _stripped(column: str) -> str:
    """The text without leading or trailing SPACES (the test first: trim() with a list of
    characters is ten times slower than the regular expression)."""
    padded = f"regexp_matches({column}, '^{_SPACE}|{_SPACE}$')"
    return f"CASE WHEN {padded} THEN trim({column}, {_literal(SPACES)}) ELSE {column} END"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def typed_sources(
    path: Location, spec: TableSpec, mapping: dict[str, str], file: str
) -> tuple[dict[str, str], list[str]] | None:
    """For a Parquet input the SQL checks take as it is: how to read each contract column
    present (the file's column, quoted), and every column's name after mapping; None for any
    other input (pandas then reads and coerces it). A mapping naming a column the file lacks is an
    InputFileError, as for every input."""
    if suffix_of(path) != ".parquet" or spec.name == "targets":
        return None
    try:
        schema = parquet_schema(path)
    except (OSError, ValueError) as exc:  # as reading.read_table words it
        raise InputFileError(f"{path}: cannot read: {exc}") from exc
    renamed = list(map_columns(pd.DataFrame(columns=schema.names), spec, mapping, file).columns)
    sources = dict(zip(renamed, schema.names, strict=True))  # pragma: no mutate (same length)
    for column, kind in spec.columns.items():
        if column in sources and not any(
            test(schema.field(sources[column]).type) for test in _TYPED[kind]
        ):
            return None
    expressions = {
        c: _read_as(sources[c], schema.field(sources[c]).type) for c in spec.columns if c in sources
    }
    return expressions, [str(c) for c in renamed]


def _read_as(column: str, kind: pa.DataType) -> str:
    """A file's column in SQL; decimals as doubles, as pandas' checks make them."""
    if pa.types.is_decimal(kind):
        return f"CAST({_quoted(column)} AS DOUBLE)"
    return _quoted(column)


class Staging:
    """The staged tables of one run, in one DuckDB connection that holds at most
    `memory_limit` in memory and spills the rest (the hash tables of 36M order ids that the
    duplicate and order-line checks build) to a temporary folder."""

    def __init__(self, memory_limit: str | None = None) -> None:
        memory_limit = memory_limit or os.environ.get(MEMORY_VARIABLE) or DEFAULT_MEMORY_LIMIT
        self.con, self.spill = connect_duckdb(memory_limit, "staging")
        # Parquet statistics leave NaN out, and DuckDB then folds isnan() to false or skips
        # the row groups a NaN is in: a NaN in a typed file would pass every check unseen
        self.con.execute(f"SET disabled_optimizers = {_literal(TRUSTS_STATISTICS)}")
        self.kinds: dict[str, dict[str, str]] = {}
        self.written: set[str] = set()  # the clean tables written, each as view written_<name>

    # How the engine runs what the checks ask for: SparkStaging does each its own way. Queries
    # are DuckDB's SQL; views are computed when read.

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        """A query's rows."""
        return self.con.execute(query, params or []).fetchall()

    def frame(self, query: str) -> pd.DataFrame:
        """A query's result as a pandas table."""
        return self.con.execute(query).df()

    def view(self, name: str, query: str) -> None:
        """A view `name` of a query, replacing one of that name."""
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")

    def view_of_file(self, name: str, path: Location) -> None:
        """A view `name` of a Parquet file (a path here: DuckDB reads no URL), with each row's
        position in the file (from 0) as file_row_number."""
        scan = f"read_parquet({_literal(str(path))}, file_row_number = true)"
        self.view(name, f"SELECT * FROM {scan}")

    def view_of_arrow(self, name: str, table: pa.Table) -> None:
        """A view `name` of an Arrow table."""
        self.con.register(f"{name}_arrow", table)
        self.view(name, f"SELECT * FROM {name}_arrow")

    def copy_to_parquet(self, query: str, path: Path) -> None:
        """Write a query's result as Parquet, in its order."""
        self.con.execute(f"COPY ({query}) TO {_literal(str(path))} (FORMAT parquet)")

    def stage_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Stage a table pandas coerced (its rows in file order)."""
        # a RangeIndex is never a column, and NumPy's integers are 64-bit here
        table = pa.Table.from_pandas(frame, preserve_index=False)  # pragma: no mutate
        rows = np.arange(len(frame), dtype=np.int64)  # pragma: no mutate
        self.view_of_arrow(name, table.append_column(ROW, pa.array(rows)))
        self.kinds[name] = {c: k for c, k in CONTRACT[name].columns.items() if c in frame}

    def stage_parquet(self, name: str, path: Location, sources: dict[str, str]) -> None:
        """Stage a typed Parquet input as a view: raw_<name> as the file holds it (contract
        names), <name> with text stripped and blanks as NULL, NaN as NULL, dates at midnight."""
        spec = CONTRACT[name]
        present = {c: k for c, k in spec.columns.items() if c in sources}
        self.view_of_file(f"file_{name}", path)
        raw = ", ".join(f"{sources[c]} AS {c}" for c in present)
        self.view(f"raw_{name}", f"SELECT {raw}, file_row_number AS {ROW} FROM file_{name}")
        clean = ", ".join(f"{_clean(c, k)} AS {c}" for c, k in present.items())
        self.view(name, f"SELECT {clean}, {ROW} FROM raw_{name}")
        self.kinds[name] = present

    @contextmanager
    def within_memory(self) -> Iterator[None]:
        """DuckDB running out of its memory limit (what it cannot spill to disk) as an
        InputFileError saying how to give it more."""
        try:
            yield
        except duckdb.OutOfMemoryException as exc:
            limit = self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            raise InputFileError(
                f"checking the inputs needs more than the {limit} it may use; set "
                f"{MEMORY_VARIABLE}=8GB (or more) in the environment and run again "
                f"({str(exc).splitlines()[0]})"
            ) from exc

    def close(self) -> None:
        self.con.close()
        self.spill.cleanup()

    def write(self, name: str, path: Path) -> None:
        """Write a clean table (final_<name>, see apply_exclusions) as Parquet, in file order;
        the file then answers for the table (rows, last_days), cheaper than the views that
        clean it."""
        self.copy_to_parquet(f"SELECT * FROM final_{name}", path)
        self.view_of_file(f"written_{name}", path)
        self.written.add(name)  # pragma: no mutate (see _clean_table)

    def _clean_table(self, name: str) -> str:
        """Where a clean table is read from: its file once written, else its view (the same
        rows, more slowly: mutants choosing the view are equivalent)."""
        if name in self.written:  # pragma: no mutate
            return f"written_{name}"
        return f"final_{name}"

    def rows(self) -> dict[str, int]:
        """Rows of each clean table."""
        return {
            name: self.count(f"SELECT count(*) FROM {self._clean_table(name)}")
            for name in self.kinds
        }

    def last_days(self) -> dict[str, pd.Timestamp]:
        """The last day of each dated clean table that has rows."""
        found = {}
        for name in self.kinds:
            column = CONTRACT[name].date_column
            # a dated table always holds its date column (a required one)
            if column is not None and column in self.kinds[name]:  # pragma: no mutate
                query = f"SELECT max({column}) FROM {self._clean_table(name)}"
                (last,) = self.fetch(query)[0]
                if last is not None:
                    found[name] = pd.Timestamp(last).normalize()
        return found

    def count(self, query: str, params: list | None = None) -> int:
        return int(self.fetch(query, params)[0][0])

    def violation(
        self,
        file: str,
        name: str,
        column: str,
        rule: str,
        where: str,
        *,
        rows: int,
        source: str | None = None,
        label: str | None = None,
    ) -> list[Violation]:
        """The violation of `rule` by the `rows` rows of `source` (table `name` by default)
        where `where` holds, with the first MAX_EXAMPLES of them as the pandas checks word
        them; none if no row breaks it. `label` names the column(s) in the message."""
        scanned = f"{source or name} WHERE {where}"
        if not rows:
            return []
        first = self.fetch(
            f"SELECT {ROW}, {column} FROM {scanned} ORDER BY {ROW} LIMIT {checks.MAX_EXAMPLES}"
        )
        kind = self.kinds[name][column]
        shown = [f"row {row + 1}: {column}={_shown(value, kind)}" for row, value in first]
        return [Violation(file, label or column, rule, rows, shown)]


def open_staging(config: Config) -> Staging:
    """Where the parameters' engine checks the inputs: embedded DuckDB, or Spark."""
    if config.engine == "spark":
        from helpers.data.spark import SparkStaging  # pyspark loads only when asked for

        return SparkStaging(config.spark)
    return Staging()


def _clean(column: str, kind: str) -> str:
    """SQL for a typed cell as the pandas checks leave it: text stripped (blank is missing),
    dates at midnight, NaN numbers missing. Timestamps stay as they are: only naive ones take
    this path, and the clean files are written in microseconds (_final)."""
    name = _quoted(column)
    if kind in ("id", "text"):
        return f"NULLIF({_stripped(name)}, '')"
    if kind == "date":
        return f"date_trunc('day', CAST({name} AS TIMESTAMP))"
    if kind == "number":
        return f"CASE WHEN isnan(CAST({name} AS DOUBLE)) THEN NULL ELSE {name} END"
    return name


_NULL_SHOWN = {"timestamp": "NaT", "date": "NaT", "bool": "None"}


def _shown(value, kind: str) -> str:
    """A value as pandas shows the cell it reads (checks.shown): NULL as pandas reads it."""
    return _NULL_SHOWN.get(kind, "nan") if value is None else checks.shown(value)


@dataclass(frozen=True)
class Rule:
    """One rule of the data contract as SQL: the rows of `source` where `where` holds break it."""

    column: str
    words: str
    where: str
    source: str
    label: str | None = None


def check_typed(
    staging: Staging,
    name: str,
    file: str,
    columns: list[str],
    plausible_max: float,
    today: pd.Timestamp,
) -> list[Violation]:
    """The data contract's checks on one staged typed Parquet input, in the order and words of
    checks.coerce_and_check: an empty file; missing required columns (the file's `columns`
    listed); per column, dates after `today`, numbers not finite or above `plausible_max`,
    required values missing; then negative values, duplicate keys, more engaged sessions than
    sessions. The rules on one source are counted in one scan of it."""
    spec, kinds = CONTRACT[name], staging.kinds[name]
    rows = staging.count(f"SELECT count(*) FROM raw_{name}")
    if not rows:
        return [Violation(file, "-", checks.EMPTY_FILE, 0)]
    missing = [c for c in spec.required if c not in kinds]
    if missing:
        return [Violation(file, c, checks.missing_column(columns), rows) for c in missing]
    rules = []
    for column, kind in kinds.items():
        rules += _value_rules(name, column, kind, plausible_max, today)
        if column in spec.required:
            words = checks.missing_value(column)
            rules.append(Rule(column, words, _absent(column, kind), f"raw_{name}"))
    rules += _table_rules(name, kinds)
    counts: dict[int, int] = {}
    for source in dict.fromkeys(rule.source for rule in rules):
        mine = [i for i, rule in enumerate(rules) if rule.source == source]
        filters = ", ".join(f"count(*) FILTER (WHERE {rules[i].where})" for i in mine)
        found = staging.fetch(f"SELECT {filters} FROM {source}")[0]
        counts |= zip(mine, found, strict=True)  # pragma: no mutate (a count per filter)
    return [
        violation
        for i, rule in enumerate(rules)
        for violation in staging.violation(
            file,
            name,
            rule.column,
            rule.words,
            rule.where,
            source=rule.source,
            label=rule.label,
            rows=counts[i],
        )
    ]


def _absent(column: str, kind: str) -> str:
    """Where a raw cell holds no value: NULL, blank text or NaN."""
    if kind in ("id", "text"):
        return f"{column} IS NULL OR {_stripped(column)} = ''"
    if kind == "number":
        return f"{column} IS NULL OR isnan(CAST({column} AS DOUBLE))"
    return f"{column} IS NULL"


def _value_rules(
    name: str, column: str, kind: str, plausible_max: float, today: pd.Timestamp
) -> list[Rule]:
    """Dates after today; numbers infinite, or finite and larger than plausible_max."""
    raw = f"raw_{name}"
    if kind in ("timestamp", "date"):
        tomorrow = today.normalize() + pd.Timedelta(days=1)
        words = checks.after_run_date(today)
        return [Rule(column, words, f"{column} >= TIMESTAMP '{tomorrow:%Y-%m-%d}'", raw)]
    if kind != "number":
        return []
    value = f"CAST({column} AS DOUBLE)"
    huge = checks.implausible(plausible_max)
    return [
        Rule(column, checks.NOT_FINITE, f"isinf({value})", raw),
        # NaN is missing, not large (DuckDB orders NaN above every number)
        Rule(column, huge, f"isfinite({value}) AND abs({value}) > '{plausible_max}'::DOUBLE", raw),
    ]


def _table_rules(name: str, kinds: dict[str, str]) -> list[Rule]:
    """Negative values, duplicate keys (NULLs in a key equal to each other, as in pandas'
    duplicated()), more engaged sessions than sessions."""
    spec = CONTRACT[name]
    rules = [Rule(c, checks.NEGATIVE, f"{c} < 0", name) for c in spec.non_negative if c in kinds]
    key = [c for c in spec.unique_key if c in kinds]
    if key:  # a hash aggregate and a join with the few repeated keys: no sort of every row
        joined, listed = "+".join(key), ", ".join(key)
        repeated = f"SELECT {listed} FROM {name} GROUP BY ALL HAVING count(*) > 1"
        pairs = [f"t.{c} IS NOT DISTINCT FROM r.{c}" for c in key]
        match = " AND ".join(pairs)  # pragma: no mutate (SQL case)
        copies = f"(SELECT t.* FROM {name} t JOIN ({repeated}) r ON {match})"
        every = "true"  # pragma: no mutate (SQL case)
        rules.append(Rule(key[0], checks.duplicate(key), every, copies, joined))
    if {"engaged_sessions", "sessions"} <= set(kinds):  # pragma: no mutate (never just these)
        over = "engaged_sessions > sessions"  # pragma: no mutate (SQL case)
        rules.append(Rule("engaged_sessions", checks.MORE_THAN_SESSIONS, over, name))
    return rules


def check_across(staging: Staging, sources: dict[str, str], quarter: Quarter) -> list[Violation]:
    """Order lines with no matching order; dated tables with no row in the quarter."""
    found = []
    if {"orders", "order_items"} <= set(staging.kinds):
        orphan = "order_id NOT IN (SELECT order_id FROM orders)"  # pragma: no mutate (SQL case)
        rule = "order line with no matching order"
        rows = staging.count(f"SELECT count(*) FROM order_items WHERE {orphan}")
        found += staging.violation(  # pragma: no mutate (the list is still empty here)
            sources["order_items"], "order_items", "order_id", rule, orphan, rows=rows
        )
    for name in staging.kinds:
        column = CONTRACT[name].date_column
        if column is None:
            continue
        inside = f"SELECT count(*) FROM {name} WHERE {column} >= ? AND {column} < ?"
        if staging.count(inside, [quarter.start, quarter.end]):
            continue
        span = f"SELECT min({column}), max({column}) FROM {name}"
        first, last = staging.fetch(span)[0]
        found.append(
            Violation(
                sources[name],
                column,
                f"no data in {quarter.label} (file covers {first:%Y-%m-%d} to {last:%Y-%m-%d})",
                0,
            )
        )
    return found


def apply_exclusions(staging: Staging, config: Config) -> list[dict]:
    """The clean tables as views final_<name>: orders without those excluded by rule (status,
    fully refunded), with net_revenue (revenue less refunds, never below 0), and the order
    lines of the orders kept; returns what was excluded, per reason."""
    for name in staging.kinds:
        staging.view(f"final_{name}", f"SELECT {_final(staging, name)} FROM {name}")
    if "orders" not in staging.kinds:
        return []
    kinds = staging.kinds["orders"]
    refund = "0"
    if "refund" in kinds:
        refund = "coalesce(refund, 0)"  # pragma: no mutate (SQL case)
    cases = []
    if "status" in kinds and config.exclusions.statuses:
        statuses = ", ".join(
            _literal(s) for s in sorted({s.lower() for s in config.exclusions.statuses})
        )
        cases.append(f"WHEN lower(status) IN ({statuses}) THEN 'status: ' || lower(status)")
    if config.exclusions.fully_refunded:
        cases.append(f"WHEN {refund} >= revenue AND revenue > 0 THEN 'fully refunded'")
    nothing = "NULL::VARCHAR"  # pragma: no mutate (SQL case)
    reason = f"CASE {' '.join(cases)} END" if cases else nothing
    net = f"revenue - least({refund}, revenue) AS net_revenue"
    judged = f"SELECT *, {reason} AS reason FROM orders"
    staging.view("judged_orders", judged)  # pragma: no mutate (SQL case)
    staging.view(
        "final_orders",  # pragma: no mutate (SQL case)
        f"SELECT {_final(staging, 'orders')}, {net} "
        "FROM judged_orders WHERE reason IS NULL",  # pragma: no mutate (SQL case)
    )
    summary = staging.fetch(
        "SELECT reason, count(*), sum(revenue) FROM judged_orders "  # pragma: no mutate (SQL case)
        "WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"  # pragma: no mutate (SQL case)
    )
    records = [
        {"table": "orders", "reason": reason, "rows": rows, "revenue": revenue}
        for reason, rows, revenue in summary
    ]
    if "order_items" in staging.kinds and records:
        excluded = "SELECT order_id FROM judged_orders"  # pragma: no mutate (SQL case)
        gone = f"order_id IN ({excluded} WHERE reason IS NOT NULL)"
        lines = staging.count(f"SELECT count(*) FROM order_items WHERE {gone}")
        records.append(
            {"table": "order_items", "reason": "lines of excluded orders", "rows": lines}
            | {"revenue": None}
        )
        staging.view(
            "final_order_items",  # pragma: no mutate (SQL case)
            f"SELECT {_final(staging, 'order_items')} FROM order_items WHERE NOT ({gone})",
        )
    return records


def _final(staging: Staging, name: str) -> str:
    """A staged table's contract columns, dates and timestamps as microsecond timestamps."""
    return ", ".join(
        f"CAST({c} AS TIMESTAMP) AS {c}" if kind in ("timestamp", "date") else c
        for c, kind in staging.kinds[name].items()
    )


class StagedTables(Mapping):
    """The clean tables as pandas frames, read from the staging database when asked for (for
    tests and notebooks on small data; the batch writes them to Parquet without pandas)."""

    def __init__(self, staging: Staging):
        self.staging = staging

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.staging.kinds:
            raise KeyError(name)
        return self.staging.frame(f"SELECT * FROM final_{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.staging.kinds)

    def __len__(self) -> int:
        return len(self.staging.kinds)
