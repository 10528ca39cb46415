"""engine: spark gives the same tables and the same report as DuckDB (Spark in local mode)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from helpers.core.config import SparkParams, load_config
from helpers.core.errors import DataContractError, ReportError
from helpers.core.periods import Quarter, comparison_periods
from helpers.data import exports, queries, rfm, scores, second_orders
from helpers.data.engines import UNQUERIED, DuckDBEngine
from helpers.data.inputs import data_quality, prepare_inputs, write_clean_inputs
from helpers.data.spark import SparkEngine, connect_server, to_spark_sql
from helpers.sections import segments
from tests.conftest import PROJECT, exported
from tests.test_staging import ORDERS

pytestmark = pytest.mark.slow  # a Spark session starts in a few seconds, not milliseconds

LOCAL = SparkParams(master="local[2]")
ON_SPARK = {"engine": "spark", "spark": {"master": "local[2]"}}  # as params
END = pd.Timestamp("2026-01-01")
START = pd.Timestamp("2025-10-01")
BEFORE = pd.Timedelta(days=92)


@pytest.fixture(scope="module")
def both(small_data, tmp_path_factory):
    """DuckDB and Spark over the same clean Parquet tables, as a batch's sections see them."""
    folder = tmp_path_factory.mktemp("spark")
    extra = folder / "small.yaml"
    extra.write_text(yaml.safe_dump({"data_dir": str(small_data)}))
    config = load_config(PROJECT / "params", "2025Q4", [str(extra)])
    paths = write_clean_inputs(prepare_inputs(config), folder / "clean")
    keep = UNQUERIED["orders"]  # every column, so that every query has what it reads
    duck, spark = DuckDBEngine(paths, keep=keep), SparkEngine(paths, LOCAL, keep=keep)
    yield duck, spark, comparison_periods(config.period)
    duck.close()
    spark.close()


QUERIES = {
    "traffic_by_period": lambda e, p: queries.traffic_by_period(e, p, ["channel"]),
    "traffic_weekly": lambda e, p: queries.traffic_weekly(e, START, END),
    "orders_by_period": lambda e, p: queries.orders_by_period(e, p, ["channel"]),
    "customer_summary": lambda e, p: queries.customer_summary(e, END, 7.0, origins=True),
    "keep_customer_summary": lambda e, p: kept_summary(e),
    "keep_customer_summaries": lambda e, p: kept_summaries(e),
    "forget_customer_summaries": lambda e, p: forgotten_summaries(e),
    "purchase_days_sql": lambda e, p: e.sql(
        f"{queries.purchase_days_sql()} ORDER BY 1", [START, END]
    ),
    "customers_between": lambda e, p: queries.customers_between(e, START, END),
    "gross_margin_rate": lambda e, p: queries.gross_margin_rate(e, END),
    "repurchase_by_period": lambda e, p: queries.repurchase_by_period(e, END),
    "cohort_activity_by_quarter": lambda e, p: queries.cohort_activity(e, "quarter", END),
    "cohort_activity_by_month": lambda e, p: queries.cohort_activity(e, "month", END),
    "second_orders": lambda e, p: queries.second_orders(e, END),
    "second_orders_sql": lambda e, p: e.sql(
        f"{queries.second_orders_sql(e, END)[0]} ORDER BY 1", [END]
    ),
    "evenly_spaced": lambda e, p: spaced(e),
    "in_customer_order": lambda e, p: ordered(e),
    "rfm_inputs_sql": lambda e, p: e.sql(
        f"{queries.rfm_inputs_sql(e, END, START)[0]} ORDER BY 1",
        queries.rfm_inputs_sql(e, END, START)[1],
    ),
    "member_repurchase": lambda e, p: queries.member_repurchase(e, p),
    "marketing_by_period": lambda e, p: queries.marketing_by_period(e, p, ["channel"]),
    "marketing_weekly": lambda e, p: queries.marketing_weekly(e, END),
    "channel_names": lambda e, p: queries.channel_names(e),
    "merchandise_by_period": lambda e, p: queries.merchandise_by_period(e, p),
    "basket_pairs": lambda e, p: queries.basket_pairs(e, START, END, "category", 5),
    "repeat_customers_by_period": lambda e, p: queries.repeat_customers_by_period(
        e, p, ["channel"]
    ),
    "marketing_daily": lambda e, p: queries.marketing_daily(e, START, END),
    "daily_sales": lambda e, p: queries.daily_sales(e, START, END),
}


