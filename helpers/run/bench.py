"""Benchmark the quarterly batch at scale, against the naive way of doing the same work.

    python -m helpers.run.bench --customers 100000 --customers 1000000 [--engine spark]

For each size: generate the sample data set (reused while its size is the same), run the whole
batch (`opsreport`) on each engine asked for (DuckDB by default), and, unless --batch-only,
measure side by side: our DuckDB customer summary against lifetimes'
summary_data_from_transaction_data (results checked identical), the weighted BG/NBD fit
against lifetimes' plain per-customer fit (parameters checked equal to 1e-4), and the batch
runner against running the same notebooks one after another with the papermill and jupyter
nbconvert command-line tools. Memory is the peak resident memory of the whole process tree
(kernels and the Spark server included), sampled from /proc (Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

PROJECT = Path(__file__).resolve().parents[2]  # helpers/run/bench.py
BIN = Path(sys.executable).parent


@dataclass
class Step:
    """One measured step: wall seconds and peak resident memory of its processes."""

    size: int
    name: str
    seconds: float
    peak_mb: float
    note: str = ""


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                stack += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


class TreeMemory:
    """Samples the summed RSS of a process and its descendants every 0.1 s; keeps the peak,
    the peak of the process itself (`own_peak_kb`), and of each kernel process (ipykernel)."""

    def __init__(self, pid: int | None = None):
        self.pid, self.peak_kb, self.own_peak_kb, self.kernels = pid or os.getpid(), 0, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(self.pid)
            sizes = {pid: _rss_kb(pid) for pid in pids}
            self.peak_kb = max(self.peak_kb, sum(sizes.values()))
            self.own_peak_kb = max(self.own_peak_kb, sizes.get(self.pid, 0))
            for pid, size in sizes.items():
                if pid in self.kernels or _is_kernel(pid):
                    self.kernels[pid] = max(self.kernels.get(pid, 0), size)
            self._stop.wait(0.1)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def _is_kernel(pid: int) -> bool:
    try:
        return b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def run_command(command: list[str], cwd: Path = PROJECT) -> tuple[str, float, TreeMemory]:
    """Run a command to completion; return its output, wall seconds and memory sampler."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    with TreeMemory(process.pid) as memory:
        output, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return output, time.perf_counter() - started, memory


def generate(size: int, folder: Path) -> Step:
    manifest = folder / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("customers") == size:
        return Step(size, "generate data (cached)", 0.0, 0.0, f"{folder}")
    _, seconds, memory = run_command(
        [
            str(BIN / "python"),
            "-m",
            "helpers.data.sample",
            "--customers",
            str(size),
            "--out",
            str(folder),
        ]
    )
    rows = json.loads(manifest.read_text())["rows"]["orders"]
    return Step(size, "generate data", seconds, memory.peak_mb, f"{rows:,} orders")


def batch(size: int, params: Path, reports: Path, engine: str) -> list[Step]:
    """The whole batch on `engine`, then each section's wall time (from its log); kernels' peak
    memory is reported together, since two kernels start at once and cannot be told apart by
    process."""
    output, seconds, memory = run_command(
        [str(BIN / "opsreport"), "--params", str(params), "--reports-dir", str(reports)]
    )
    # a log: one line each, "[2025Q4] clv: done (33.5 s, peak 1,443 MB)"
    found = re.findall(r"\] (\w+): done \(([\d.]+) s(?:, peak ([\d,]+) MB)?\)", output)
    done = {name: float(seconds) for name, seconds, _ in found}
    peaks = {
        name: float(peak.replace(",", "")) if peak else float("nan") for name, _, peak in found
    }
    kernels = ", ".join(f"{kb / 1024:,.0f}" for kb in sorted(memory.kernels.values(), reverse=True))
    steps = [
        Step(
            size,
            f"{engine} batch: validate inputs",
            done.pop("inputs"),
            memory.own_peak_kb / 1024,
            "peak of the runner process (inputs, then the index page)",
        )
    ]
    steps += [
        Step(size, f"{engine} batch: {name} (kernel)", spent, peaks[name], "peak of its kernel")
        for name, spent in done.items()
    ]
    steps.append(
        Step(
            size,
            f"whole batch on {engine} (opsreport, 2 sections at a time)",
            seconds,
            memory.peak_mb,
            f"all processes; kernel peaks {kernels} MB",
        )
    )
    return steps


