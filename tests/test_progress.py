"""What the batch prints: event lines off a terminal, warnings always, a summary table at the end,
and only what needs attention when quiet."""

import io

from rich.console import Console

from helpers.run.progress import Progress, Verbosity


def _run(tmp_path, verbosity: Verbosity, terminal: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=200, color_system=None)
    (tmp_path / "2025Q3").mkdir()
    (tmp_path / "2025Q3" / "traffic.html").write_text("page")
    with Progress(console, verbosity) as progress:
        progress.plan("2025Q3", ["traffic", "clv"], [{"name": "marketing", "reason": "no table"}])
        progress.started("2025Q3", "inputs")
        progress.detail("2025Q3", "inputs valid: orders 10 rows")
        progress.finished("2025Q3", "inputs")
        progress.started("2025Q3", "traffic")
        progress.started("2025Q3", "clv")
        progress.finished("2025Q3", "traffic")
        progress.finished("2025Q3", "clv", withheld="q = 0.49 is not above 1")
        progress.published("2025Q3", tmp_path / "2025Q3", 12.0)
    return out.getvalue()


def test_a_log_gets_one_line_per_event_and_a_summary_table(tmp_path):
    out = _run(tmp_path, Verbosity.NORMAL)
    lines = out.splitlines()
    assert lines.index("[2025Q3] traffic: running") < lines.index("[2025Q3] clv: running")
    assert "[2025Q3] marketing: skipped (no table)" in lines
    assert "[2025Q3] clv: WARNING figures withheld: q = 0.49 is not above 1" in lines
    assert not any("inputs valid" in line for line in lines)  # a detail: verbose only
    table = lines[lines.index(f"report (12.0 s): {tmp_path / '2025Q3' / 'index.html'}") + 1 :]
    cells = [[cell.strip() for cell in line.split("│")] for line in table]
    rows = {row[2]: row[3:6] for row in cells if len(row) > 5}  # step: status, time, page
    assert rows["traffic"][0] == "done"
    assert rows["traffic"][2] == str(tmp_path / "2025Q3" / "traffic.html")
    assert rows["clv"][0] == "withheld" and rows["clv"][2] == ""
    assert rows["marketing"][0] == "skipped"
    assert rows["report"][1] == "12.0 s"


def test_quiet_prints_only_warnings_and_where_the_report_is(tmp_path):
    out = _run(tmp_path, Verbosity.QUIET)
    assert out.splitlines() == [
        "[2025Q3] clv: WARNING figures withheld: q = 0.49 is not above 1",
        f"report (12.0 s): {tmp_path / '2025Q3' / 'index.html'}",
    ]


def test_verbose_adds_the_details(tmp_path):
    assert "[2025Q3] inputs valid: orders 10 rows" in _run(tmp_path, Verbosity.VERBOSE)


def test_a_terminal_gets_the_live_table_instead_of_event_lines(tmp_path):
    out = _run(tmp_path, Verbosity.NORMAL, terminal=True)
    assert "traffic: running" not in out and "clv: done" not in out
    assert "WARNING figures withheld" in out and "│ traffic" in out


def test_a_step_still_running_when_the_run_stops_reads_interrupted():
    out = io.StringIO()
    with Progress(Console(file=out, width=200), Verbosity.NORMAL) as progress:
        progress.started("2025Q3", "clv")
    assert "interrupted" in out.getvalue()


def test_a_section_done_says_its_kernels_peak_memory_where_known(tmp_path):
    import os
    from types import SimpleNamespace

    from helpers.run.runner import kernel_peak_mb

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    with Progress(console, Verbosity.NORMAL) as progress:
        progress.started("2025Q3", "clv")
        progress.finished("2025Q3", "clv", peak_mb=1234.4)
        progress.started("2025Q3", "traffic")
        progress.finished("2025Q3", "traffic", peak_mb=None)
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("[2025Q3] clv: done (") and line.endswith(" s, peak 1,234 MB)")
        for line in lines
    )
    assert any(
        line.startswith("[2025Q3] traffic: done (") and line.endswith(" s)") for line in lines
    )
    this = kernel_peak_mb(SimpleNamespace(provisioner=SimpleNamespace(pid=os.getpid())))
    assert this is not None and this > 10  # this very process, in MB
    assert kernel_peak_mb(SimpleNamespace(provisioner=None)) is None