def kept_summary(engine) -> pd.DataFrame:
    queries.keep_customer_summary(engine, "kept", END, 7.0, origins=True)
    return engine.sql("SELECT * FROM kept ORDER BY customer_id")


def kept_summaries(engine) -> dict[str, pd.DataFrame]:
    ends = {"at_end": END, "at_start": START}
    queries.keep_customer_summaries(engine, ends, 7.0, origins="at_end")
    return {name: engine.sql(f"SELECT * FROM {name} ORDER BY customer_id") for name in ends}


def forgotten_summaries(engine) -> str:
    """What is left of kept summaries once forgotten (DuckDB's is checked empty in test_clv)."""
    queries.keep_customer_summaries(engine, {"gone_soon": END}, 7.0, origins="gone_soon")
    queries.forget_customer_summaries(engine, ["gone_soon"])
    kept = {"gone_soon", queries.CUSTOMER_SUMMARIES}
    return f"left: {sorted(kept & set(engine.tables))}"


def ordered(engine) -> pd.DataFrame:
    queries.keep_customer_summary(engine, "ordered", END, 7.0, origins=False)
    return whole(queries.in_customer_order(engine, "ordered", 500))


def spaced(engine) -> pd.DataFrame:
    """Every k-th customer's mean repeat spend, in customer order."""
    queries.keep_customer_summary(engine, "spaced", END, 7.0, origins=False)
    return queries.evenly_spaced(engine, "spaced", "monetary_value", 100).to_frame()


def fake_predictions(histories: pd.DataFrame) -> pd.DataFrame:
    """Made-up predictions of each history (scores only joins and adds them up)."""
    f, r, t = (histories[k] for k in ("frequency", "recency", "T"))
    return histories.assign(
        expected_purchases_next_quarter=f / (1 + t),
        expected_purchases_horizon=2 * f / (1 + t) + 0.1,
        discounted_purchases=1.5 * f / (1 + t) + 0.05,
        p_alive=1 / (1 + t - r),
        p_order_horizon=0.5 / (1 + t - r),
    )


@pytest.fixture(scope="module")
def scored_both(both):
    """The same base scored in each engine."""
    for engine in both[:2]:
        queries.keep_customer_summary(engine, "base", END, 7.0, origins=True)
        histories = scores.histories(engine, "base")
        terms = pd.DataFrame({"frequency": sorted(histories["frequency"].unique())}).assign(
            order_value_base=lambda d: 50 + d["frequency"],
            order_value_slope=lambda d: d["frequency"] / (d["frequency"] + 2),
            margin=0.4,
        )
        scores.keep_scores(engine, "scored", "base", fake_predictions(histories), terms)
    return both[:2]


def whole(parts) -> pd.DataFrame:
    return pa.concat_tables(list(parts)).to_pandas()


def sample_of(engine) -> pd.DataFrame:
    scores.keep_sample(engine, "sampled", "base", 700)
    return engine.sql("SELECT * FROM sampled ORDER BY customer_id")