def summary_comparison(size: int, orders: pd.DataFrame, end: pd.Timestamp) -> list[Step]:
    """Our DuckDB summary against lifetimes', checked identical."""
    from lifetimes.utils import summary_data_from_transaction_data

    from helpers.data import queries
    from helpers.data.engines import DuckDBEngine

    engine = DuckDBEngine({"orders": orders})
    with TreeMemory() as ours_memory:
        started = time.perf_counter()
        ours = queries.customer_summary(engine, end, 7.0).set_index("customer_id")
        ours_seconds = time.perf_counter() - started
    with TreeMemory() as theirs_memory:
        started = time.perf_counter()
        theirs = summary_data_from_transaction_data(
            orders,
            "customer_id",
            "order_ts",
            "net_revenue",
            observation_period_end=end - pd.Timedelta(days=1),
            freq="D",
            freq_multiplier=7,
        )
        theirs_seconds = time.perf_counter() - started
    pd.testing.assert_frame_equal(
        ours.sort_index(), theirs.sort_index(), check_names=False, check_dtype=False, rtol=1e-9
    )
    ratio = f"{theirs_seconds / ours_seconds:.1f}x faster, results identical"
    return [
        Step(size, "customer summary: DuckDB (ours)", ours_seconds, ours_memory.peak_mb, ratio),
        Step(size, "customer summary: lifetimes", theirs_seconds, theirs_memory.peak_mb),
    ]


def fit_comparison(size: int, summary: pd.DataFrame) -> list[Step]:
    """Our weighted fit on distinct rows against lifetimes' plain per-customer fit (the target)
    and lifetimes' own weighted fit on the same rows (what compression alone gives)."""
    from lifetimes import BetaGeoFitter

    from helpers.models import fitting

    def timed(fit):
        with TreeMemory() as memory:
            started = time.perf_counter()
            params = fit().params_
            return params, time.perf_counter() - started, memory.peak_mb

    rows = fitting.compress(summary)
    ours, ours_seconds, ours_mb = timed(lambda: fitting.fit_purchase_model(summary, "bgnbd").fitter)
    plain, plain_seconds, plain_mb = timed(
        lambda: BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    )
    weighted, weighted_seconds, weighted_mb = timed(
        lambda: BetaGeoFitter().fit(
            rows["frequency"], rows["recency"], rows["T"], weights=rows["weight"].to_numpy()
        )
    )
    for theirs in (plain, weighted):
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-4)
    return [
        Step(
            size,
            "BG/NBD fit: weighted distinct rows, closed-form gradient (ours)",
            ours_seconds,
            ours_mb,
            f"{plain_seconds / ours_seconds:.1f}x faster than the plain fit, parameters equal "
            f"to 1e-4; {len(rows):,} distinct rows for {len(summary):,} customers",
        ),
        Step(size, "BG/NBD fit: lifetimes per customer", plain_seconds, plain_mb),
        Step(
            size, "BG/NBD fit: lifetimes on the same weighted rows", weighted_seconds, weighted_mb
        ),
    ]


