"""Project hygiene users rely on: one environment for pip and conda, clean notebooks."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers.core.errors import KernelStartError
from helpers.core.outline import SECTIONS
from helpers.data.engines import ENGINE_MEMORY_VARIABLE, ENGINE_THREADS_VARIABLE, DuckDBEngine
from helpers.run.kernels import KernelPool
from helpers.run.runner import KERNEL, run_in_dependency_order, section_engine

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


def _git(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=PROJECT, input=stdin, capture_output=True, check=True)
    return done.stdout.decode().strip()


@pytest.mark.slow
def test_a_notebook_saved_from_jupyterlab_leaves_git_clean():
    """What JupyterLab writes after a run (outputs, execution counts, fresh cell ids, language
    metadata) is what git stores once the repository's clean filter (make setup) has run."""
    assert _git("config", "filter.nbstripout.clean"), "run make setup: it installs the filter"
    for section in SECTIONS.values():
        path = f"notebooks/{section.notebook}"
        notebook = nbformat.read(PROJECT / path, as_version=4)
        for n, cell in enumerate(notebook.cells):
            cell["id"] = uuid.uuid4().hex[:8]
            if cell.cell_type == "code":
                cell.execution_count = n + 1
                cell.outputs = [nbformat.v4.new_output("stream", text=f"run {n}\n")]
        notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
        saved = nbformat.writes(notebook).encode() + b"\n"
        assert b'"outputs": []' not in saved.split(b'"source"')[1]  # it did carry outputs
        committed = _git("hash-object", "--no-filters", path)
        assert _git("hash-object", f"--path={path}", "--stdin", stdin=saved) == committed


