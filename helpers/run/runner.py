"""The quarterly batch: validate inputs, execute section notebooks with papermill, export HTML,
write metrics.json and index.html, then move the finished report into place atomically.

A report is built in a hidden sibling folder and only renamed to reports/<quarter> once every
section succeeded, so a failed or interrupted run never replaces the last good report. A failed
section's build is kept as reports/<quarter>.failed with the executed notebooks for debugging.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import nbformat
import papermill as pm
import pyarrow as pa
from jupyter_client import KernelManager
from papermill.exceptions import PapermillExecutionError

from helpers.core.config import TABLES, Config, load_config
from helpers.core.errors import InputFileError, ReportError, SectionFailedError
from helpers.core.outline import SECTIONS, Section, missing_tables
from helpers.core.periods import Year, comparison_periods
from helpers.data.engines import (
    ENGINE_MEMORY_VARIABLE,
    ENGINE_THREADS_VARIABLE,
    engine_service,
    open_engine,
)
from helpers.data.inputs import data_quality, prepare_inputs, write_clean_inputs
from helpers.data.reading import find_input_file
from helpers.render.html import export_html
from helpers.render.kpi_rows import labelled
from helpers.render.locale import Locale
from helpers.run.build_folder import (
    KERNEL_FILES,
    artifact_written,
    check_replaceable,
    keep_failed,
    publish,
    remove_stale_builds,
    report_lock,
)
from helpers.run.kernels import KernelPool
from helpers.run.progress import Progress, Verbosity
from helpers.run.related import refresh_related, write_index
from helpers.sections.kpis import mark_material
from helpers.sections.overview import headline_kpis, quarters_side_by_side
from helpers.sections.pacing import report_alerts, target_alerts
from helpers.sections.targets import records, scorecard, weighted_score

KERNEL = "ecom-report"


def section_engine(jobs: int) -> dict[str, str]:
    """The engine settings of each section's kernel, `jobs` sections at a time: DuckDB gets
    cores / jobs threads (oversubscribed DuckDB threads spin: at 1M customers, 2 sections at
    once took 77 s with 2 threads each, 60 s with 1), and ENGINE_MEMORY_VARIABLE's memory
    where it is set. No limit by default: at 10M customers 2 GB would cut the merchandise
    kernel from 5.6 to 2.3 GB, but CLV's customer summary and repurchase's first orders then
    run out of it (DuckDB cannot spill every operator)."""
    memory = os.environ.get(ENGINE_MEMORY_VARIABLE)
    return {ENGINE_THREADS_VARIABLE: str(max(1, (os.cpu_count() or 1) // max(1, jobs)))} | (
        {ENGINE_MEMORY_VARIABLE: memory} if memory else {}
    )


def report_dir(reports_dir: Path, config: Config) -> Path:
    """Where a period's finished report lives: reports/[<report_subdir>/]<2025Q4 or 2025>."""
    return reports_dir / config.report_subdir / config.period.label


FIGURE_AS_TEXT = re.compile(r"<Figure size \d+x\d+ with \d+ Axes>")


def execute_section(
    section: Section,
    build: Path,
    notebooks_dir: Path,
    parameters: dict,
    quarter: str,
    kernel: KernelManager,
) -> Path:
    """Run one section notebook with papermill on a started kernel (whose working directory is
    `notebooks_dir`); raise SectionFailedError naming the cell."""
    executed = build / "notebooks" / section.notebook
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            notebooks_dir / section.notebook,
            executed,
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=False,
            request_save_on_cell_execute=False,
            km=kernel,
        )
    except PapermillExecutionError as exc:
        raise SectionFailedError(
            quarter,
            section.name,
            f"cell {exc.cell_index} (execution count {exc.exec_count})",
            str(executed),
            f"{exc.ename}: {exc.evalue}",
        ) from exc
    check_charts_drawn(executed, quarter, section.name)
    return executed


def check_charts_drawn(executed: Path, quarter: str, section: str) -> None:
    """SectionFailedError where a chart came out as matplotlib's text stand-in ("<Figure size
    990x539 with 1 Axes>", what a figure shows under a non-inline backend) instead of an
    image: the page would publish the words, not the chart."""
    notebook = nbformat.read(executed, as_version=4)
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            shown = data.get("text/plain", "")
            if "image/png" not in data and FIGURE_AS_TEXT.match(shown):
                raise SectionFailedError(
                    quarter,
                    section,
                    f"cell {index}",
                    str(executed),
                    f"a chart came out as {shown!r}",
                )


