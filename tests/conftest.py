"""Shared fixtures: a small generated data set and parameter files pointing at it."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from helpers.data import exports, sample
from tests.mutation_hooks import (  # noqa: F401 (for `make mutate`: pytest finds hooks by name here)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_runtest_setup,
    pytest_sessionfinish,
)

PROJECT = Path(__file__).resolve().parents[1]
QUARTERS = ("2025Q3", "2025Q4")  # what the shared batch reports on, and the year after them
YEAR = "2025"


def exported(export: exports.CustomerExport) -> pd.DataFrame:
    """A customer table as its engine writes it to a folder, read back."""
    with tempfile.TemporaryDirectory() as folder:
        export.write(Path(folder), "customers")
        return exports.read(Path(folder), "customers")


def catalogue_leaves(node, prefix=""):
    """Every text of a text catalogue (or part of one), with its dotted key."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from catalogue_leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A 3,000-customer sample data set (same generator as the default, smaller)."""
    out = tmp_path_factory.mktemp("small_data")
    sample.write(sample.generate(n_customers=3000, seed=7), out)
    return out


@pytest.fixture(scope="session")
def batch(small_data, tmp_path_factory):
    """Run the batch once for two quarters and their year on the small data set, for every
    end-to-end and browser test that reads a report; return (reports dir, extra params file,
    stdout)."""
    import yaml

    from helpers.run import cli

    tmp = tmp_path_factory.mktemp("batch")
    extra = tmp / "small.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(small_data), "shop_name": "Test shop"}))
    reports = tmp / "reports"
    argv = ["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(extra)]
    for quarter in QUARTERS:
        argv += ["--quarter", quarter]
    argv += ["--year", YEAR]
    printed, warned = io.StringIO(), io.StringIO()
    spilled = Path(tempfile.gettempdir()).glob  # kernels' DuckDB spill folders
    before = set(spilled("opsreport-engine-*"))
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(warned):
        assert cli.main(argv) == 0
    assert warned.getvalue() == ""  # no stray warnings
    assert set(spilled("opsreport-engine-*")) == before  # none left behind
    return reports, extra, printed.getvalue()


@pytest.fixture(scope="session")
def ran(batch):
    """The reports folder of the shared batch."""
    return batch[0]


@pytest.fixture
def params_for(tmp_path):
    """Write an extra parameter file with the given values; returns its path."""

    def write(**values) -> Path:
        import yaml

        path = tmp_path / f"extra_{len(list(tmp_path.glob('extra_*.yaml')))}.yaml"
        path.write_text(
            yaml.safe_dump({k: str(v) if isinstance(v, Path) else v for k, v in values.items()})
        )
        return path

    return write


@pytest.fixture
def alter_spend_fit(monkeypatch):
    """alter_spend_fit(**params): every Gamma-Gamma fit then comes out with these parameters."""
    from helpers.models import likelihood

    real = likelihood.fit_gamma_gamma

    def alter(**params):
        def altered(*args, **kwargs):
            estimate = real(*args, **kwargs)
            estimate.fitter.params_.update(params)
            return estimate

        monkeypatch.setattr(likelihood, "fit_gamma_gamma", altered)

    return alter


@pytest.fixture
def degenerate_spend(alter_spend_fit):
    """Every Gamma-Gamma fit comes out with q = 0.49: no defined mean spend."""
    alter_spend_fit(q=0.49)
