"""What a section notebook needs around its analysis: parameters, data, and KPI recording.

In the batch, the runner has validated the inputs and written clean Parquet files to
`build_dir/clean/`; interactively (build_dir=None) the notebook validates the inputs itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from helpers.core.config import Config, load_config
from helpers.core.outline import SECTIONS
from helpers.core.periods import Period, comparison_periods
from helpers.data import exports, queries
from helpers.data.engines import DataEngine, open_engine
from helpers.data.exports import CustomerExport
from helpers.data.inputs import prepare_inputs
from helpers.render.chart_style import category_colors, use_report_style
from helpers.render.headings import part_heading
from helpers.render.kpi_rows import basis_sentence, labelled
from helpers.render.locale import Locale
from helpers.render.tables import safe_markdown
from helpers.sections.findings import Finding


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

    def save_artifact(self, name: str, table: pd.DataFrame | CustomerExport) -> None:
        """Write a table to artifacts/<name>.parquet and .csv, or in parts beyond
        exports.PART_ROWS rows (batch runs only): for CRM and for sections that build on this
        one. Never shown in the HTML. A CustomerExport is written by its engine."""
        if self.build_dir is None:
            return
        folder = self.build_dir / "artifacts"
        if isinstance(table, pd.DataFrame):
            exports.write_frame(table, folder, name)
        else:
            table.write(folder, name)

    def read_artifact(self, name: str) -> pd.DataFrame | None:
        """An artifact an earlier section of this batch wrote, whole or in parts, or None
        (interactive runs, or the section did not run)."""
        if self.build_dir is None:
            return None
        return exports.read(self.build_dir / "artifacts", name)


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
