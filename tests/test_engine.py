"""The DuckDB engine over the clean inputs: what it loads, what it leaves as a view, and paths
that SQL would otherwise misread."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from helpers.core.periods import Quarter, comparison_periods
from helpers.data import queries, rfm, scores
from helpers.data.engines import UNQUERIED, DuckDBEngine, rechunked

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


def _table_type(engine: DuckDBEngine, name: str) -> str:
    query = "SELECT table_type FROM information_schema.tables WHERE table_name = ?"
    return engine.con.execute(query, [name]).fetchone()[0]


def test_loaded_parquet_leaves_out_the_columns_no_query_reads(tmp_path):
    folder = tmp_path / "it's o'clock"  # a quote in the path must not end the SQL string
    folder.mkdir()
    path = folder / "orders.parquet"
    ORDERS.to_parquet(path, index=False)
    loaded = DuckDBEngine({"orders": path})
    assert _table_type(loaded, "orders") == "BASE TABLE"
    kept = set(ORDERS.columns) - set(UNQUERIED["orders"])
    assert set(loaded.columns("orders")) == kept == {"customer_id", "order_ts", "net_revenue"}
    assert loaded.sql("SELECT sum(net_revenue) AS s FROM orders")["s"].iloc[0] == 30.0


def test_tables_not_materialized_stay_whole_views_and_data_frames_load_whole(tmp_path):
    path = tmp_path / "orders.parquet"
    ORDERS.to_parquet(path, index=False)
    lazy = DuckDBEngine({"orders": path}, materialize=())
    assert _table_type(lazy, "orders") == "VIEW"
    assert lazy.columns("orders") == list(ORDERS.columns) and lazy.has("orders")
    assert not lazy.has("traffic")
    frames = DuckDBEngine({"orders": ORDERS})
    assert frames.columns("orders") == list(ORDERS.columns)
    only_some = ORDERS.drop(columns=["status", "region"])
    only_some.to_parquet(path, index=False)  # a loaded table without the unqueried columns
    assert DuckDBEngine({"orders": path}).columns("orders") == [
        "customer_id",
        "order_ts",
        "net_revenue",
    ]


def test_a_parquet_file_too_large_to_load_stays_a_view(tmp_path, monkeypatch):
    from helpers.data import engines

    path = tmp_path / "orders.parquet"
    ORDERS.to_parquet(path, index=False)
    monkeypatch.setattr(engines, "MATERIALIZE_MAX_BYTES", path.stat().st_size)
    assert _table_type(DuckDBEngine({"orders": path}), "orders") == "BASE TABLE"
    monkeypatch.setattr(engines, "MATERIALIZE_MAX_BYTES", path.stat().st_size - 1)
    large = DuckDBEngine({"orders": path})
    assert _table_type(large, "orders") == "VIEW" and large.columns("orders") == list(ORDERS)
    assert large.sql("SELECT sum(net_revenue) AS s FROM orders")["s"].iloc[0] == 30.0


def test_asking_for_a_table_the_engine_does_not_hold_is_an_error():
    engine = DuckDBEngine({"orders": ORDERS})
    with pytest.raises(KeyError, match="no 'ORDERS' table; the engine holds orders"):
        engine.columns("ORDERS")


def test_a_parquet_table_with_nothing_to_leave_out_loads_whole(tmp_path):
    traffic = pd.DataFrame({"date": pd.to_datetime(["2025-01-01"]), "sessions": [3.0]})
    traffic.to_parquet(tmp_path / "traffic.parquet", index=False)
    engine = DuckDBEngine({"traffic": tmp_path / "traffic.parquet"})
    assert engine.columns("traffic") == ["date", "sessions"]


ORDERS_WITH_DETAIL = pd.DataFrame(
    {
        "order_id": ["1", "2", "3", "4"],
        "customer_id": ["a", "a", "b", "c"],
        "order_ts": pd.to_datetime(["2025-01-05", "2025-02-05", "2025-02-06", "2024-12-30"]),
        "net_revenue": [10.0, 20.0, 40.0, 80.0],
        "revenue": [10.0, 20.0, 40.0, 80.0],
        "cost": [4.0, 5.0, 16.0, 8.0],
        "channel": ["Email", "Email", "Paid", "Paid"],
        "region": ["N", "S", "N", "N"],
        "is_member": [True, False, False, False],
    }
)


def test_orders_by_period_sums_cost_and_splits_by_two_dimensions():
    engine = DuckDBEngine({"orders": ORDERS_WITH_DETAIL})
    periods = comparison_periods(Quarter.parse("2025Q1"))
    by = queries.orders_by_period(engine, periods).set_index("period")
    assert by.loc["current", "cost"] == 4 + 5 + 16 and by.loc["previous", "cost"] == 8
    assert by.loc["current", "new_customers"] == 2  # a and b; c first bought in 2024Q4
    split = queries.orders_by_period(engine, periods, ["channel", "region"])
    now = split[split["period"] == "current"].set_index(["channel", "region"])
    assert now["orders"].to_dict() == {("Email", "N"): 1, ("Email", "S"): 1, ("Paid", "N"): 1}
    without_cost = DuckDBEngine({"orders": ORDERS_WITH_DETAIL.drop(columns="cost")})
    assert queries.orders_by_period(without_cost, periods)["cost"].isna().all()


def rfm_inputs(engine, end, start):
    query, params = queries.rfm_inputs_sql(engine, end, start)
    return engine.sql(f"{query} ORDER BY 1", params)


def test_rfm_inputs_carry_the_member_flag_when_there_is_one():
    engine = DuckDBEngine({"orders": ORDERS_WITH_DETAIL})
    end, start = pd.Timestamp("2025-04-01"), pd.Timestamp("2025-01-01")
    rfm = rfm_inputs(engine, end, start).set_index("customer_id")
    assert rfm["is_member"].to_dict() == {"a": True, "b": False, "c": False}  # a member once
    assert rfm.loc["a", "window_revenue"] == 30.0 and rfm.loc["c", "window_revenue"] == 0.0
    assert rfm.loc["b", "recency_days"] == (end - pd.Timestamp("2025-02-06")).days
    plain = DuckDBEngine({"orders": ORDERS_WITH_DETAIL.drop(columns="is_member")})
    assert rfm_inputs(plain, end, start)["is_member"].isna().all()


def test_kept_rfm_inputs_are_the_query_kept_with_its_window():
    engine = DuckDBEngine({"orders": ORDERS_WITH_DETAIL})
    end, start = pd.Timestamp("2025-04-01"), pd.Timestamp("2025-01-01")
    rfm.keep_inputs(engine, "kept_rfm", end, start)
    kept = engine.sql("SELECT * FROM kept_rfm ORDER BY 1")
    pd.testing.assert_frame_equal(kept, rfm_inputs(engine, end, start))
    assert kept.set_index("customer_id").loc["a", "window_revenue"] == 30.0


def test_weekly_traffic_keeps_orders_and_revenue_of_whole_weeks():
    days = pd.date_range("2025-01-06", "2025-01-19")  # two whole Monday weeks
    traffic = pd.DataFrame(
        {"date": days, "channel": "A", "sessions": 10.0, "orders": 1.0, "revenue": 5.0}
    )
    engine = DuckDBEngine({"traffic": traffic})
    weekly = queries.traffic_weekly(engine, days[0], days[-1] + pd.Timedelta(days=1))
    assert weekly[["sessions", "orders", "revenue"]].to_numpy().tolist() == [[70.0, 7.0, 35.0]] * 2
    assert list(weekly["channel"]) == ["A", "A"]


def test_repurchase_periods_and_grains():
    engine = DuckDBEngine({"orders": ORDERS_WITH_DETAIL})
    both = queries.repurchase_by_period(engine, pd.Timestamp("2025-04-01"))
    assert list(both["quarter"].columns) == [
        "period",
        "customers",
        "repeat_customers",
        "returning_customers",
    ]
    assert list(both["quarter"].index) == [0, 1]
    with pytest.raises(ValueError, match="grain must be month or quarter, not 'week'"):
        queries.cohort_activity(engine, "week", pd.Timestamp("2025-04-01"))


def test_no_margin_rate_from_costs_of_zero_revenue():
    free = ORDERS_WITH_DETAIL.assign(revenue=0.0)
    assert (
        queries.gross_margin_rate(DuckDBEngine({"orders": free}), pd.Timestamp("2026-01-01"))
        is None
    )


def test_repurchase_per_year_rolls_up_each_customers_months():
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4", "5"],
            "customer_id": ["a", "a", "b", "b", "c"],
            "order_ts": pd.to_datetime(
                ["2024-03-01", "2025-01-05", "2025-02-01", "2025-11-30", "2025-06-01"]
            ),
            "net_revenue": [10.0] * 5,
        }
    )
    years = queries.repurchase_by_period(
        DuckDBEngine({"orders": orders}), pd.Timestamp("2026-01-01")
    )
    row = years["year"].set_index("period").loc[pd.Timestamp("2025-01-01")]
    # 2025: a (once, returning from 2024), b (twice, new), c (once, new)
    assert (row["customers"], row["repeat_customers"], row["returning_customers"]) == (3, 1, 1)
    # in no quarter of 2025 did anyone order twice: repeat purchase is a yearly fact here
    assert years["quarter"]["repeat_customers"].sum() == 0


def test_channel_names_from_every_table_that_has_them():
    orders = pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["a", "b"],
            "order_ts": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "net_revenue": [1.0, 2.0],
            "channel": ["Direct", None],
        }
    )
    traffic = pd.DataFrame({"date": pd.to_datetime(["2025-01-01"]), "channel": ["Paid"]})
    marketing = pd.DataFrame({"date": pd.to_datetime(["2025-01-01"]), "channel": ["Affiliate"]})
    every = DuckDBEngine({"orders": orders, "traffic": traffic, "marketing": marketing})
    assert queries.channel_names(every) == ["Affiliate", "Direct", "Paid"]  # sorted, no None
    assert queries.channel_names(DuckDBEngine({"orders": orders.drop(columns="channel")})) == []
    assert queries.channel_names(DuckDBEngine({"traffic": traffic})) == ["Paid"]


def test_marketing_by_day_without_budgets_or_campaigns():
    marketing = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-02"]),
            "channel": ["A", "A", "A"],
            "spend": [1.0, 2.0, 4.0],
        }
    )
    bare = queries.marketing_daily(
        DuckDBEngine({"marketing": marketing}),
        pd.Timestamp("2025-01-01"),
        pd.Timestamp("2025-01-02"),
    )
    assert bare[["spend"]].to_numpy().tolist() == [[3.0]]  # the end day is left out
    assert bare["budget"].isna().all() and bare["campaign"].tolist() == [""]
    named = marketing.assign(campaign=["x", None, "x"], budget=[1.0, 1.0, 1.0])
    full = queries.marketing_daily(
        DuckDBEngine({"marketing": named}), pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-03")
    )
    assert full[["campaign", "spend", "budget"]].to_numpy().tolist() == [
        ["", 2.0, 1.0],  # a row with no campaign named
        ["x", 1.0, 1.0],
        ["x", 4.0, 1.0],
    ]


def test_order_lines_and_days_without_categories_or_costs():
    orders = pd.DataFrame(
        {
            "order_id": ["1"],
            "customer_id": ["a"],
            "order_ts": pd.to_datetime(["2025-01-01 10:00"]),
            "net_revenue": [90.0],
        }
    )
    items = pd.DataFrame({"order_id": ["1"], "sku": ["s"], "quantity": [2.0], "unit_price": [50.0]})
    periods = comparison_periods(Quarter(2025, 1))
    lines = queries.merchandise_by_period(
        DuckDBEngine({"orders": orders, "order_items": items}), periods
    )
    row = lines.iloc[0]
    assert (row["category"], row["net_sales"], row["discount"]) == ("", 90.0, 0.0)
    assert pd.isna(row["cost"])
    days = queries.daily_sales(
        DuckDBEngine({"orders": orders}), pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02")
    )
    assert days[["orders", "net_revenue"]].to_numpy().tolist() == [[1.0, 90.0]]
    assert days[["cost", "spend", "attributed_revenue"]].isna().all().all()
    with pytest.raises(ValueError, match="level must be category or sku, not 'brand'"):
        queries.basket_pairs(
            DuckDBEngine({"orders": orders}), periods["start"][0], periods["end"][0], "brand", 1
        )


def test_batches_come_in_parts_of_the_size_asked_for_and_an_empty_result_keeps_its_columns():
    engine = DuckDBEngine({"t": pd.DataFrame({"a": range(7)})})
    parts = list(engine.batches("SELECT * FROM t WHERE a >= ? ORDER BY a", 3, [0]))
    assert [p.num_rows for p in parts] == [3, 3, 1]
    assert pa.concat_tables(parts).column("a").to_pylist() == list(range(7))
    empty = list(engine.batches("SELECT * FROM t WHERE a > 9", 3))
    assert [p.num_rows for p in empty] == [0] and empty[0].column_names == ["a"]
    batch = pa.record_batch({"a": list(range(7))})
    assert [t.num_rows for t in rechunked([batch, batch.slice(0, 3)], 4)] == [4, 4, 2]
    assert [t.num_rows for t in rechunked([batch], 7)] == [7]
    assert [t.num_rows for t in rechunked([batch.slice(0, 0)], 4)] == [0]
    assert list(rechunked([], 4)) == []


def test_kept_tables_and_views_join_the_engine_and_leave_it():
    engine = DuckDBEngine({"t": pd.DataFrame({"a": [1.0, 2.0]})})
    engine.keep("stored", "SELECT sum(a) AS total FROM t WHERE a > ?", [1.0])
    engine.keep("viewed", "SELECT a * 2 AS twice FROM t", stored=False)
    assert engine.first_row("SELECT total FROM stored") == (2.0,)
    assert engine.columns("viewed") == ["twice"]
    engine.keep("stored", "SELECT 5.0 AS total")  # replaced
    assert engine.first_row("SELECT total FROM stored") == (5.0,)
    for name in ("stored", "viewed"):
        engine.forget(name)
        assert not engine.has(name)
    engine.forget("never_kept")  # nothing to drop: no error


def customers_table(n: int = 5000) -> pd.DataFrame:
    """n customers in no order (ids of varying length, one NULL) with a value each."""
    rng = np.random.default_rng(7)
    ids = pd.Series([f"C{i}" for i in rng.permutation(n - 1)] + [None], dtype=object)
    return pd.DataFrame({"customer_id": ids, "value": rng.normal(size=n)})


def test_a_table_read_in_customer_order_a_range_at_a_time_loses_and_repeats_nothing(
    monkeypatch,
):
    monkeypatch.setattr(queries, "SORTED_AT_ONCE", 700)
    monkeypatch.setattr(queries, "SAMPLED_ONE_IN", 5)
    table = customers_table()
    engine = DuckDBEngine({"customers": table})
    assert len(queries._customer_ranges(engine, "customers")) > 5
    parts = list(queries.in_customer_order(engine, "customers", 333, "*, value * ? AS twice", [2]))
    assert [len(part) for part in parts[:-1]] == [333] * (len(parts) - 1)
    got = pa.concat_tables(parts).to_pandas().fillna({"customer_id": "NULL"})
    expected = table.sort_values("customer_id", na_position="last", ignore_index=True)
    expected = expected.fillna({"customer_id": "NULL"})
    pd.testing.assert_frame_equal(
        got, expected.assign(twice=expected["value"] * 2), check_dtype=False
    )


def test_customer_ranges_hold_about_as_many_customers_as_one_sort_may(monkeypatch):
    """5,000 customers at 700 a sort are 7 or 8 ranges (a 1-in-5 sample estimates 5,000 as
    4,900 or 5,100) of about equal size, in customer order, the NULL id in the last."""
    monkeypatch.setattr(queries, "SORTED_AT_ONCE", 700)
    monkeypatch.setattr(queries, "SAMPLED_ONE_IN", 5)
    engine = DuckDBEngine({"customers": customers_table()})
    ranges = queries._customer_ranges(engine, "customers")
    sizes = [
        engine.first_row(f"SELECT count(*) FROM customers WHERE {where}", params)[0]
        for where, params in ranges
    ]
    assert len(sizes) in (7, 8) and sum(sizes) == 5000
    assert all(0.7 < size * len(sizes) / 5000 < 1.3 for size in sizes), sizes
    bounds = [params[0] for _, params in ranges[1:]]
    assert bounds == sorted(bounds)
    last, params = ranges[-1]
    query = f"SELECT count(*) FROM customers WHERE ({last}) AND customer_id IS NULL"
    assert engine.first_row(query, params) == (1,)


def test_a_small_table_is_read_in_one_sorted_range():
    engine = DuckDBEngine({"customers": customers_table(300)})
    assert queries._customer_ranges(engine, "customers") == [("TRUE", [])]


def test_an_empty_table_read_in_customer_order_is_one_empty_table_with_its_columns():
    engine = DuckDBEngine({"customers": customers_table(300).iloc[:0]})
    [part] = queries.in_customer_order(engine, "customers", 100, "*, value * ? AS twice", [2])
    assert part.num_rows == 0 and part.column_names == ["customer_id", "value", "twice"]


def test_a_column_has_values_when_one_customer_has_one():
    channels = pd.DataFrame({"customer_id": ["a", "b"], "channel": [None, None]}, dtype=object)
    engine = DuckDBEngine({"scored": channels})
    assert scores.has_values(engine, "scored", "channel") is False
    engine.register("scored", channels.assign(channel=[None, "email"]))
    assert scores.has_values(engine, "scored", "channel") is True


def test_evenly_spaced_keeps_every_kth_value_in_customer_order():
    """Five values (a sixth customer has none): at most 2 kept means every 3rd, from the first;
    at most 5 keeps all of them."""
    values = pd.DataFrame({"customer_id": list("fedcba"), "x": [6.0, 5, 4, 3, 2, None]})
    engine = DuckDBEngine({"base": values})
    assert queries.evenly_spaced(engine, "base", "x", 2).tolist() == [2.0, 5.0]
    assert queries.evenly_spaced(engine, "base", "x", 5).tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
