"""Analysts run the notebooks in JupyterLab with their default parameters and no runner."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.core.outline import SECTIONS

from .conftest import PROJECT

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("section", list(SECTIONS))
def test_notebook_runs_top_to_bottom_with_defaults(section):
    if not (PROJECT / "data" / "sample" / "orders.parquet").is_file():
        pytest.fail("data/sample is missing: run `make data` (make test does)")
    path = PROJECT / "notebooks" / SECTIONS[section].notebook
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    source = "\n".join(cell.source for cell in notebook.cells)
    drawn = len(re.findall(r"charts\.[a-z_]+\(", source))  # on the sample, every chart shows
    assert sum("image/png" in o.get("data", {}) for o in outputs) == drawn >= 1
