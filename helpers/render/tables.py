"""Table and text display helpers for notebooks: formatted, index-free, stakeholder-ready."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd
from IPython.display import HTML, Markdown
from pandas.io.formats.style import Styler

from helpers.render.headings import part_heading
from helpers.render.kpi_rows import formatted_kpis
from helpers.render.locale import Locale
from helpers.sections.findings import Finding


def column_label(locale: Locale, table: str | None, column: str) -> str:
    """A column's header: the table's own label (`tables.<table>.columns.<column>`) where it
    has one, else the shared one (`columns.<column>`)."""
    if table is not None:
        own = locale.lookup(f"tables.{table}").get("columns", {})
        if column in own:
            return locale.text(f"tables.{table}.columns.{column}")
    return locale.text(f"columns.{column}")


def _formatter(column: pd.Series, unit: str, locale: Locale, as_change: bool):
    """How each cell of a column reads: counts and amounts in one unit for the column."""
    if as_change:
        return lambda v: locale.change(v, unit)
    if unit == "text":
        return lambda v: "" if v is None or v != v else str(v)
    if unit == "quarter":
        return lambda v: "" if v is None or v != v else locale.quarter(str(v))
    scale = locale.scale(column) if unit in ("count", "currency") else None
    return lambda v: locale.value(v, unit, scale)


def styled(
    frame: pd.DataFrame,
    units: dict[str, str],
    locale: Locale,
    table: str | None = None,
    changes: tuple[str, ...] = (),
) -> Styler:
    """A display table: each column formatted by its unit, under its header from the
    catalogue, with the table's caption (`tables.<table>.caption`) if it has one.

    `units` maps column -> unit (see helpers.render.formats; also "text" for names from the
    data and "quarter" for quarter labels); columns named in `changes` are formatted as
    changes (pp for rate units, % otherwise) and coloured green/red.
    """
    labels = {column: column_label(locale, table, column) for column in units}
    shown = frame[list(units)].rename(columns=labels)
    formats = {
        labels[c]: _formatter(frame[c], unit, locale, c in changes) for c, unit in units.items()
    }
    # text from the data (a campaign called <script>...) is shown, never run: values and
    # headers are HTML-escaped
    styler = (
        shown.style.format(formats, escape="html")
        .format_index(escape="html", axis=1)
        .hide(axis="index")
    )
    change_columns = [labels[c] for c in changes]
    if change_columns:
        styler = styler.map(_change_colour, subset=change_columns)
    if table is not None and "caption" in locale.lookup(f"tables.{table}"):
        styler = styler.set_caption(html.escape(locale.text(f"tables.{table}.caption")))
    return styler.set_table_attributes('class="report-table"')


COLOURS = {"good": "color: #1f5fa8", "bad": "color: #b35806; font-weight: 600"}  # blue /
# orange: told apart by colour-blind readers too


def _change_colour(value) -> str:
    """A rise (good) or fall (bad) of a column where more is better."""
    if value is None or value != value or value == 0:
        return ""
    return COLOURS["good" if value > 0 else "bad"]


def safe_markdown(text: str) -> str:
    """Text from the data for Markdown: HTML-escaped (Markdown passes HTML through), and
    Markdown's own emphasis, link and code characters backslashed."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(text))


def findings_markdown(findings: Sequence[Finding], locale: Locale) -> Markdown:
    """The section's findings as a bullet list in the catalogue's words (they quote names from
    the data, so each is made safe for Markdown)."""
    items = locale.sentences(findings)
    heading = part_heading("findings", locale.text("headings.findings"))
    return Markdown(f"{heading}\n\n" + "\n".join(f"- {safe_markdown(item)}" for item in items))


def note(content: str | Finding | Sequence[Finding], locale: Locale | None = None) -> HTML:
    """A highlighted note (definitions, caveats) that reads well in the HTML report: a text
    (already in the report's words), or findings worded in the `locale`, one after another."""
    if isinstance(content, Finding):
        content = [content]
    if not isinstance(content, str):
        if locale is None:
            raise TypeError("findings in a note need the report's locale to be worded")
        content = locale.lookup("words.sentence_gap").join(locale.sentences(content))
    return HTML(f'<div class="report-note">{html.escape(content)}</div>')


def kpi_styler(kpis: dict[str, dict], locale: Locale, targets: bool = False) -> Styler:
    """The headline KPI table: values per period, QoQ and YoY changes (and targets if asked)."""
    rows = pd.DataFrame(formatted_kpis(kpis, locale))
    names = locale.lookup("kpi_table")
    columns = [c for c in names if targets or c not in ("target", "attainment")]
    styler = rows[columns].rename(columns=names).style.hide(axis="index")
    judged = {"qoq": "qoq_class", "yoy": "yoy_class", "attainment": "attainment_class"}
    for column in (c for c in columns if c in judged):
        colours = [COLOURS.get(j, "") for j in rows[judged[column]]]
        styler = styler.apply(lambda _, c=colours: c, subset=[names[column]])
    return styler.set_table_attributes('class="report-table"')
