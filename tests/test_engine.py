"""The DuckDB engine over the clean inputs: what it loads, what it leaves as a view, and paths
that SQL would otherwise misread."""

import pandas as pd

from helpers.data.queries import UNQUERIED, DataEngine

ORDERS = pd.DataFrame(
    {
        "order_id": ["1", "2"],
        "customer_id": ["a", "b"],
        "order_ts": pd.to_datetime(["2025-01-01", "2025-02-01"]),
        "net_revenue": [10.0, 20.0],
        "status": ["paid", "paid"],
        "region": ["North", "South"],
    }
)


def _table_type(engine: DataEngine, name: str) -> str:
    query = "SELECT table_type FROM information_schema.tables WHERE table_name = ?"
    return engine.con.execute(query, [name]).fetchone()[0]


def test_loaded_parquet_leaves_out_the_columns_no_query_reads(tmp_path):
    folder = tmp_path / "it's o'clock"  # a quote in the path must not end the SQL string
    folder.mkdir()
    path = folder / "orders.parquet"
    ORDERS.to_parquet(path, index=False)
    loaded = DataEngine({"orders": path})
    assert _table_type(loaded, "orders") == "BASE TABLE"
    kept = set(ORDERS.columns) - set(UNQUERIED["orders"])
    assert set(loaded.columns("orders")) == kept == {"customer_id", "order_ts", "net_revenue"}
    assert loaded.sql("SELECT sum(net_revenue) AS s FROM orders")["s"].iloc[0] == 30.0


def test_tables_not_materialized_stay_whole_views_and_data_frames_load_whole(tmp_path):
    path = tmp_path / "orders.parquet"
    ORDERS.to_parquet(path, index=False)
    lazy = DataEngine({"orders": path}, materialize=())
    assert _table_type(lazy, "orders") == "VIEW"
    assert lazy.columns("orders") == list(ORDERS.columns) and lazy.has("orders")
    assert not lazy.has("traffic")
    frames = DataEngine({"orders": ORDERS})
    assert frames.columns("orders") == list(ORDERS.columns)
    only_some = ORDERS.drop(columns=["status", "region"])
    only_some.to_parquet(path, index=False)  # a loaded table without the unqueried columns
    assert DataEngine({"orders": path}).columns("orders") == [
        "customer_id",
        "order_ts",
        "net_revenue",
    ]
