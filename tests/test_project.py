"""Project hygiene users rely on: one environment for pip and conda, clean notebooks."""

import json
import os
import threading
import time

import pytest
import yaml

from helpers.data_access import ENGINE_THREADS_VARIABLE, DataEngine
from helpers.runner import engine_threads, run_in_dependency_order
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


def test_sections_run_after_the_sections_they_read_and_stop_at_the_first_failure():
    finished: list[str] = []
    lock = threading.Lock()

    def run(name: str) -> dict:
        time.sleep({"clv": 0.2}.get(name, 0.01))
        with lock:
            finished.append(name)
        return {"name": name}

    results = run_in_dependency_order(["traffic", "clv", "repurchase", "marketing"], run, jobs=2)
    assert set(results) == {"traffic", "clv", "repurchase", "marketing"}
    assert finished.index("marketing") > finished.index("clv")  # marketing reads CLV's output
    assert finished[0] != "clv"  # independent sections did not wait for the slow one

    def fail(name: str) -> dict:
        if name == "clv":
            raise RuntimeError("clv broke")
        return run(name)

    finished.clear()
    with pytest.raises(RuntimeError, match="clv broke"):
        run_in_dependency_order(["clv", "marketing"], fail, jobs=2)
    assert "marketing" not in finished  # nothing that depends on a failure starts


def test_section_engines_take_the_threads_the_runner_gives_them(monkeypatch):
    def threads() -> int:
        engine = DataEngine({})
        try:
            return engine.con.execute("SELECT current_setting('threads')").fetchone()[0]
        finally:
            engine.close()

    monkeypatch.delenv(ENGINE_THREADS_VARIABLE, raising=False)
    assert threads() == os.cpu_count()
    with engine_threads(1):
        assert os.environ[ENGINE_THREADS_VARIABLE] == "1" and threads() == 1
    assert ENGINE_THREADS_VARIABLE not in os.environ and threads() == os.cpu_count()
