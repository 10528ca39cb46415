"""The data contract enforced on one table: types coerced (text dates in one format, decided once
per column), then every violation collected with file, column, rule, row count and example rows;
the checks across tables are staging's."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from helpers.core.errors import Violation
from helpers.data.contract import TARGET_LEVELS, TARGET_METRICS, TableSpec

_TRUE = {"true", "1", "yes", "y", "t", "是"}


_FALSE = {"false", "0", "no", "n", "f", "否"}


MAX_EXAMPLES = 3

# the words of each rule, shared with the SQL checks of typed Parquet (staging)
EMPTY_FILE = "the file has a header but no rows"
NOT_FINITE = "not a finite number"
NEGATIVE = "negative value"
MORE_THAN_SESSIONS = "more than sessions"


def missing_column(found: list[str]) -> str:
    return f"missing required column (found: {', '.join(found)})"


def missing_value(column: str) -> str:
    return "orders with no customer" if column == "customer_id" else "missing value"


def after_run_date(today: pd.Timestamp) -> str:
    return f"date after the run date {today:%Y-%m-%d}"


def implausible(plausible_max: float) -> str:
    return f"implausibly large (above {plausible_max:,.0f}; raise plausible_max if real)"


def duplicate(key: list[str]) -> str:
    return f"duplicate {'+'.join(key)}"


def shown(value) -> str:
    """A cell's value in an example row."""
    return repr(value) if isinstance(value, str) else str(value)


def _examples(frame: pd.DataFrame, mask: pd.Series, column: str) -> list[str]:
    """The first few offending rows, numbered from 1 as in the file (header not counted)."""
    rows = np.flatnonzero(np.asarray(mask))[:MAX_EXAMPLES]
    return [f"row {i + 1}: {column}={shown(frame[column].iloc[i])}" for i in rows]


def _flagged(
    frame: pd.DataFrame,
    rows: pd.Series | np.ndarray,
    file: str,
    column: str,
    rule: str,
    label: str | None = None,
) -> list[Violation]:
    """A violation of `rule` by the `rows` (a mask; a missing cell is not flagged) of
    `frame`, with examples of `column` (shown under `label` when given); none when no row is
    flagged."""
    mask = pd.array(rows, dtype="boolean")  # pragma: no mutate (rows are booleans already)
    mask = mask.fillna(False)  # a missing cell is not flagged
    rows = mask.to_numpy(dtype=bool)  # pragma: no mutate (no NA left: bools either way)
    if not rows.any():
        return []
    return [Violation(file, label or column, rule, int(rows.sum()), _examples(frame, rows, column))]


def _text(raw: pd.Series) -> pd.Series:
    """Stripped text (a no-op conversion for columns already of string dtype)."""
    return raw.astype("str").str.strip().where(raw.notna())


def _given(raw: pd.Series) -> pd.Series:
    """Cells holding a value: not null and, for text, not blank."""
    types = pd.api.types
    if types.is_numeric_dtype(raw) or types.is_datetime64_any_dtype(raw):  # pragma: no mutate
        return raw.notna()  # a shortcut: numbers and dates, as text, are never blank
    return raw.notna() & _text(raw).ne("")


DATE_KINDS = ("timestamp", "date")


DATE_SAMPLE = 10_000  # values whose shapes decide a text date column's format


