"""Executed notebook -> self-contained HTML: no code, no prompts, no stderr, nothing fetched."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from helpers.render.locale import Locale

TEMPLATES = Path(__file__).parent / "templates"


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


def export_html(
    notebook: Path,
    target: Path,
    locale: Locale,
    title: str,
    quarter: str,
    exporter: HTMLExporter | None = None,
) -> Path:
    """Write `notebook` as the report page of section `title` for `quarter` to `target`, in
    the locale's language (the page's lang attribute and its link back to the overview)."""
    node = nbformat.read(notebook, as_version=4)
    node.metadata["title"] = locale.text("headings.page", title=title, quarter=quarter)
    node.metadata["report"] = {"lang": locale.code, "back": locale.text("headings.back")}
    body, _ = (exporter or make_exporter()).from_notebook_node(node)
    target.write_text(body, encoding="utf-8")
    return target
