"""Ordinary mistakes and hostile inputs end in a clear message and exit code, and the last good
report stays byte for byte as it was."""

import fcntl
import hashlib
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.core.config import load_config
from helpers.data.reading import find_input_file
from helpers.run import build_folder, cli, runner

from .conftest import PROJECT

pytestmark = pytest.mark.e2e


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def good(small_data, tmp_path_factory):
    """A data folder with orders as CSV, and a good 2025Q4 report built from it."""
    root = tmp_path_factory.mktemp("good")
    data = root / "data"
    shutil.copytree(small_data, data)
    orders = pd.read_parquet(data / "orders.parquet")
    (data / "orders.parquet").unlink()
    orders.to_csv(data / "orders.csv", index=False)
    reports = root / "reports"
    params = root / "good.yaml"
    params.write_text(yaml.safe_dump({"data_dir": str(data)}))
    argv = ["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(params)]
    assert cli.main(argv) == 0
    return data, reports


def run(good, tmp_path, capsys, values=None, data=None, extra_argv=()):
    """Run the batch over the good report with parameters `values` (data_dir defaults to a
    copy of `data`, if given); return the exit code and what was printed on stderr."""
    source, reports = good
    values = dict(values or {})
    if data is not None:
        values.setdefault("data_dir", str(data))
    elif "data_dir" not in values:
        values["data_dir"] = str(source)
    params = tmp_path / "case.yaml"
    params.write_text(yaml.safe_dump(values))
    before = snapshot(reports)
    argv = ["--project", str(PROJECT), "--reports-dir", str(reports), "--params", str(params)]
    code = cli.main([*argv, *extra_argv])
    assert snapshot(reports) == before  # the last good report, byte for byte
    return code, capsys.readouterr().err


def data_with(good, tmp_path, change) -> Path:
    """A copy of the good data whose orders CSV text is passed through `change`."""
    data = tmp_path / "data"
    shutil.copytree(good[0], data)
    path = data / "orders.csv"
    path.write_text(change(path.read_text()))
    return data


def edit_orders(good, tmp_path, change) -> Path:
    """A copy of the good data with its orders DataFrame passed through `change`."""
    data = tmp_path / "data"
    shutil.copytree(good[0], data)
    orders = pd.read_csv(data / "orders.csv", dtype=str)
    change(orders).to_csv(data / "orders.csv", index=False)
    return data


def test_a_missing_data_dir_is_an_error(good, tmp_path, capsys):
    code, err = run(good, tmp_path, capsys, {"data_dir": "/tmp/does-not-exist"})
    assert code == 2 and "data_dir /tmp/does-not-exist is not a folder" in err


def test_file_names_match_whatever_their_case(good, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(good[0], data)
    (data / "orders.csv").rename(data / "Orders.CSV")
    config = load_config(PROJECT / "params", "2025Q4", overrides={"data_dir": str(data)})
    assert find_input_file(config, "orders") == data / "Orders.CSV"


def test_without_an_orders_table_nothing_is_published(good, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(good[0], data)
    (data / "orders.csv").unlink()
    code, err = run(good, tmp_path, capsys, data=data)
    assert code == 2 and "no orders table in" in err


@pytest.mark.parametrize("subdir", ["/tmp/escape", "../../../tmp/escape", "brand/../../x"])
def test_report_subdir_cannot_leave_the_reports_folder(good, tmp_path, capsys, subdir):
    code, err = run(good, tmp_path, capsys, {"report_subdir": subdir})
    assert code == 2 and "must be a folder name inside the reports folder" in err
    assert not Path("/tmp/escape").exists()


def test_a_folder_this_tool_did_not_write_is_never_replaced(good, tmp_path, capsys):
    other = tmp_path / "elsewhere"
    (other / "2025Q4").mkdir(parents=True)
    (other / "2025Q4" / "important.txt").write_text("keep me")
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"data_dir": str(good[0])}))
    code = cli.main(
        ["--project", str(PROJECT), "--reports-dir", str(other), "--params", str(params)]
    )
    assert code == 2 and "was not written by opsreport" in capsys.readouterr().err
    assert (other / "2025Q4" / "important.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("value", "message"),
    [("inf", "[revenue]: not a finite number"), ("1e300", "[revenue]: implausibly large")],
)
def test_non_finite_and_implausible_amounts(good, tmp_path, capsys, value, message):
    def change(orders):
        orders.loc[3, "revenue"] = value
        return orders

    code, err = run(good, tmp_path, capsys, data=edit_orders(good, tmp_path, change))
    assert code == 2 and message in err and "row 4" in err


def test_a_header_only_orders_file_is_no_data(good, tmp_path, capsys):
    data = data_with(good, tmp_path, lambda text: text.splitlines()[0] + "\n")
    code, err = run(good, tmp_path, capsys, data=data)
    assert code == 2 and "orders.csv [-]: the file has a header but no rows" in err