def kill_kernel(kernel: KernelManager) -> None:
    """Stop a kernel at once, from any thread, without the shutdown handshake (which waits
    on the thread executing the notebook): its notebook then fails as a dead kernel."""
    pid = getattr(kernel.provisioner, "pid", None)
    if pid is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kernel_peak_mb(kernel: KernelManager) -> float | None:
    """The peak resident memory of a kernel's process so far (Linux's VmHWM), in MB; None
    where the system does not say."""
    pid = getattr(kernel.provisioner, "pid", None)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(found[0]) / 1024 if found else None


def clean_inputs(config: Config, folder: Path, progress: Progress) -> tuple[dict[str, Path], dict]:
    """Validate the inputs and write them as clean Parquet for the sections; return the paths
    and the data-quality summary. The staging database is closed on return, so the runner
    holds no input data while the notebooks run."""
    progress.started(config.period.label, "inputs")
    bundle = prepare_inputs(config)
    try:
        paths = write_clean_inputs(bundle, folder)
        quality = data_quality(bundle, config.period)
    finally:
        bundle.staging.close()
    rows = ", ".join(f"{t} {n:,} rows" for t, n in quality["rows"].items())
    progress.detail(config.period.label, f"inputs valid: {rows}")
    progress.finished(config.period.label, "inputs")
    return paths, quality


def return_freed_memory() -> None:
    """Hand the memory that input validation freed back to the OS while the kernels run:
    pyarrow's allocator keeps it otherwise (0.9 GB resident instead of 0.24 GB at 1M
    customers)."""
    pa.default_memory_pool().release_unused()


def overview(clean: dict[str, Path], config: Config, threads: int | None = None) -> dict:
    """What the index page shows beside the sections, over views of the clean tables, with
    `threads` engine threads: the headline KPIs, the targets scorecard and its weighted score,
    and for a year its quarters side by side."""
    engine = open_engine(config, clean, materialize=(), threads=threads)
    period = config.period
    try:
        kpis = headline_kpis(engine, comparison_periods(period))
        targets = engine.sql("SELECT * FROM targets") if engine.has("targets") else None
        card = scorecard(engine, targets, period, config.targets.score_cap_pct)
        return {
            "kpis": mark_material(kpis, config.material_change_pct, config.material_rate_change_pp),
            "scorecard": records(card),
            "score": weighted_score(card),
            "quarters": quarters_side_by_side(engine, period) if isinstance(period, Year) else [],
        }
    finally:
        engine.close()


def report_locale(config: Config) -> Locale:
    """The language, currency and period grain the report is written in."""
    return Locale(config.locale, config.currency, config.period.grain)


def plan_sections(config: Config) -> tuple[list[str], list[dict]]:
    """The sections to run, and those skipped because an input table they need is absent.
    InputFileError without an orders table: no report is published without one."""
    available = {table for table in TABLES if find_input_file(config, table) is not None}
    if "orders" not in available:
        raise InputFileError(
            f"no orders table in {config.data_dir} (looked for orders.csv, .parquet or .xlsx, "
            "in any case, or files.orders in the params): every report needs one"
        )
    runnable, skipped = [], []
    locale = report_locale(config)
    for name in config.sections:
        missing = missing_tables(SECTIONS[name], available)
        if missing:
            reason = locale.text(
                "notes.skipped_without", tables=[locale.term("table", t) for t in missing]
            )
            title = locale.text(f"sections.{name}.title")
            skipped.append({"name": name, "title": title, "reason": reason})
        else:
            runnable.append(name)
    if not runnable:
        raise ReportError(
            "no section can run: "
            + "; ".join(f"{skip['name']}: {skip['reason']}" for skip in skipped)
        )
    return runnable, skipped


def build_report(
    config: Config,
    build: Path,
    project: Path,
    extra_params: list[str],
    progress: Progress,
    jobs: int = 2,
) -> dict:
    """Everything of one quarter's report, written into `build`; returns metrics.json content.
    The query engine's service (if it needs one) runs meanwhile."""
    with engine_service(config, build / "engine"):
        return _build_sections(config, build, project, extra_params, progress, jobs)


