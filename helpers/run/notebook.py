"""What a section notebook needs around its analysis: parameters, data, and KPI recording.

In the batch, the runner has validated the inputs and written clean Parquet files to
`build_dir/clean/`; interactively (build_dir=None) the notebook validates the inputs itself.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from IPython.display import Markdown
from pyarrow import csv

from helpers.core.config import Config, load_config
from helpers.core.outline import SECTIONS
from helpers.core.periods import Period, comparison_periods
from helpers.data import queries
from helpers.data.engines import DataEngine, open_engine, rechunked
from helpers.data.inputs import prepare_inputs
from helpers.render.chart_style import category_colors, use_report_style
from helpers.render.headings import part_heading
from helpers.render.kpi_rows import basis_sentence, labelled
from helpers.render.locale import Locale
from helpers.render.tables import safe_markdown
from helpers.sections.findings import Finding

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


@dataclass
class SectionContext:
    """The config, compared periods and data engine of one section run."""

    section: str
    config: Config
    periods: pd.DataFrame
    engine: DataEngine
    build_dir: Path | None

    @property
    def period(self) -> Period:
        """The quarter or year reported."""
        return self.config.period

    @property
    def locale(self) -> Locale:
        """The report's language, currency and period grain, for every table, chart and
        note."""
        return Locale(self.config.locale, self.config.currency, self.period.grain)

    @property
    def channel_colors(self) -> dict[str, str]:
        """Each channel's colour, the same on every page of the report."""
        return category_colors(queries.channel_names(self.engine))

    def heading(self) -> Markdown:
        """Section title with the quarter and the periods it is compared with."""
        locale = self.locale
        return Markdown(
            locale.text(
                "headings.section",
                title=locale.text(f"sections.{self.section}.title"),
                shop=safe_markdown(self.config.shop_name),
                quarter=self.period.label,
                compared={
                    row.period: row.quarter
                    for row in self.periods.itertuples()
                    if row.period != "current"
                },
                basis=basis_sentence(self.period, self.config.seasonal_quarters, locale),
            )
        )

    def part(self, name: str, /, **figures) -> Markdown:
        """A part of the section: its heading and what it shows, from the catalogue's
        `parts.<section>.<name>` (`heading`, and `intro` where it has one)."""
        key = f"parts.{self.section}.{name}"
        shown = part_heading(name, self.locale.text(f"{key}.heading"))
        if "intro" in self.locale.lookup(key):
            shown += "\n\n" + self.locale.text(f"{key}.intro", **figures)
        return Markdown(shown)

    def record(self, kpis: dict[str, dict], findings: Sequence[Finding] = (), **details) -> None:
        """Save the section's headline KPIs and findings (as sentences, and as data under
        finding_records) for metrics.json (batch runs only)."""
        if self.build_dir is None:
            return
        details = self.locale.plain(details)  # a withheld figure's reason, in words
        details["findings"] = self.locale.sentences(findings)
        details["finding_records"] = [finding.as_record() for finding in findings]
        path = self.build_dir / "metrics" / f"{self.section}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        kpis = labelled(kpis, self.locale)
        path.write_text(json.dumps({"kpis": kpis, **details}, indent=2, default=str))

    def save_artifact(self, name: str, table: pd.DataFrame | Iterable[pa.Table]) -> None:
        """Write a table, or one coming in parts (Arrow tables), to artifacts/<name>.parquet
        and .csv (batch runs only): for CRM and for sections that build on this one. Never
        shown in the HTML. The CSV's text cells are spreadsheet_safe; the Parquet keeps the
        raw values. A table of more than ARTIFACT_PART_ROWS rows goes to a folder
        artifacts/<name>/ in numbered parts (<name>-0001.parquet and .csv, ...), each of which
        a spreadsheet opens whole."""
        if self.build_dir is None:
            return
        folder = self.build_dir / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(table, pd.DataFrame):
            table = [pa.Table.from_pandas(table, preserve_index=False)]
        parts = rechunked(_record_batches(table), ARTIFACT_PART_ROWS)
        first, second = next(parts), next(parts, None)
        if second is None:
            _write_whole(first, folder, name)
            return
        partial = folder / f".{name}.partial"
        partial.mkdir()
        for number, part in enumerate(itertools.chain([first, second], parts), start=1):
            _write_whole(part, partial, f"{name}-{number:04d}")
        os.replace(partial, folder / name)

    def read_artifact(self, name: str) -> pd.DataFrame | None:
        """An artifact an earlier section of this batch wrote, whole or in parts, or None
        (interactive runs, or the section did not run)."""
        if self.build_dir is None:
            return None
        whole = self.build_dir / "artifacts" / f"{name}.parquet"
        if whole.is_file():
            return pd.read_parquet(whole)
        parts = sorted((self.build_dir / "artifacts" / name).glob(f"{name}-*.parquet"))
        return pd.concat(map(pd.read_parquet, parts), ignore_index=True) if parts else None


ARTIFACT_PART_ROWS = 1_000_000  # below a spreadsheet's 1,048,576 rows, the header included


def _record_batches(tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    """The record batches of each table; an empty table gives one empty batch (its columns)."""
    for table in tables:
        yield from table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def _write_whole(table: pa.Table, folder: Path, name: str) -> None:
    """<name>.csv and <name>.parquet in `folder`, each appearing whole or not at all: the
    runner starts readers once one exists."""
    for path, write, content in (
        (folder / f"{name}.csv", csv.write_csv, spreadsheet_safe(table)),  # 10x to_csv
        (folder / f"{name}.parquet", pq.write_table, table),
    ):
        partial = path.with_name(f".{path.name}.partial")
        write(content, partial)
        os.replace(partial, path)


def open_section(
    section: str,
    period: str | None = None,
    params_dir: str = "../params",
    build_dir: str | None = None,
    extra_params: list[str] | tuple = (),
) -> SectionContext:
    """Load parameters and data for a section notebook, in the batch or interactively."""
    config = load_config(params_dir, period, extra_params)
    use_report_style(config.locale)
    if build_dir is not None:
        clean = Path(build_dir) / "clean"
        paths = {p.stem: p for p in sorted(clean.glob("*.parquet"))}
        needs = SECTIONS[section]
        engine = open_engine(config, paths, materialize=needs.requires, keep=needs.keeps)
    else:
        engine = open_engine(config, prepare_inputs(config).tables)
    return SectionContext(
        section,
        config,
        comparison_periods(config.period),
        engine,
        Path(build_dir) if build_dir else None,
    )
