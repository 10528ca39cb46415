"""Project hygiene users rely on: one environment for pip and conda, clean notebooks."""

import json

import yaml

from helpers.sections import SECTIONS

from .conftest import PROJECT


def _name(spec: str) -> tuple[str, str]:
    name, _, version = spec.replace("==", "=").partition("=")
    return name.strip().lower(), version.strip()


def test_environment_yml_and_requirements_pin_the_same_packages():
    lines = (PROJECT / "requirements.txt").read_text().splitlines()
    pip = dict(_name(line) for line in lines if line.strip() and not line.startswith("#"))
    conda = {}
    for entry in yaml.safe_load((PROJECT / "environment.yml").read_text())["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        conda.update(_name(spec) for spec in specs)
    conda.pop("python"), conda.pop("pip")
    assert pip == conda
    assert all(version for version in pip.values()), "every dependency is pinned"


def test_notebooks_are_clean_with_one_parameters_cell_and_the_project_kernel():
    for section in SECTIONS.values():
        notebook = json.loads((PROJECT / "notebooks" / section.notebook).read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code)
        tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1
        assert notebook["metadata"]["kernelspec"]["name"] == "ecom-report"
