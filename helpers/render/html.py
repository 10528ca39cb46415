"""Executed notebook -> self-contained HTML: no code, no prompts, no stderr, nothing fetched."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from helpers.render.headings import parts_in
from helpers.render.locale import Locale

TEMPLATES = Path(__file__).parent / "templates"
REPORT_CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")  # index and section pages


class DropStderrAndErrors(Preprocessor):
    """Remove warnings (stderr streams) and error outputs: stakeholders never see them."""

    def preprocess_cell(self, cell, resources, index):
        if cell.get("outputs"):
            cell.outputs = [
                out
                for out in cell.outputs
                if out.get("output_type") != "error"
                and not (out.get("output_type") == "stream" and out.get("name") == "stderr")
            ]
        return cell, resources


def make_exporter() -> HTMLExporter:
    """The HTML exporter with the offline report template (built once, reused per notebook)."""
    exporter = HTMLExporter(
        template_name="offline_report",
        extra_template_basedirs=[str(TEMPLATES / "nbconvert")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(DropStderrAndErrors(), enabled=True)
    return exporter


def contents(node: nbformat.NotebookNode) -> list[dict]:
    """The parts of an executed section notebook, in order: their ids and titles."""
    return [
        part
        for cell in node.cells
        for output in cell.get("outputs", [])
        for part in parts_in(output.get("data", {}).get("text/markdown", ""))
    ]


def export_html(
    notebook: Path,
    target: Path,
    locale: Locale,
    page: dict,
    exporter: HTMLExporter | None = None,
) -> Path:
    """Write `notebook` as a section's report page to `target`, in the locale's language: its
    title (`page`: title, shop, quarter), a table of contents of its parts, links back to the
    overview and on to the next section (`page["next"]`: href and title, or None)."""
    node = nbformat.read(notebook, as_version=4)
    node.metadata["title"] = locale.text(
        "headings.page", title=page["title"], shop=page["shop"], quarter=page["quarter"]
    )
    node.metadata["report"] = {
        "lang": locale.code,
        "back": locale.text("headings.back"),
        "contents": locale.text("headings.contents"),
        "toc": contents(node),
        "next": page.get("next"),
        "css": REPORT_CSS,
    }
    body, _ = (exporter or make_exporter()).from_notebook_node(node)
    target.write_text(body, encoding="utf-8")
    return target