SCORES = {
    "histories": lambda e: scores.histories(e, "base"),
    "keep_sample": sample_of,
    "holdout_outcomes": lambda e: scores.holdout_outcomes(e, "base", START - BEFORE, START),
    "holdout_spend": lambda e: scores.holdout_spend(e, "base", START - BEFORE, START),
    "repeat_spend": lambda e: scores.repeat_spend(e, "base"),
    "per_customer": lambda e: scores.per_customer(e, "scored"),
    "totals": lambda e: pd.DataFrame([scores.totals(e, "scored", with_clv=True)]),
    "tiers": lambda e: scores.tiers(e, "scored", [0.1, 0.2, 0.5]),
    "clv_by": lambda e: scores.clv_by(e, "scored", "acquisition_channel"),
    "new_by_channel": lambda e: scores.new_by_channel(e, "scored", ["2025Q3", "2025Q4"]),
    "has_values": lambda e: pd.DataFrame({"found": [scores.has_values(e, "scored", "clv")]}),
    "order_value_by_history": lambda e: scores.order_value_by_history(e, "scored"),
    "purchases_by_frequency": lambda e: scores.purchases_by_frequency(e, "scored"),
    "export": lambda e: exported(scores.export(e, "scored", [0.1, 0.2, 0.5], list("ABCD"))),
}


@pytest.fixture(scope="module")
def segmented_both(both):
    """The same customers segmented in each engine, by both schemes."""
    for engine in both[:2]:
        rfm.keep_inputs(engine, "rfm_now", END, START)
        rfm.keep_inputs(engine, "rfm_before", START, START - BEFORE)
        for name, grid in (("rf", segments.GRID), ("matrix", None)):
            rfm.keep_segments(engine, f"{name}_now", "rfm_now", 5, grid)
            rfm.keep_segments(engine, f"{name}_before", "rfm_before", 5, grid)
    return both[:2]


RFM = {
    "keep_inputs": lambda e: rfm.per_customer(e, "rfm_now"),
    "keep_segments": lambda e: rfm.per_customer(e, "rf_now"),
    "keep_segments (value matrix)": lambda e: rfm.per_customer(e, "matrix_now"),
    "segment_sums": lambda e: rfm.segment_sums(e, "rf_now"),
    "transitions": lambda e: rfm.transitions(e, "matrix_now", "matrix_before"),
    "export": lambda e: exported(rfm.export(e, "rf_now")),
    "per_customer": lambda e: rfm.per_customer(e, "rf_before"),
}


def public_functions(module) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if callable(value) and not name.startswith("_") and value.__module__ == module.__name__
    }


def assert_same_tables(engines, read) -> None:
    duck, spark = engines
    expected, got = read(duck), read(spark)
    assert len(expected) > 0, "a parity check over nothing proves nothing"
    pd.testing.assert_frame_equal(got, expected, rtol=1e-12, check_dtype=False)


@pytest.fixture(scope="module")
def second_both(both):
    """The same customers' second orders kept in each engine."""
    for engine in both[:2]:
        second_orders.keep(engine, "second", END)
    return both[:2]


SECOND_ORDERS = {
    "shares": lambda e: second_orders.shares(e, "second", END, [30, 60, 90]),
    "days_by_channel": lambda e: second_orders.days_by_channel(e, "second"),
    "cohort_rate": lambda e: pd.DataFrame(
        [second_orders.cohort_rate(e, "second", Quarter.parse("2025Q2"), 90)]
    ),
}


def test_every_second_orders_function_is_in_the_parity_check():
    assert public_functions(second_orders) - {"keep"} == set(SECOND_ORDERS)


@pytest.mark.parametrize("name", SECOND_ORDERS)
def test_spark_counts_second_orders_as_duckdb_does(second_both, name):
    assert_same_tables(second_both, SECOND_ORDERS[name])


def test_every_rfm_function_is_in_the_parity_check():
    assert public_functions(rfm) == {name.split(" ")[0] for name in RFM}


@pytest.mark.parametrize("name", RFM)
def test_spark_segments_what_duckdb_segments(segmented_both, name):
    assert_same_tables(segmented_both, RFM[name])


