"""The report folder's safety: a report is built in a hidden sibling folder and swapped into
place whole, only a folder this tool wrote is ever replaced, one run at a time may build a
given report, a failed build keeps only what debugging needs, and what killed runs left
behind is removed by the next."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.core.errors import ReportError, SectionFailedError

MARKER = ".opsreport"  # in every report folder this tool writes: the only ones it replaces


def check_replaceable(final: Path) -> None:
    """ReportError unless `final` is absent or a report this tool wrote."""
    if final.exists() and not (final / MARKER).is_file() and not (final / "metrics.json").is_file():
        raise ReportError(
            f"{final} exists and was not written by opsreport; it is left as it is. Choose "
            "another report_subdir or --reports-dir, or move that folder away"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


KERNEL_FILES = "opsreport-"  # + pid: a run's kernel sockets and connection files, in temp


def remove_stale_builds(final: Path) -> list[Path]:
    """Remove build and swap folders of this report, and kernel files of any run, left by
    runs that died (kill -9)."""
    removed = []
    for folder in final.parent.glob(f".{final.name}.*-*"):
        kind, _, pid = folder.name.rpartition("-")
        if kind.endswith((".building", ".old")) and pid.isdigit() and not _alive(int(pid)):
            removed.append(folder)
    for folder in Path(tempfile.gettempdir()).glob(f"{KERNEL_FILES}*-*"):
        pid = folder.name.removeprefix(KERNEL_FILES).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            removed.append(folder)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


@contextmanager
def report_lock(final: Path) -> Iterator[None]:
    """Hold an exclusive lock on one report folder for a whole run, so two runs of the same
    report never race on the final rename; a second run fails at once, saying why."""
    lock = final.with_name(f".{final.name}.lock")
    with lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReportError(
                f"another opsreport run is building {final}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(build: Path, final: Path) -> None:
    """Swap the finished build into place; the old report (and any stale failed build) is
    removed only afterwards."""
    check_replaceable(final)
    (build / MARKER).write_text("written by opsreport\n")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    build.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(final.with_name(f"{final.name}.failed"), ignore_errors=True)


def keep_failed(build: Path, final: Path, error: SectionFailedError) -> SectionFailedError:
    """Keep the failed build's executed notebooks for debugging, and nothing with customer
    ids (the cleaned inputs, the CRM artifacts)."""
    for customer_level in ("clean", "artifacts"):
        shutil.rmtree(build / customer_level, ignore_errors=True)
    failed = final.with_name(f"{final.name}.failed")
    shutil.rmtree(failed, ignore_errors=True)
    build.rename(failed)
    kept = str(failed / "notebooks" / Path(error.notebook).name)
    return SectionFailedError(
        error.quarter, error.section, error.cell, kept, str(error.__cause__ or error)
    )


def artifact_written(build: Path, name: str) -> bool:
    """Whether a section has written artifact `name` to the build folder, whole or in parts
    (notebook.SectionContext.save_artifact)."""
    folder = build / "artifacts"
    return (folder / f"{name}.parquet").is_file() or (folder / name).is_dir()
