"""Table and text display helpers for notebooks: formatted, index-free, stakeholder-ready."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd
from IPython.display import HTML, Markdown
from pandas.io.formats.style import Styler

from helpers.render import text
from helpers.render.formats import fmt_change, fmt_value
from helpers.render.kpi_rows import formatted_kpis
from helpers.sections.findings import Finding


def styled(
    frame: pd.DataFrame,
    units: dict[str, str],
    currency: str = "¥",
    labels: dict[str, str] | None = None,
    caption: str | None = None,
    changes: tuple[str, ...] = (),
) -> Styler:
    """A display table: each column formatted by its unit, renamed to a human label.

    `units` maps column -> unit (see helpers.render.formats); columns named in `changes` are
    formatted as changes (pp for rate units, % otherwise) and coloured green/red.
    """
    shown = frame[list(units)].rename(columns=labels or {})
    label = (labels or {}).get
    formats = {}
    for column, unit in units.items():
        name = label(column, column)
        if column in changes:
            formats[name] = lambda v, u=unit: fmt_change(v, u)
        elif unit == "text":
            formats[name] = lambda v: "" if v is None or v != v else str(v)
        else:
            formats[name] = lambda v, u=unit: fmt_value(v, u, currency)
    # text from the data (a campaign called <script>...) is shown, never run: values and
    # headers are HTML-escaped
    styler = (
        shown.style.format(formats, escape="html")
        .format_index(escape="html", axis=1)
        .hide(axis="index")
    )
    change_columns = [label(c, c) for c in changes]
    if change_columns:
        styler = styler.map(_change_colour, subset=change_columns)
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_table_attributes('class="report-table"')


def _change_colour(value) -> str:
    if value is None or value != value or value == 0:
        return ""
    return "color: #2e7d32" if value > 0 else "color: #c62828"


def safe_markdown(text: str) -> str:
    """Text from the data for Markdown: HTML-escaped (Markdown passes HTML through), and
    Markdown's own emphasis, link and code characters backslashed."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(text))


def findings_markdown(findings: list[Finding], currency: str = "¥") -> Markdown:
    """The section's findings as a bullet list in the catalogue's words (they quote names from
    the data, so each is made safe for Markdown)."""
    items = text.sentences(findings, currency=currency)
    heading = text.render("headings.findings")
    return Markdown(f"### {heading}\n" + "\n".join(f"- {safe_markdown(item)}" for item in items))


def note(content: str | Finding | Sequence[Finding], currency: str = "¥") -> HTML:
    """A highlighted note (definitions, caveats) that reads well in the HTML report: a text,
    or findings in the catalogue's words, one after another."""
    if isinstance(content, Finding):
        content = [content]
    if not isinstance(content, str):
        content = " ".join(text.sentences(content, currency=currency))
    return HTML(f'<div class="report-note">{html.escape(content)}</div>')


def kpi_styler(kpis: dict[str, dict], currency: str = "¥", targets: bool = False) -> Styler:
    """The headline KPI table: values per period, QoQ and YoY changes (and targets if asked)."""
    rows = pd.DataFrame(formatted_kpis(kpis, currency))
    names = text.catalogue()["kpi_table"]
    columns = [c for c in names if targets or c not in ("target", "attainment")]
    styler = rows[columns].rename(columns=names).style.hide(axis="index")
    for change, column in (("qoq_change", names["qoq"]), ("yoy_change", names["yoy"])):
        colours = [_change_colour(v) for v in rows[change]]
        styler = styler.apply(lambda _, c=colours: c, subset=[column])
    return styler.set_table_attributes('class="report-table"')