def test_no_layer_imports_one_above_it():
    """The contracts in pyproject.toml: run -> render -> sections -> models -> data -> core,
    and nothing below render draws, displays or templates."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([lint], cwd=PROJECT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


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


def test_a_section_starts_once_the_artifacts_it_reads_are_written():
    saved, finished = threading.Event(), []

    def run(name: str) -> dict:
        if name == "clv":
            saved.set()  # clv_by_channel written; charts and the CRM table still to come
            time.sleep(0.5)
        finished.append(name)
        return {"name": name}

    def written(artifact: str) -> bool:
        return artifact == "clv_by_channel" and saved.is_set()

    run_in_dependency_order(["clv", "marketing"], run, jobs=2, written=written)
    assert finished == ["marketing", "clv"]  # marketing ran while CLV was still running
    saved.clear()
    finished.clear()
    run_in_dependency_order(["clv", "marketing"], run, jobs=2)  # nothing written: it waits
    assert finished == ["clv", "marketing"]


def test_engine_threads_follow_the_variable(monkeypatch):
    def threads() -> int:
        engine = DuckDBEngine({})
        try:
            return engine.con.execute("SELECT current_setting('threads')").fetchone()[0]
        finally:
            engine.close()

    monkeypatch.delenv(ENGINE_THREADS_VARIABLE, raising=False)
    assert threads() == os.cpu_count()
    monkeypatch.setenv(ENGINE_THREADS_VARIABLE, "1")
    assert threads() == 1


def test_engine_memory_follows_the_variable_and_spills_to_a_folder_it_removes(monkeypatch):
    monkeypatch.delenv(ENGINE_MEMORY_VARIABLE, raising=False)
    unlimited = DuckDBEngine({})
    assert unlimited.spill is None
    unlimited.close()
    monkeypatch.setenv(ENGINE_MEMORY_VARIABLE, "1GiB")
    engine = DuckDBEngine({})
    settings = "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    limit, folder = engine.con.execute(settings).fetchone()
    assert limit == "1.0 GiB" and folder == engine.spill.name and os.path.isdir(folder)
    engine.close()
    assert not os.path.exists(folder)


def test_each_section_kernel_gets_its_share_of_cores_and_any_memory_limit_set(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv(ENGINE_MEMORY_VARIABLE, raising=False)
    assert section_engine(2) == {ENGINE_THREADS_VARIABLE: "2"}
    monkeypatch.setenv(ENGINE_MEMORY_VARIABLE, "6GB")
    assert section_engine(8) == {ENGINE_THREADS_VARIABLE: "1", ENGINE_MEMORY_VARIABLE: "6GB"}


CHECK = (
    "import os, sys; from helpers.data.engines import DuckDBEngine; "
    "engine = DuckDBEngine({}); "
    "print(*engine.con.execute(\"SELECT current_setting('threads'), "
    "replace(current_setting('memory_limit'), ' ', '')\").fetchone(), "
    "'helpers.render.charts' in sys.modules, os.getcwd())"
)


def _printed_by(kernel, code: str) -> str:
    client, printed = kernel.client(), []
    client.start_channels()
    try:
        client.execute_interactive(
            code, output_hook=lambda msg: printed.append(msg["content"].get("text", "")), timeout=60
        )
    finally:
        client.stop_channels()
    return "".join(printed)


@pytest.mark.slow
def test_kernel_pool_hands_out_warm_kernels_with_the_engine_settings(tmp_path):
    """Kernels come with the helpers imported and their DuckDB held to the thread and memory
    limits given, their connection files in the run's folder; a take beyond the planned total
    still gets a kernel; close() shuts down the ones never taken."""
    spill = tmp_path / "tmp"  # where the kernels' DuckDB spills (the runner's kernel folder)
    spill.mkdir()
    engine = {ENGINE_THREADS_VARIABLE: "1", ENGINE_MEMORY_VARIABLE: "1GiB", "TMPDIR": str(spill)}
    pool = KernelPool(KERNEL, PROJECT / "notebooks", engine, ready=1, total=1, runtime=tmp_path)
    taken = []
    try:
        taken = [pool.take(), pool.take()]
        for kernel in taken:
            printed = _printed_by(kernel, CHECK).split()
            assert printed == ["1", "1.0GiB", "True", str(PROJECT / "notebooks")]
            assert Path(kernel.connection_file).parent == tmp_path
            assert kernel.transport == "ipc"  # local sockets: no TCP port to race for
        assert len(list(spill.glob("opsreport-engine-*"))) == 2  # one spill folder each
    finally:
        for kernel in taken:
            kernel.shutdown_kernel(now=True)
        pool.close()
    assert not any(kernel.is_alive() for kernel in taken)


def test_kernel_pool_warms_the_first_round_then_one_spare_at_a_time(monkeypatch):
    """Two sections at a time warm two kernels ahead; afterwards one idle kernel (0.25 GB)
    waits at most, and no more than `total` start."""
    started = []
    monkeypatch.setattr(
        "helpers.run.kernels._start_warm_kernel", lambda *_: started.append(1) or len(started)
    )
    pool = KernelPool(KERNEL, PROJECT / "notebooks", engine={}, ready=2, total=5)
    try:
        idle = [len(pool._warming)]  # started, not taken
        for _ in range(5):
            pool.take()
            idle.append(len(pool._warming))
    finally:
        pool.close()
    assert idle == [2, 1, 1, 1, 1, 0]
    assert len(started) == 5


def test_kernel_pool_says_how_to_fix_a_kernel_it_cannot_start():
    pool = KernelPool("no-such-kernel", PROJECT / "notebooks", engine={}, ready=1, total=1)
    try:
        with pytest.raises(KernelStartError, match="no-such-kernel.*make setup"):
            pool.take()
    finally:
        pool.close()


def test_the_benchmark_finds_the_project_it_runs():
    from helpers.run import bench

    assert (bench.PROJECT / "params" / "default.yaml").is_file()
    assert (bench.PROJECT / "notebooks").is_dir()


def test_no_dead_code(tmp_path):
    """vulture over the package and the notebooks' code finds nothing unused, beyond the names
    in dead_code_allowlist.py that frameworks use."""
    cells = []
    for section in SECTIONS.values():
        notebook = nbformat.read(PROJECT / "notebooks" / section.notebook, as_version=4)
        cells += [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    notebooks = tmp_path / "notebooks_code.py"
    notebooks.write_text("\n\n".join(cells))
    allowlist = PROJECT / "tests" / "dead_code_allowlist.py"
    vulture = Path(sys.executable).parent / "vulture"
    found = subprocess.run(
        [vulture, PROJECT / "helpers", notebooks, allowlist, "--min-confidence", "60"],
        capture_output=True,
        text=True,
    )
    unused = [line for line in found.stdout.splitlines() if str(notebooks) not in line]
    assert not unused, "\n".join(unused)


def test_the_mutation_report_counts_survivors_of_those_run_and_flags_a_run_not_finished(
    tmp_path, capsys
):
    """Of 4 mutants run, 1 survived and 1 no test runs: 50%, above a 10% target; one not run
    yet makes the verdict incomplete, whatever the share."""
    from tests import mutation_report

    meta = tmp_path / "helpers" / "sections" / "x.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"a__mutmut_1": 1, "a__mutmut_2": 0, "a__mutmut_3": 33, "a__mutmut_4": -24}
    meta.write_text(json.dumps({"exit_code_by_key": {**codes, "a__mutmut_5": None}}))
    assert mutation_report.main(["--mutants", str(tmp_path), "--list", "--target", "60"]) == 1
    out = capsys.readouterr().out
    assert "| helpers/sections/x | 5 | 2 | 1 | 1 | 1 | 50.0% |" in out
    assert "  a__mutmut_2\n  a__mutmut_3" in out and "1 mutants not run yet" in out
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    assert mutation_report.main(["--mutants", str(tmp_path), "--target", "60"]) == 0
    assert mutation_report.main(["--mutants", str(tmp_path), "--target", "10"]) == 1
    capsys.readouterr()
    assert mutation_report.main(["--mutants", str(tmp_path), "--names"]) == 0
    assert capsys.readouterr().out.split() == ["a__mutmut_2", "a__mutmut_3"]


def _meta(path: Path, codes: dict[str, int | None], hashes: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes, "hash_by_function_name": hashes}))


def test_the_mutation_ledger_gives_back_the_verdicts_of_unchanged_functions_only(tmp_path):
    """Saved from one mutants/ and restored into a new one, every verdict comes back, keyed as
    mutmut keys it; into a mutants/ where one function changed, only the other's missing ones."""
    from tests import mutation_ledger

    first, ledger = tmp_path / "first", tmp_path / "ledger.json"
    codes = {
        "helpers.sections.x.x_a__mutmut_1": 1,
        "helpers.sections.x.x_a__mutmut_2": None,
        "helpers.sections.x.x_a__mutmut_3": 0,
        "helpers.sections.x.xǁCǁb__mutmut_1": 33,
    }
    hashes = {"x_a": "h1", "xǁCǁb": "h2", "x_none": "h3"}
    _meta(first / "helpers" / "sections" / "x.py.meta", codes, hashes)
    assert mutation_ledger.main(["save", "--mutants", str(first), "--ledger", str(ledger)]) == 0
    assert json.loads(ledger.read_text())["helpers/sections/x.py"]["x_a"] == {
        "hash": "h1",
        "codes": [1, None, 0],
    }

    fresh = tmp_path / "fresh"
    (fresh / "helpers" / "sections").mkdir(parents=True)
    (fresh / "helpers" / "sections" / "x.py").write_text("stale mutants")
    assert mutation_ledger.restore(fresh, ledger) == 3
    restored = json.loads((fresh / "helpers" / "sections" / "x.py.meta").read_text())
    assert restored["exit_code_by_key"] == {k: v for k, v in codes.items() if v is not None}
    assert restored["hash_by_function_name"] == hashes
    assert not (fresh / "helpers" / "sections" / "x.py").exists()  # mutmut mutates it anew

    changed = tmp_path / "changed"
    waiting = dict.fromkeys(codes)
    _meta(changed / "helpers" / "sections" / "x.py.meta", waiting, {**hashes, "x_a": "new"})
    assert mutation_ledger.restore(changed, ledger) == 1
    restored = json.loads((changed / "helpers" / "sections" / "x.py.meta").read_text())
    assert restored["exit_code_by_key"] == {**waiting, "helpers.sections.x.xǁCǁb__mutmut_1": 33}


def test_mutants_meet_their_cheapest_tests_first_a_modules_tests_together():
    """Module b costs 5 s of setup to reach, a 1 s, c was never timed: a's tests by their own time,
    then b's, then c's."""
    from tests.mutation_hooks import cheapest_first

    seconds = {
        "a.py::slow": {"setup": 1.0, "call": 3.0, "teardown": 0.0},
        "a.py::quick": {"setup": 0.0, "call": 0.5, "teardown": 0.1},
        "b.py::one": {"setup": 5.0, "call": 0.1},
        "b.py::two": {"setup": 0.0, "call": 0.0},
    }
    nodeids = ["c.py::new", "b.py::one", "a.py::slow", "b.py::two", "a.py::quick"]
    assert cheapest_first(nodeids, seconds) == [
        "a.py::quick",
        "a.py::slow",
        "b.py::two",
        "b.py::one",
        "c.py::new",
    ]