def test_every_scores_function_is_in_the_parity_check():
    # keep_scores and release: what the others read; last_positions: arithmetic, no SQL
    assert public_functions(scores) - {"keep_scores", "release", "last_positions"} == set(SCORES)


@pytest.mark.parametrize("name", SCORES)
def test_spark_scores_what_duckdb_scores(scored_both, name):
    assert_same_tables(scored_both, SCORES[name])


def test_released_scores_leave_nothing_behind(both):
    for engine in both[:2]:
        queries.keep_customer_summary(engine, "gone", END, 7.0, origins=False)
        scores.keep_scores(
            engine, "gone_scores", "gone", fake_predictions(scores.histories(engine, "gone")), None
        )
        scores.release(engine, "gone_scores", "gone")
        assert not {"gone", "gone_scores"} & set(engine.tables)
        with pytest.raises(Exception, match="(?i)gone"):
            engine.sql("SELECT count(*) FROM gone_scores")


def test_every_query_function_is_in_the_parity_check():
    public = public_functions(queries)
    covered = {name.removesuffix("_by_quarter").removesuffix("_by_month") for name in QUERIES}
    assert public - {"sums_by_period"} == covered  # sums_by_period: via traffic_, marketing_


@pytest.mark.parametrize("name", QUERIES)
def test_spark_returns_what_duckdb_returns(both, name):
    duck, spark, periods = both
    expected, got = QUERIES[name](duck, periods), QUERIES[name](spark, periods)
    if isinstance(expected, dict):
        assert expected.keys() == got.keys()
        for key in expected:
            pd.testing.assert_frame_equal(got[key], expected[key], rtol=1e-12)
    elif isinstance(expected, pd.DataFrame):
        assert len(expected) > 0, "a parity check over nothing proves nothing"
        pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-12)
    else:
        assert got == expected and expected


def test_customers_read_a_range_at_a_time_come_back_the_same_from_spark(both, monkeypatch):
    """Spark's hash samples other ids to cut the ranges at; what is read is the same."""
    monkeypatch.setattr(queries, "SORTED_AT_ONCE", 300)
    monkeypatch.setattr(queries, "SAMPLED_ONE_IN", 4)
    duck, spark, _ = both
    read = {}
    for label, engine in (("duckdb", duck), ("spark", spark)):
        queries.keep_customer_summary(engine, "ranged", END, 7.0, origins=False)
        assert len(queries._customer_ranges(engine, "ranged")) > 2
        read[label] = whole(queries.in_customer_order(engine, "ranged", 250))
        engine.forget("ranged")
    assert len(read["duckdb"]) > 1000
    pd.testing.assert_frame_equal(read["spark"], read["duckdb"], rtol=1e-12)


def written_by(export: exports.CustomerExport, folder: Path) -> list[pd.DataFrame]:
    """A customer table written in parts (each checked to be at most PART_ROWS rows): what
    its Parquet parts and its CSV parts hold, each read whole."""
    export.write(folder, "customers")
    parts = sorted((folder / "customers").glob("customers-*.parquet"))
    assert len(parts) > 1 and all(pq.read_metadata(p).num_rows <= exports.PART_ROWS for p in parts)
    text = [pd.read_csv(p.with_suffix(".csv"), dtype={"customer_id": str}) for p in parts]
    return [exports.read(folder, "customers"), pd.concat(text, ignore_index=True)]


