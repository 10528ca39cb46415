"""Input tables made ready for the report: read and mapped (reading), coerced and checked against
the data contract (checks, or staging's SQL for typed Parquet), staged in DuckDB (staging),
checked across tables, the exclusion rules applied and the clean tables written.

`prepare_inputs(config)` is the one entry point: it returns the staged clean tables or raises a
DataContractError listing every violation (file, column, rule, row count, example rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers.core.config import TABLES, Config
from helpers.core.errors import DataContractError, Violation
from helpers.core.periods import Period
from helpers.data.checks import coerce_and_check
from helpers.data.contract import CONTRACT
from helpers.data.locations import Location, name_of
from helpers.data.reading import find_input_file, map_columns, read_table
from helpers.data.staging import (
    StagedTables,
    Staging,
    apply_exclusions,
    check_across,
    check_typed,
    open_staging,
    typed_sources,
)


@dataclass
class InputBundle:
    """The clean input tables, staged; what was excluded by rule and which tables are absent."""

    staging: Staging
    sources: dict[str, str]
    exclusions: list[dict] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def tables(self) -> Mapping[str, pd.DataFrame]:
        """The clean tables as pandas frames, each read when asked for."""
        return StagedTables(self.staging)


def prepare_inputs(config: Config) -> InputBundle:
    """Read, map, coerce and validate every input table; raise on any contract violation."""
    staging, sources, violations, absent = open_staging(config), {}, [], []
    try:
        with staging.within_memory():
            for name in TABLES:
                path = find_input_file(config, name)
                if path is None:
                    absent.append(name)
                    continue
                sources[name] = name_of(path)
                violations += _stage(staging, name, path, config)
            if not violations:
                violations = check_across(staging, sources, config.period)
            if violations:
                raise DataContractError(violations)
            exclusions = apply_exclusions(staging, config)
    except BaseException:
        staging.close()  # its spill folder with it
        raise
    return InputBundle(staging, sources, exclusions, absent)


def _stage(staging: Staging, name: str, path: Location, config: Config) -> list[Violation]:
    """Stage one input and check it on its own: by SQL where it lies if it is typed Parquet,
    else read into pandas and coerced there."""
    spec, mapping, now = CONTRACT[name], config.columns.get(name, {}), pd.Timestamp.now()
    file = name_of(path)
    typed = typed_sources(path, spec, mapping, file)
    if typed is not None:
        staging.stage_parquet(name, path, typed[0])
        return check_typed(staging, name, file, typed[1], config.plausible_max, now)
    raw = map_columns(read_table(path, config.csv_encoding), spec, mapping, file)
    date_format = config.date_format.get(name)
    clean, found = coerce_and_check(raw, spec, file, date_format, config.plausible_max, now)
    if not found:
        staging.stage_frame(name, clean)
    return found


def data_quality(bundle: InputBundle, period: Period) -> dict:
    """What the report says about its inputs: files, absent tables, exclusions, rows used,
    and the dated tables that end before the period does (`ends_early`)."""
    return {
        "sources": bundle.sources,
        "absent": bundle.absent,
        "exclusions": bundle.exclusions,
        "rows": bundle.staging.rows(),
        "ends_early": ends_early(bundle.staging.last_days(), period),
    }


def ends_early(last_days: dict[str, pd.Timestamp], period: Period) -> list[dict]:
    """Each dated table whose last day falls before the period's (a quarter still running, a
    year with half its data): table and last day, so a report on part of a period says so."""
    return [
        {"table": name, "last": last.date().isoformat()}
        for name, last in last_days.items()
        if last < period.last_day
    ]


def write_clean_inputs(bundle: InputBundle, directory: Path) -> dict[str, Path]:
    """Write the clean tables as Parquet, the form every section reads them in."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.parquet" for name in bundle.staging.kinds}
    with bundle.staging.within_memory():
        for name, path in paths.items():
            bundle.staging.write(name, path)
    return paths