def naive_batch(size: int, params: Path, quarter: str, workdir: Path) -> Step:
    """The same notebooks run one after another with the papermill and nbconvert CLIs."""
    from helpers.core.outline import SECTIONS

    seconds, peak = 0.0, 0.0
    for section in SECTIONS.values():
        executed = workdir / section.notebook
        for command in (
            [
                str(BIN / "papermill"),
                str(PROJECT / "notebooks" / section.notebook),
                str(executed),
                "--cwd",
                str(PROJECT / "notebooks"),
                "-p",
                "period",
                quarter,
                "-y",
                yaml.safe_dump({"extra_params": [str(params)]}),
            ],
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed)],
        ):
            _, spent, memory = run_command(command)
            seconds, peak = seconds + spent, max(peak, memory.peak_mb)
    return Step(size, "naive: papermill + nbconvert CLIs, one by one", seconds, peak)


def bench_params(root: Path, size: int, engine: str) -> Path:
    """A params file running the batch on `engine` over the data set of `size` customers."""
    path = root / f"bench-{size}-{engine}.yaml"
    params = {"data_dir": str(root / str(size)), "engine": engine}
    if size > 1_000_000:  # a year's revenue target passes the default 1e9 at 10M customers
        params["plausible_max"] = 1e12
    path.write_text(yaml.safe_dump(params))
    return path


def bench_size(size: int, root: Path, engines: list[str], compare: bool) -> list[Step]:
    """Generate (or reuse) the data, run the batch on each engine, and with `compare` the
    side-by-side comparisons against the naive way."""
    steps = [generate(size, root / str(size))]
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            steps += batch(size, bench_params(root, size, engine), Path(tmp) / engine, engine)
        if compare:
            steps += comparisons(size, bench_params(root, size, "duckdb"), Path(tmp), steps)
    return steps


def comparisons(size: int, params: Path, workdir: Path, steps: list[Step]) -> list[Step]:
    """Our customer summary, fit and batch runner (on DuckDB) against lifetimes' and the
    command-line tools' way of doing the same work."""
    from helpers.core.config import load_config
    from helpers.data.engines import DuckDBEngine
    from helpers.data.inputs import prepare_inputs
    from helpers.data.queries import customer_summary

    config = load_config(PROJECT / "params", extra_files=[params])
    orders = prepare_inputs(config).tables["orders"][
        ["order_id", "customer_id", "order_ts", "net_revenue"]
    ]
    end = config.period.end
    found = summary_comparison(size, orders, end)
    summary = customer_summary(DuckDBEngine({"orders": orders}), end, 7.0)
    found += fit_comparison(size, summary)
    naive = naive_batch(size, params, config.quarter, workdir)
    for whole in (s for s in steps if s.name.startswith("whole batch on duckdb")):
        whole.note += f"; {naive.seconds / whole.seconds:.1f}x faster than the naive run"
    return found + [naive]


def table(steps: list[Step]) -> str:
    """A Markdown table of every step."""
    lines = [
        "| customers | step | wall (s) | peak memory (MB) | note |",
        "|---:|---|---:|---:|---|",
    ]
    for s in steps:
        memory = "—" if np.isnan(s.peak_mb) or not s.peak_mb else f"{s.peak_mb:,.0f}"
        lines.append(f"| {s.size:,} | {s.name} | {s.seconds:,.1f} | {memory} | {s.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers",
        type=int,
        action="append",
        help="data-set size; repeat for several (default 1,000,000)",
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        action="append",
        help="engine the batch runs on; repeat for both (default duckdb)",
    )
    parser.add_argument(
        "--batch-only",
        action="store_true",
        help="only the batch: no comparisons with lifetimes and the command-line tools",
    )
    parser.add_argument("--out", type=Path, default=PROJECT / "data" / "bench")
    args = parser.parse_args(argv)
    steps = []
    for size in args.customers or [1_000_000]:
        print(f"== {size:,} customers", flush=True)
        steps += bench_size(size, args.out, args.engine or ["duckdb"], not args.batch_only)
        print(table([s for s in steps if s.size == size]), flush=True)
    print(f"\n{os.cpu_count()} cores; all sizes:\n{table(steps)}")
    (args.out / "results.json").write_text(json.dumps([asdict(s) for s in steps], indent=2))


if __name__ == "__main__":
    main()