def date_format_of(text: pd.Series) -> tuple[str | None, str | None]:
    """The one strftime format of a column of date texts, or None and why there is none.

    Formats are guessed from the distinct shapes (digits masked) of up to DATE_SAMPLE values.
    Year-first dates are read year-month-day; a shape whose day and month could be either
    way round (03/10/2024) is never guessed, nor are several formats in one column."""
    given = text.dropna()
    sample = given.iloc[:: max(1, len(given) // DATE_SAMPLE)]
    shapes = sample.str.replace(r"\d", "9", regex=True)  # pragma: no mutate (speed: fewer)
    examples = sample.groupby(shapes).first()
    formats: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pragma: no mutate (quiet either way)
        for value in examples:
            month_first = guess_datetime_format(value)
            if month_first is None:
                continue  # left to the unparseable-value check
            if not month_first.startswith("%Y") and month_first != guess_datetime_format(
                value, dayfirst=True
            ):
                return None, (
                    f"day and month order cannot be told apart (e.g. {value!r}); set "
                    "date_format for this table in the params, e.g. '%d/%m/%Y' or '%m/%d/%Y'"
                )
            formats.setdefault(month_first, value)
    if len(formats) > 1:
        seen = ", ".join(f"{fmt} (e.g. {value!r})" for fmt, value in formats.items())
        return None, f"dates in several formats: {seen}; use one, or set date_format"
    return next(iter(formats), None), None


def _coerce_dates(
    raw: pd.Series, kind: str, date_format: str | None
) -> tuple[pd.Series, str | None]:
    """A date column parsed with one format (given, or the column's own: date_format_of), and
    why the column has no single format, if it has none. The text is stripped once."""
    problem = None  # pragma: no mutate (only its truth is read: "" is false too)
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        text = _text(raw)
        fmt, problem = (date_format, None) if date_format else date_format_of(text)
        parsed = pd.to_datetime(text, errors="coerce", format=fmt or "ISO8601")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_localize(None)
    return (parsed.dt.normalize() if kind == "date" else parsed), problem


def _coerce(frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    raw = frame[column]
    if kind == "number":
        return pd.to_numeric(raw, errors="coerce")
    if kind == "bool":
        if pd.api.types.is_bool_dtype(raw):  # pragma: no mutate (text reads True alike)
            return raw
        text = _text(raw).str.lower()
        return text.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA)
    text = _text(raw)
    return text.mask(text == "")


_KIND_WORDS = {
    "timestamp": "unparseable date/time",
    "date": "unparseable date",
    "number": "not a number",
    "bool": "not a yes/no value",
}


def coerce_and_check(
    frame: pd.DataFrame,
    spec: TableSpec,
    file: str,
    date_format: str | None = None,
    plausible_max: float = float("inf"),
    today: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Coerce every contract column to its kind; return the clean frame and the violations.

    Besides the kinds: an empty table, text dates in no single format, dates after `today`,
    numbers that are not finite or whose size exceeds `plausible_max`."""
    if frame.empty:
        return frame, [Violation(file, "-", EMPTY_FILE, 0)]
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        return frame, [
            Violation(
                file,
                c,
                missing_column(list(map(str, frame.columns))),
                len(frame),
            )
            for c in missing
        ]
    violations: list[Violation] = []
    clean = pd.DataFrame(index=frame.index)  # pragma: no mutate (the first column sets it)
    for column, kind in spec.columns.items():
        if column not in frame.columns:
            continue
        problem = None  # pragma: no mutate (only its truth is read)
        if kind in DATE_KINDS:
            clean[column], problem = _coerce_dates(frame[column], kind, date_format)
        else:
            clean[column] = _coerce(frame, column, kind)
        checks = (plausible_max, today, problem)
        violations += _value_violations(frame, clean, column, kind, file, *checks)
        # text is already stripped and blanks dropped: given exactly where the clean value is
        # coerced text has no blanks left: the shortcut gives what _given would
        is_text = kind in ("id", "text")  # pragma: no mutate
        was_given = clean[column].notna() if is_text else _given(frame[column])  # pragma: no mutate
        if kind in _KIND_WORDS:
            bad = was_given & clean[column].isna()
            violations += _flagged(frame, bad, file, column, _KIND_WORDS[kind])
        if column in spec.required:
            violations += _flagged(frame, ~was_given, file, column, missing_value(column))
    return clean, violations + _rule_violations(clean, spec, file)


def _value_violations(
    frame: pd.DataFrame,
    clean: pd.DataFrame,
    column: str,
    kind: str,
    file: str,
    plausible_max: float,
    today: pd.Timestamp | None,
    format_problem: str | None,
) -> list[Violation]:
    """Text dates in no single format (`format_problem`) or after today; infinite or
    implausibly large numbers."""
    values = clean[column]
    if kind == "number":
        infinite = np.isinf(values)
        huge = ~infinite & (values.abs() > plausible_max)
        return _flagged(frame, infinite, file, column, NOT_FINITE) + _flagged(
            frame, huge, file, column, implausible(plausible_max)
        )
    found = []
    if format_problem:
        given = _given(frame[column])
        found.append(Violation(file, column, format_problem, int(given.sum())))
    if kind in DATE_KINDS and today is not None:
        future = values >= today.normalize() + pd.Timedelta(days=1)
        found += _flagged(frame, future, file, column, after_run_date(today))
    return found


def _rule_violations(clean: pd.DataFrame, spec: TableSpec, file: str) -> list[Violation]:
    violations = []
    for column in spec.non_negative:
        if column in clean.columns:
            violations += _flagged(clean, clean[column] < 0, file, column, NEGATIVE)
    key = [c for c in spec.unique_key if c in clean.columns]
    if key:
        duplicated = clean.duplicated(subset=key, keep=False)
        violations += _flagged(clean, duplicated, file, key[0], duplicate(key), "+".join(key))
    if spec.name == "targets":
        violations += target_violations(clean, file)
    if {"engaged_sessions", "sessions"} <= set(clean.columns):  # pragma: no mutate (date too)
        over = clean["engaged_sessions"] > clean["sessions"]
        violations += _flagged(clean, over, file, "engaged_sessions", MORE_THAN_SESSIONS)
    return violations


TARGET_PERIOD = r"\d{4}(Q[1-4]|-(0[1-9]|1[0-2]))?"  # 2025, 2025Q4, 2025-10


def target_violations(targets: pd.DataFrame, file: str) -> list[Violation]:
    """Targets whose period is not a year, quarter or month, whose metric cannot be measured
    (at the level given), or that name more than one of channel, category and region. A
    missing period or metric is not flagged here: it is a missing value (_rule_violations)."""
    periods = targets["period"].astype("string").str.fullmatch(TARGET_PERIOD)  # NA where missing
    levels = targets.reindex(columns=list(TARGET_LEVELS)).notna()  # a level not given: none
    level = levels.idxmax(axis=1).where(levels.any(axis=1))
    pairs = zip(targets["metric"], level, strict=True)  # pragma: no mutate (same length)
    measurable = [
        pd.isna(metric)
        or (metric in TARGET_METRICS and (pd.isna(by) or by in TARGET_METRICS[metric]))
        for metric, by in pairs
    ]
    rules = (
        ("period", ~periods, "malformed period (expected YYYY, YYYYQn or YYYY-MM)"),
        ("metric", ~np.array(measurable), _unmeasurable()),
        ("metric", levels.sum(axis=1) > 1, "names more than one of channel, category, region"),
    )
    return [
        v for column, rows, problem in rules for v in _flagged(targets, rows, file, column, problem)
    ]


def _unmeasurable() -> str:
    known = "; ".join(f"{m} (by {', '.join(by)})" for m, by in TARGET_METRICS.items())
    return f"metric not measured at this level; known: {known}"