def _build_sections(
    config: Config,
    build: Path,
    project: Path,
    extra_params: list[str],
    progress: Progress,
    jobs: int,
) -> dict:
    """The sections, the overview and metrics.json content of one report, built in `build`.

    Kernels for the first sections warm up while the inputs are validated; the index's KPIs
    are computed while the sections run, `jobs` at a time (section_engine)."""
    label = config.period.label
    runnable, skipped = plan_sections(config)
    locale = report_locale(config)
    progress.plan(label, runnable, skipped)
    engine = section_engine(jobs)
    limits = f"{engine[ENGINE_THREADS_VARIABLE]} core(s)" + (
        f" and {engine[ENGINE_MEMORY_VARIABLE]}" if ENGINE_MEMORY_VARIABLE in engine else ""
    )
    progress.detail(label, f"{jobs} section(s) at a time, {limits} each")
    sockets = Path(tempfile.mkdtemp(prefix=f"{KERNEL_FILES}{os.getpid()}-"))
    # the kernels' temporary files (DuckDB's spill folders) go in the run's kernel folder too,
    # removed at the end even where a kernel was killed before it could remove its own
    engine["TMPDIR"] = str(sockets)
    kernels = KernelPool(KERNEL, project / "notebooks", engine, jobs, len(runnable), sockets)
    try:
        clean, quality = clean_inputs(config, build / "clean", progress)
        return_freed_memory()
        parameters = {
            "period": label,
            "params_dir": str(project / "params"),
            "build_dir": str(build),
            "extra_params": extra_params,
        }

        running: set[KernelManager] = set()

        def run(name: str) -> dict:
            section = SECTIONS[name]
            progress.started(label, name)
            kernel = kernels.take()
            running.add(kernel)
            try:
                executed = execute_section(
                    section, build, project / "notebooks", parameters, label, kernel
                )
            except SectionFailedError:
                progress.failed(label, name)
                raise
            finally:
                running.discard(kernel)
                peak_mb = kernel_peak_mb(kernel)
                kernel.shutdown_kernel(now=True)
            title = locale.text(f"sections.{name}.title")
            page = {"title": title, "shop": config.shop_name, "quarter": label}
            following = runnable[runnable.index(name) + 1 :]
            if following:
                upcoming = following[0]
                page["next"] = {
                    "href": f"{upcoming}.html",
                    "title": locale.text(f"sections.{upcoming}.title"),
                }
            export_html(executed, build / f"{name}.html", locale, page)
            recorded = json.loads((build / "metrics" / f"{name}.json").read_text())
            progress.finished(label, name, recorded.get("withheld"), peak_mb)
            return {
                "name": name,
                "title": title,
                "summary": locale.text(f"sections.{name}.summary"),
                "href": f"{name}.html",
                **recorded,
            }

        with ThreadPoolExecutor(max_workers=1) as aside:  # beside the sections, not before
            # as many threads as a section's: with more, three engines share the cores
            threads = int(engine[ENGINE_THREADS_VARIABLE])
            beside = aside.submit(overview, clean, config, threads)
            results = run_in_dependency_order(
                runnable,
                run,
                jobs,
                written=lambda artifact: artifact_written(build, artifact),
                cancel=lambda: [kill_kernel(kernel) for kernel in list(running)],
            )
        found = beside.result()
        headline = labelled(found["kpis"], locale)
        marketing = results.get("marketing", {})
        budget = marketing.get("budget_lines") or []
        campaigns = marketing.get("campaign_budget_lines") or []
        return {
            "period": label,
            "grain": config.period.grain,
            "scorecard": found["scorecard"],
            "score": found["score"],
            "quarters": found["quarters"],
            "generated_at": datetime.now().isoformat(timespec="seconds"),
            "overview": headline,
            "alerts": report_alerts(
                headline,
                budget,
                config.alerts,
                target_alerts(found["scorecard"], label, config.alerts),
                campaigns,
            ),
            "sections": {name: results[name] for name in runnable},
            "skipped": skipped,
            "data_quality": quality,
        }
    finally:
        kernels.close()
        shutil.rmtree(sockets, ignore_errors=True)


