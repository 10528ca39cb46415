"""Executed notebook -> self-contained HTML: no code, no prompts, no stderr, nothing fetched."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

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
    notebook: Path, target: Path, title: str, exporter: HTMLExporter | None = None
) -> Path:
    """Write `notebook` as a report page titled `title` to `target`."""
    node = nbformat.read(notebook, as_version=4)
    node.metadata["title"] = title
    body, _ = (exporter or make_exporter()).from_notebook_node(node)
    target.write_text(body, encoding="utf-8")
    return target