def test_a_header_that_appears_twice(good, tmp_path, capsys):
    def duplicate(text):
        lines = text.splitlines()
        return "\n".join(f"{line},{line.split(',')[3]}" for line in lines) + "\n"

    code, err = run(good, tmp_path, capsys, data=data_with(good, tmp_path, duplicate))
    assert code == 2 and "column header(s) ['revenue'] appear more than once" in err


def test_two_columns_onto_one_contract_name_and_absent_mapped_columns(good, tmp_path, capsys):
    def add_amount(orders):
        return orders.assign(**{"Amount (USD)": orders["revenue"]})

    data = edit_orders(good, tmp_path, add_amount)
    code, err = run(
        good, tmp_path, capsys, {"columns": {"orders": {"Amount (USD)": "revenue"}}}, data
    )
    assert code == 2 and "several columns would become ['revenue']" in err
    code, err = run(good, tmp_path, capsys, {"columns": {"orders": {"Betrag": "revenue"}}})
    assert code == 2 and "columns ['Betrag'] named in the column mapping are not in the file" in err


def test_an_unknown_encoding_is_a_parameter_error(good, tmp_path, capsys):
    code, err = run(good, tmp_path, capsys, {"csv_encoding": "utf8x"})
    assert code == 2 and "unknown encoding 'utf8x'" in err


def test_a_date_after_the_run_date(good, tmp_path, capsys):
    def future(orders):
        orders.loc[0, "order_ts"] = "2099-01-01 10:00:00"
        return orders

    code, err = run(good, tmp_path, capsys, data=edit_orders(good, tmp_path, future))
    assert code == 2 and "[order_ts]: date after the run date" in err and "2099" in err


def test_an_empty_quarter_on_the_command_line(good, tmp_path, capsys):
    code, err = run(good, tmp_path, capsys, extra_argv=["-q", ""])
    assert code == 2 and "malformed quarter ''" in err


def test_a_reports_dir_that_is_a_file(good, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"data_dir": str(good[0])}))
    code = cli.main(
        ["--project", str(PROJECT), "--reports-dir", str(blocker), "--params", str(params)]
    )
    assert code == 2 and "cannot write the report to" in capsys.readouterr().err


def test_mixed_and_day_first_dates_are_never_guessed(good, tmp_path, capsys):
    def mixed(orders):
        orders.loc[0, "order_ts"] = "2024/10/02"
        orders.loc[1, "order_ts"] = "03/10/2024 14:00"
        return orders

    code, err = run(good, tmp_path, capsys, data=edit_orders(good, tmp_path, mixed))
    assert code == 2 and "[order_ts]: " in err
    assert "day and month order cannot be told apart" in err or "several formats" in err

    def day_first(orders):
        stamps = pd.to_datetime(orders["order_ts"])
        return orders.assign(order_ts=stamps.dt.strftime("%d/%m/%Y %H:%M"))

    data = edit_orders(good, tmp_path / "b", day_first)
    code, err = run(good, tmp_path, capsys, data=data)
    assert code == 2 and "day and month order cannot be told apart" in err
    config = load_config(
        PROJECT / "params",
        "2025Q4",
        overrides={"data_dir": str(data), "date_format": {"orders": "%d/%m/%Y %H:%M"}},
    )
    from helpers.data.inputs import prepare_inputs

    orders = prepare_inputs(config).tables["orders"]
    assert orders["order_ts"].min().year == 2023 and orders["order_ts"].notna().all()


def test_a_stale_build_of_a_dead_run_is_removed_and_a_live_lock_refuses(good, tmp_path, capsys):
    _, reports = good
    stale = reports / ".2025Q4.building-999999"
    (stale / "clean").mkdir(parents=True)
    (stale / "clean" / "orders.parquet").write_text("customer ids")
    dead_kernels = Path(tempfile.gettempdir()) / f"{build_folder.KERNEL_FILES}999999-abc"
    dead_kernels.mkdir(exist_ok=True)
    removed = build_folder.remove_stale_builds(reports / "2025Q4")
    assert stale in removed and dead_kernels in removed
    assert not stale.exists() and not dead_kernels.exists()
    with (reports / ".2025Q4.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, err = run(good, tmp_path, capsys)
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert code == 2 and "another opsreport run is building" in err


def test_ctrl_c_stops_running_sections_and_keeps_the_report(good, tmp_path, capsys, monkeypatch):
    cancelled = []

    def interrupted(name):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_in_dependency_order(
            ["traffic"], interrupted, jobs=1, cancel=lambda: cancelled.append(True)
        )
    assert cancelled == [True]
    monkeypatch.setattr(cli, "run_period", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    code, err = run(good, tmp_path, capsys)
    assert code == 130 and "interrupted [default period]; the previous report is kept" in err