@pytest.mark.parametrize("table", ["scores", "segments"])
def test_spark_writes_a_large_customer_table_itself_as_duckdb_writes_it(
    scored_both, segmented_both, table, tmp_path, monkeypatch
):
    """Spark writes its own parts, where it runs; read back they are DuckDB's, Parquet and
    CSV alike (column types included: Spark's rank() is an INT, DuckDB's a BIGINT)."""
    monkeypatch.setattr(exports, "PART_ROWS", 700)
    monkeypatch.setattr(SparkEngine, "batches", None)  # nothing comes to this machine
    written = {}
    for label, engine in zip(("duckdb", "spark"), scored_both, strict=True):
        export = {
            "scores": scores.export(engine, "scored", [0.1, 0.2, 0.5], list("ABCD")),
            "segments": rfm.export(engine, "rf_now"),
        }[table]
        written[label] = written_by(export, tmp_path / label)
    (parquet, text), (duck_parquet, duck_text) = written["spark"], written["duckdb"]
    pd.testing.assert_frame_equal(parquet, duck_parquet, rtol=1e-12)
    # a whole double is 1 in pyarrow's CSV and 1.0 in Spark's: read back, int against float
    pd.testing.assert_frame_equal(text, duck_text, rtol=1e-12, check_dtype=False)


def test_spark_writes_awkward_text_as_duckdb_writes_it(tmp_path, monkeypatch):
    """Formulas made harmless, quotes, commas, line breaks, spaces, Chinese and missing values
    kept, in Parquet and CSV alike; a row without an id comes last."""
    monkeypatch.setattr(exports, "PART_ROWS", 2)
    names = ["=1+2", " padded ", 'say "hi", then', "two\nlines", "@home", "王芳", "", None]
    ids = [f"C{i}" for i in range(len(names) - 1)] + [None]  # no id: last, as DuckDB orders
    when = pd.Timestamp("2025-01-02 03:04:05.6")
    frame = pd.DataFrame({"customer_id": ids, "name": names, "when": when})
    written = {
        label: written_by(exports.CustomerExport(engine, "odd"), tmp_path / label)
        for label, engine in (
            ("duckdb", DuckDBEngine({"odd": frame})),
            ("spark", SparkEngine({"odd": frame}, LOCAL)),
        )
    }
    for got, expected in zip(written["spark"], written["duckdb"], strict=True):
        pd.testing.assert_frame_equal(got, expected)
    assert written["spark"][1]["name"].tolist()[:2] == ["'=1+2", " padded "]


def test_the_second_order_of_a_tie_and_of_a_one_time_buyer():
    """DuckDB's min(x, 2) (the two earliest orders) has no Spark twin; the translation must
    keep ties (two orders at the first moment: 0 days) and give NULL without a second order."""
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            "order_ts": pd.to_datetime(
                [
                    "2025-01-03",
                    "2025-01-01",
                    "2025-01-01",
                    "2025-02-01",
                    "2025-02-01 12:00",
                    "2025-03-01",
                ],
                format="ISO8601",
            ),
            "net_revenue": [1.0] * 6,
        }
    )
    got = queries.second_orders(SparkEngine({"orders": orders}, LOCAL), END)
    assert got["days_to_second"].tolist()[:2] == [0.0, 0.5]
    assert pd.isna(got["days_to_second"].iloc[2])
    assert "SLICE(ARRAY_SORT(COLLECT_LIST(order_ts)), 1, 2)" in to_spark_sql(
        "SELECT min(order_ts, 2) FROM orders"
    )


def test_spark_engine_holds_pandas_tables_and_replaces_registered_ones():
    spark = SparkEngine({"orders": pd.DataFrame({"customer_id": ["a"], "x": [1.5]})}, LOCAL)
    assert spark.has("orders") and not spark.has("traffic")
    assert spark.columns("orders") == ["customer_id", "x"]
    with pytest.raises(KeyError, match="no 'traffic' table"):
        spark.columns("traffic")
    for value in (1.0, 2.0):
        spark.register("extra", pd.DataFrame({"v": [value]}))
    assert spark.first_row("SELECT sum(v) FROM extra") == (2.0,)
    spark.close()


def test_a_server_that_cannot_start_says_why(tmp_path):
    server = connect_server(SparkParams(master="nowhere"), tmp_path / "server.log")
    with (
        pytest.raises(ReportError, match="(?s)did not start .master 'nowhere'.*Master must"),
        server,
    ):
        pass