def run_in_dependency_order(
    names: list[str],
    run: Callable[[str], dict],
    jobs: int,
    written: Callable[[str], bool] = lambda artifact: False,
    cancel: Callable[[], object] = lambda: None,
) -> dict[str, dict]:
    """Run sections on up to `jobs` threads (each drives its own kernel process). A section
    starts once the sections it reads from (Section.after) have finished, or earlier, as soon
    as `written` says every artifact it reads (Section.reads) is there. The first failure is
    raised after the running sections stop; nothing new starts after it. On an interrupt
    (Ctrl-C), `cancel` stops the running sections at once rather than waiting for them."""
    results: dict[str, dict] = {}
    pending = list(names)

    def ready(name: str) -> bool:
        section = SECTIONS[name]
        if all(d in results or d not in names for d in section.after):
            return True
        return bool(section.reads) and all(written(artifact) for artifact in section.reads)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        _run_pending(pool, pending, {}, results, run, ready)
    except KeyboardInterrupt:
        cancel()  # the sections' threads are left to end on their own, not waited for
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _run_pending(
    pool: ThreadPoolExecutor,
    pending: list[str],
    running: dict,
    results: dict[str, dict],
    run: Callable[[str], dict],
    ready: Callable[[str], bool],
) -> None:
    """Submit sections as they become ready until all have run; raise the first failure."""
    while pending or running:
        for name in [n for n in pending if ready(n)]:
            pending.remove(name)
            running[pool.submit(run, name)] = name
        polling = any(SECTIONS[n].reads for n in pending)  # for artifacts to appear
        done, _ = wait(running, timeout=0.25 if polling else None, return_when=FIRST_COMPLETED)
        for future in done:
            name = running.pop(future)
            if future.exception() is not None:
                pending.clear()
                wait(running)
                raise future.exception()
            results[name] = future.result()


def run_period(
    period: str | None,
    project: Path,
    reports_dir: Path,
    extra_params: list[str] | tuple = (),
    progress: Progress | None = None,
    jobs: int = 2,
) -> Path:
    """Build and publish one period's report (a quarter, '2025Q4', or a year, '2025'); return
    the folder it is in."""
    progress = progress or Progress()
    started = time.perf_counter()
    extra = [str(Path(p).resolve()) if Path(p).is_file() else str(p) for p in extra_params]
    config = load_config(project / "params", period, extra)
    final = report_dir(reports_dir, config)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with report_lock(final):
            _build_and_publish(config, final, project, extra, progress, jobs)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {final.parent}: {exc.strerror}") from None
    progress.published(config.period.label, final, time.perf_counter() - started)
    return final


def _build_and_publish(
    config: Config, final: Path, project: Path, extra: list[str], progress: Progress, jobs: int
) -> None:
    check_replaceable(final)
    for folder in remove_stale_builds(final):
        progress.detail(
            config.period.label, f"removed {folder.name}, left by a run that died", Verbosity.NORMAL
        )
    build = final.with_name(f".{final.name}.building-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        metrics = build_report(config, build, project, extra, progress, jobs)
        # customer-level inputs and per-section scratch files stay out of the published report
        for scratch in ("clean", "metrics", "engine"):
            shutil.rmtree(build / scratch, ignore_errors=True)
        period_file = project / "params" / f"{config.period.label}.yaml"
        files = ["default.yaml", *([period_file.name] if period_file.is_file() else [])]
        metrics["page"] = {
            "shop": config.shop_name,
            "title": config.report_title,
            "locale": config.locale,
            "currency": config.currency,
            "params": ", ".join(files + [Path(p).name for p in extra]),
            "score_cap_pct": config.targets.score_cap_pct,
        }
        (build / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        # the build folder sits beside the published reports: linked as it will be
        write_index(build, metrics)
    except SectionFailedError as error:
        kept = keep_failed(build, final, error)
        progress.failed(kept.quarter, kept.section, kept.notebook)
        raise kept from error
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    publish(build, final)
    for label in refresh_related(final):
        progress.detail(
            config.period.label,
            f"the report of {label} beside it was left without a link to it (made by an older "
            "version, or its metrics.json is unreadable): run it again to link them",
            Verbosity.QUIET,
        )
