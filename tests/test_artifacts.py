"""Customer-level artifacts: whole files for a table a spreadsheet opens, numbered parts of
ARTIFACT_PART_ROWS rows beyond, read back whole either way."""

import pandas as pd
import pyarrow as pa

from helpers.core.config import load_config
from helpers.run import notebook
from helpers.run.build_folder import artifact_written

from .conftest import PROJECT


def context(build_dir):
    config = load_config(PROJECT / "params", "2025Q4")
    return notebook.SectionContext("clv", config, pd.DataFrame(), None, build_dir)


def test_a_large_artifact_is_written_in_parts_a_spreadsheet_opens(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook, "ARTIFACT_PART_ROWS", 3)
    customers = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(7)], "clv": [float(i) for i in range(7)]}
    ).assign(note=["=HYPERLINK(1)"] + ["ok"] * 6)
    ctx = context(tmp_path)
    ctx.save_artifact("clv_customers", customers)
    folder = tmp_path / "artifacts" / "clv_customers"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"clv_customers-{n:04d}.{ext}" for n in (1, 2, 3) for ext in ("csv", "parquet")
    ]
    csv_parts = [pd.read_csv(folder / f"clv_customers-{n:04d}.csv") for n in (1, 2, 3)]
    assert [len(part) for part in csv_parts] == [3, 3, 1]
    assert csv_parts[0]["note"].iloc[0] == "'=HYPERLINK(1)"  # spreadsheet-safe in every part
    pd.testing.assert_frame_equal(ctx.read_artifact("clv_customers"), customers)
    assert artifact_written(tmp_path, "clv_customers")  # a section waiting on it may start
    assert not list((tmp_path / "artifacts").glob(".*"))  # no partial folder left

    ctx.save_artifact("clv_by_channel", customers.head(3))
    assert (tmp_path / "artifacts" / "clv_by_channel.parquet").is_file()
    assert (tmp_path / "artifacts" / "clv_by_channel.csv").is_file()
    pd.testing.assert_frame_equal(ctx.read_artifact("clv_by_channel"), customers.head(3))
    assert ctx.read_artifact("customer_segments") is None
    assert artifact_written(tmp_path, "clv_by_channel")
    assert not artifact_written(tmp_path, "customer_segments")
    assert context(None).read_artifact("clv_customers") is None


def test_an_artifact_coming_in_parts_of_any_size_is_written_whole_or_in_parts(
    tmp_path, monkeypatch
):
    """What the CLV section's CRM table comes as: Arrow tables of the engine's batch size."""
    monkeypatch.setattr(notebook, "ARTIFACT_PART_ROWS", 4)
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(10)], "clv": range(10)})
    table = pa.Table.from_pandas(customers, preserve_index=False)
    ctx = context(tmp_path)
    ctx.save_artifact("clv_customers", (table.slice(i, 3) for i in range(0, 10, 3)))
    folder = tmp_path / "artifacts" / "clv_customers"
    parts = [pd.read_parquet(folder / f"clv_customers-{n:04d}.parquet") for n in (1, 2, 3)]
    assert [len(part) for part in parts] == [4, 4, 2]
    pd.testing.assert_frame_equal(ctx.read_artifact("clv_customers"), customers)

    ctx.save_artifact("few", iter([table.slice(0, 2), table.slice(2, 2)]))
    pd.testing.assert_frame_equal(ctx.read_artifact("few"), customers.head(4))
    ctx.save_artifact("none", [table.slice(0, 0)])  # no customers: the columns, no rows
    assert ctx.read_artifact("none").columns.tolist() == ["customer_id", "clv"]
    ctx.save_artifact("empty_frame", customers.head(0))
    assert len(ctx.read_artifact("empty_frame")) == 0