def _differences(expected, got, path="") -> list[str]:
    """Where two metrics.json trees differ: floats beyond 1e-6 relative (response curves are
    fitted by an optimiser on sums added in another order), anything else at all."""
    if isinstance(expected, dict) and isinstance(got, dict):
        keys = expected.keys() | got.keys()
        return [
            d
            for k in sorted(keys)
            for d in _differences(expected.get(k), got.get(k), f"{path}/{k}")
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            d
            for i, pair in enumerate(zip(expected, got, strict=True))
            for d in _differences(*pair, f"{path}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(got, float):
        same = math.isclose(expected, got, rel_tol=1e-6, abs_tol=1e-9)
        return [] if same or (math.isnan(expected) and math.isnan(got)) else [path]
    return [] if expected == got else [path]


@pytest.mark.e2e
def test_the_report_on_spark_is_the_report_on_duckdb(batch, tmp_path, monkeypatch):
    """The quarter's and the year's batch with engine: spark (its own Spark Connect server,
    local mode, which also checks the inputs) publish the figures the DuckDB batch published,
    and leave nothing of Spark's where they ran."""
    from helpers.run import cli

    monkeypatch.chdir(tmp_path)
    # the batch connects this process to its Spark Connect server, which pyspark then marks in
    # the environment for good: forgotten after the test, so later ones start Spark here
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "")
    monkeypatch.delenv("SPARK_CONNECT_MODE_ENABLED")
    reports, extra, _ = batch
    spark = tmp_path / "spark.yaml"
    spark.write_text(yaml.safe_dump(ON_SPARK))
    argv = ["--project", str(PROJECT), "--reports-dir", str(tmp_path / "reports"), "--quiet"]
    argv += ["--params", str(extra), "--params", str(spark), "--quarter", "2025Q4"]
    assert cli.main([*argv, "--year", "2025"]) == 0
    for period in ("2025Q4", "2025"):
        expected = json.loads((reports / period / "metrics.json").read_text())
        got = json.loads((tmp_path / "reports" / period / "metrics.json").read_text())
        for tree in (expected, got):
            del tree["generated_at"], tree["page"]["params"]
        assert _differences(expected, got) == []
        assert got["data_quality"]["rows"]["orders"] > 0
        assert not (tmp_path / "reports" / period / "engine").exists()  # the server's log
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reports", "spark.yaml"]


def prepared(folder, quarter: str, **engine):
    """prepare_inputs on `folder` with the engine the overrides name: the clean inputs, or
    the violations as worded."""
    overrides = {"data_dir": str(folder), **engine}
    config = load_config(PROJECT / "params", quarter, overrides=overrides)
    try:
        return prepare_inputs(config)
    except DataContractError as caught:
        return [str(violation) for violation in caught.violations]


def violations_both(folder, quarter: str = "2025Q1") -> list[str]:
    """The violations the input checks find on Spark, once seen to be DuckDB's."""
    expected, got = prepared(folder, quarter), prepared(folder, quarter, **ON_SPARK)
    assert got == expected
    return got


def test_spark_checks_the_inputs_as_duckdb_does(tmp_path):
    """Every rule broken in typed Parquet files (rows counted from Spark's row index, infinite
    and implausible numbers by the translated isinf and isfinite), then the checks across
    files: the same violations, word for word."""
    ORDERS.to_parquet(tmp_path / "orders.parquet")
    traffic = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-05", "2025-01-05", "2025-01-06", "2025-01-07"]),
            "channel": ["Direct", "Direct", "Paid search", " \u3000"],
            "device": [None, None, "mobile", "mobile"],
            "sessions": [10, 10, 5, 1],
            "users": [8, 8, 4, 1],
            "engaged_sessions": [3, 3, 6, 0],
        }
    )
    traffic.to_parquet(tmp_path / "traffic.parquet")
    found = violations_both(tmp_path)
    assert len(found) == 11  # every rule broken above, each once
    assert "orders.parquet [cost]: not a finite number (1 rows) e.g. row 2: cost=inf" in found

    ORDERS.iloc[[0, 5]].to_parquet(tmp_path / "orders.parquet")
    lines = {"order_id": ["O1", "O9"], "sku": ["S1", "S2"], "quantity": [1, 2]}
    pd.DataFrame(lines | {"unit_price": [10.0, 20.0]}).to_parquet(tmp_path / "order_items.parquet")
    traffic.iloc[:1].assign(date=pd.Timestamp("2025-06-01")).to_parquet(
        tmp_path / "traffic.parquet"
    )
    assert violations_both(tmp_path) == [
        "order_items.parquet [order_id]: order line with no matching order (1 rows) e.g. "
        "row 2: order_id='O9'",
        "traffic.parquet [date]: no data in 2025Q1 (file covers 2025-06-01 to 2025-06-01) (0 rows)",
    ]


