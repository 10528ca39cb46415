"""Shared fixtures: a small generated data set and parameter files pointing at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.data import sample

PROJECT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Under `make mutate`, run the whole module of each test mutmut picks for a mutant: it
    credits the work of a module-scoped fixture (a section built once for several tests) to
    the module's first test only, so the other tests of that section would never meet it."""
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        config.args[:] = list(dict.fromkeys(arg.split("::")[0] for arg in config.args))


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A 3,000-customer sample data set (same generator as the default, smaller)."""
    out = tmp_path_factory.mktemp("small_data")
    sample.write(sample.generate(n_customers=3000, seed=7), out)
    return out


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
def degenerate_spend(monkeypatch):
    """Every Gamma-Gamma fit comes out with q = 0.49: no defined mean spend."""
    from helpers.models import likelihood

    real = likelihood.fit_gamma_gamma

    def degenerate(*args, **kwargs):
        estimate = real(*args, **kwargs)
        estimate.fitter.params_["q"] = 0.49
        return estimate

    monkeypatch.setattr(likelihood, "fit_gamma_gamma", degenerate)