def assert_same_rows(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """The same rows, in any order (Spark gives no order without ORDER BY), a missing flag
    the same whether None or pandas' NA."""
    assert len(expected) > 0, "a parity check over nothing proves nothing"
    key = list(expected.columns)
    pd.testing.assert_frame_equal(
        got[key].convert_dtypes().sort_values(key, ignore_index=True),
        expected.convert_dtypes().sort_values(key, ignore_index=True),
        check_dtype=False,
    )


def test_spark_cleans_and_writes_the_inputs_as_duckdb_does(small_data, tmp_path):
    """The sample's typed Parquet files and its targets CSV (read by pandas, handed to Spark
    as Arrow): the same exclusions, data-quality summary and clean tables, and Spark's
    folders of Parquet parts hold the rows of DuckDB's files. Spark is given the folder as
    a URL, as it would be on shared storage (s3a://...): found, typed and read by URL."""
    quarter = load_config(PROJECT / "params", "2025Q4").period
    expected = prepared(small_data, "2025Q4")
    got = prepared(small_data.as_uri(), "2025Q4", **ON_SPARK)
    written = {}
    for bundle, engine in ((expected, "duckdb"), (got, "spark")):
        written[engine] = write_clean_inputs(bundle, tmp_path / engine)
    assert got.exclusions == expected.exclusions and expected.exclusions
    assert data_quality(got, quarter) == data_quality(expected, quarter)
    assert sorted(got.tables) == sorted(expected.tables) == sorted(written["spark"])
    for name, table in expected.tables.items():
        assert_same_rows(table, got.tables[name])
        assert written["spark"][name].is_dir()
        assert_same_rows(
            pd.read_parquet(written["duckdb"][name]), pd.read_parquet(written["spark"][name])
        )
    for bundle in (expected, got):
        bundle.staging.close()


def test_spark_strips_and_blanks_text_as_duckdb_does(tmp_path):
    """Ids and text padded with spaces (the ideographic one among them) or blank, a NaN
    amount, a member flag missing: the same clean orders."""
    orders = pd.DataFrame(
        {
            "order_id": ["O1 ", "\u3000O2", "O3"],
            "customer_id": ["C1", " C2 ", "C3"],
            "order_ts": pd.to_datetime(
                ["2025-01-05 10:00", "2025-02-01 00:00", "2025-03-01 00:00"]
            ),
            "revenue": [100.0, 50.0, 20.0],
            "cost": [10.0, np.nan, 5.0],
            "channel": [" Direct", "", None],
            "is_member": pd.array([True, None, False], dtype="boolean"),
        }
    )
    orders.to_parquet(tmp_path / "orders.parquet")
    expected, got = prepared(tmp_path, "2025Q1"), prepared(tmp_path, "2025Q1", **ON_SPARK)
    clean = expected.tables["orders"]
    assert clean["order_id"].tolist() == ["O1", "O2", "O3"]
    assert clean["channel"].isna().tolist() == [False, True, True]
    assert_same_rows(clean, got.tables["orders"])
