"""The data contract: each kind of bad input gets a specific message; nothing is dropped."""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers.core.config import load_config
from helpers.core.errors import DataContractError, InputFileError
from helpers.core.periods import Quarter, Year
from helpers.data import checks
from helpers.data.contract import CONTRACT
from helpers.data.inputs import data_quality, prepare_inputs, write_clean_inputs
from helpers.data.reading import map_columns, read_table

from .conftest import PROJECT

ORDERS = """order_id,customer_id,order_ts,revenue,status,refund,channel
O1,C1,2025-01-05 10:00,100,completed,0,直接访问
O2,C1,2025-02-01 12:00,50,completed,10,直接访问
O3,C2,2024-12-30 09:00,80,cancelled,0,付费搜索
O4,C3,2025-03-01 08:00,60,completed,60,付费搜索
O5,C2,2025-03-15 20:00,40,TEST,0,付费搜索
"""
TRAFFIC = """date,channel,sessions,users
2025-01-05,Direct,100,80
2025-01-05,Paid search,50,45
"""
MARKETING = """date,channel,campaign,spend
2025-01-05,Paid search,Brand,120.5
"""


def write_inputs(folder: Path, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def prepare(folder: Path, quarter: str = "2025Q1", **overrides):
    config = load_config(
        PROJECT / "params", quarter, overrides={"data_dir": str(folder), **overrides}
    )
    return prepare_inputs(config)


def violations_of(folder: Path, **overrides) -> list[str]:
    with pytest.raises(DataContractError) as caught:
        prepare(folder, **overrides)
    return [str(v) for v in caught.value.violations]


def test_valid_inputs_are_coerced_and_exclusions_counted(tmp_path):
    bundle = prepare(write_inputs(tmp_path, orders=ORDERS, traffic=TRAFFIC))
    orders = bundle.tables["orders"]
    assert orders["order_id"].tolist() == ["O1", "O2"]
    assert orders["net_revenue"].tolist() == [100.0, 40.0]  # refunds come off revenue
    assert pd.api.types.is_datetime64_any_dtype(orders["order_ts"])
    excluded = {row["reason"]: row["rows"] for row in bundle.exclusions}
    assert excluded == {"status: cancelled": 1, "status: test": 1, "fully refunded": 1}
    assert sorted(bundle.absent) == ["marketing", "order_items", "targets"]
    quality = data_quality(bundle, Quarter(2025, 1))
    assert quality == {
        "sources": {"orders": "orders.csv", "traffic": "traffic.csv"},
        "absent": bundle.absent,
        "exclusions": bundle.exclusions,
        "rows": {"orders": 2, "traffic": 2},
        # the valid orders end on 1 Feb, the traffic on 5 Jan: short of 31 March
        "ends_early": [
            {"table": "orders", "last": "2025-02-01"},
            {"table": "traffic", "last": "2025-01-05"},
        ],
    }
    written = write_clean_inputs(bundle, tmp_path / "clean")
    assert set(written) == {"orders", "traffic"}
    for name, path in written.items():
        assert path == tmp_path / "clean" / f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(path), bundle.tables[name])
    # CSV dates are read by pandas in nanoseconds and written in microseconds (what Spark reads)
    for name, column in (("orders", "order_ts"), ("traffic", "date")):
        assert pq.read_schema(written[name]).field(column).type == pa.timestamp("us")
    with pytest.raises(KeyError, match="marketing"):
        bundle.tables["marketing"]
    assert data_quality(bundle, Quarter(2025, 1)) == quality  # now read from the files


def test_missing_required_column(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace("revenue", "amount"))
    [message] = violations_of(folder)
    assert message.startswith("orders.csv [revenue]: missing required column")
    assert "amount" in message  # says what was found instead


def test_unparseable_date_names_rows_and_values(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace("2025-02-01 12:00", "2025-13-45"))
    [message] = violations_of(folder)
    assert message == (
        "orders.csv [order_ts]: unparseable date/time (1 rows) e.g. row 2: order_ts='2025-13-45'"
    )


def test_negative_sessions_and_spend(tmp_path):
    folder = write_inputs(
        tmp_path,
        orders=ORDERS,
        traffic=TRAFFIC.replace(",50,45", ",-50,45"),
        marketing=MARKETING.replace("120.5", "-3"),
    )
    messages = violations_of(folder)
    assert "traffic.csv [sessions]: negative value (1 rows) e.g. row 2: sessions=-50" in messages
    assert "marketing.csv [spend]: negative value (1 rows) e.g. row 1: spend=-3" in messages


def test_duplicate_order_id(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace("O2,", "O1,"))
    [message] = violations_of(folder)
    assert message.startswith("orders.csv [order_id]: duplicate order_id (2 rows)")


def test_orders_with_no_customer(tmp_path):
    folder = write_inputs(
        tmp_path, orders=ORDERS.replace("O2,C1,", "O2,,").replace("O4,C3", "O4, ")
    )
    [message] = violations_of(folder)
    assert message.startswith("orders.csv [customer_id]: orders with no customer (2 rows)")


def test_quarter_with_no_data(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS, traffic=TRAFFIC)
    messages = violations_of(folder, quarter="2026Q1")
    assert "orders.csv [order_ts]: no data in 2026Q1 (file covers 2024-12-30 to 2025-03-15)" in [
        m.split(" (0 rows)")[0] for m in messages
    ]
    assert any(m.startswith("traffic.csv [date]: no data in 2026Q1") for m in messages)


def test_every_violation_is_reported_at_once(tmp_path):
    folder = write_inputs(
        tmp_path,
        orders=ORDERS.replace("100,", "abc,").replace("O2,", "O1,"),
        traffic=TRAFFIC.replace("Direct,100", "Direct,-1"),
    )
    messages = violations_of(folder)
    assert len(messages) == 3
    assert any("[revenue]: not a number" in m for m in messages)


def test_order_lines_must_match_an_order(tmp_path):
    items = "order_id,sku,quantity,unit_price\nO1,SK-1,1,100\nO9,SK-2,2,5\n"
    folder = write_inputs(tmp_path, orders=ORDERS, order_items=items)
    [message] = violations_of(folder)
    assert message.startswith(
        "order_items.csv [order_id]: order line with no matching order (1 rows)"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings_and_mapped_chinese_headers(tmp_path, encoding):
    chinese = ORDERS.replace("order_id,customer_id", "订单号,客户ID")
    (tmp_path / "orders.csv").write_bytes(chinese.encode(encoding))
    bundle = prepare(tmp_path, columns={"orders": {"订单号": "order_id", "客户ID": "customer_id"}})
    orders = bundle.tables["orders"]
    assert orders["order_id"].tolist() == ["O1", "O2"]
    assert orders["channel"].tolist() == ["直接访问", "直接访问"]


def test_parquet_and_excel_inputs_with_case_insensitive_headers(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(ORDERS)).rename(columns={"order_id": "Order_ID"})
    frame.to_parquet(tmp_path / "orders.parquet")
    assert prepare(tmp_path).tables["orders"]["order_id"].tolist() == ["O1", "O2"]
    excel = tmp_path / "excel"
    excel.mkdir()
    frame.to_excel(excel / "orders.xlsx", index=False)
    assert prepare(excel).tables["orders"]["net_revenue"].sum() == pytest.approx(140.0)


def test_unreadable_and_ambiguous_files(tmp_path):
    write_inputs(tmp_path, orders=ORDERS)
    (tmp_path / "orders.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match="several candidate files"):
        prepare(tmp_path)
    with pytest.raises(InputFileError, match="cannot read"):
        prepare(tmp_path, files={"orders": "orders.parquet"})
    with pytest.raises(InputFileError, match="file not found"):
        prepare(tmp_path, files={"orders": "nope.csv"})


def test_a_table_that_ends_before_the_period_does_is_named():
    from helpers.data.inputs import ends_early
    from helpers.render.locale import Locale

    last = {"orders": pd.Timestamp("2025-12-31"), "traffic": pd.Timestamp("2025-06-30")}
    assert ends_early(last, Year(2025)) == [{"table": "traffic", "last": "2025-06-30"}]
    assert ends_early(last, Quarter(2025, 2)) == []
    words = Locale().text("index.ends_early", table="traffic", last="30 Jun 2025", period="2025")
    assert words == "The traffic table ends on 30 Jun 2025: its figures cover only part of 2025."


# The input failures the command line reports (tests/test_failures.py, end to end), here
# without a batch around them, so that make mutate runs them against data/checks and reading.


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "orders.csv [revenue]: not a finite number (1 rows) e.g. row 2: revenue='inf'"),
        ("1e300", "orders.csv [revenue]: implausibly large"),
    ],
)
def test_non_finite_and_implausible_amounts_by_row(tmp_path, value, message):
    folder = write_inputs(tmp_path, orders=ORDERS.replace(",50,", f",{value},"))
    [found] = violations_of(folder)
    assert found.startswith(message) and "row 2" in found


def test_an_amount_just_under_the_plausible_maximum_is_plausible(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace(",50,", ",1000000000,"))
    assert prepare(folder).tables["orders"]["revenue"].max() == 1e9
    [found] = violations_of(folder, plausible_max=999_999_999)
    assert found.startswith("orders.csv [revenue]: implausibly large")


def test_a_header_only_file_and_a_header_twice(tmp_path):
    header_only = write_inputs(tmp_path / "a", orders=ORDERS.splitlines()[0] + "\n")
    assert violations_of(header_only) == [
        "orders.csv [-]: the file has a header but no rows (0 rows)"
    ]
    twice = ORDERS.replace("status,refund", "status,revenue")
    with pytest.raises(InputFileError, match=r"column header\(s\) \['revenue'\] appear more"):
        prepare(write_inputs(tmp_path / "b", orders=twice))


def test_two_columns_onto_one_name_and_a_mapped_column_the_file_lacks(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace(",channel", ",Amount"))
    with pytest.raises(InputFileError, match=r"several columns would become \['revenue'\]"):
        prepare(folder, columns={"orders": {"Amount": "revenue"}})
    with pytest.raises(InputFileError, match=r"columns \['Betrag'\] named in the column mapping"):
        prepare(folder, columns={"orders": {"Betrag": "revenue"}})


def test_headers_are_matched_without_their_padding_bom_or_case():
    """A header keeps no spaces or byte-order mark and matches in any case; a column the
    contract does not know keeps its name as it is."""
    frame = pd.DataFrame(columns=["\ufeffOrder_ID", " Revenue ", "X_coupon", "status"])
    mapped = map_columns(frame, CONTRACT["orders"], {}, "orders.csv")
    assert list(mapped.columns) == ["order_id", "revenue", "X_coupon", "status"]
    clash = pd.DataFrame(columns=["Revenue", "REVENUE", "order_id"])
    with pytest.raises(InputFileError) as caught:
        map_columns(clash, CONTRACT["orders"], {}, "orders.csv")
    assert str(caught.value) == (
        "orders.csv: several columns would become ['revenue']: "
        "{'revenue': ['Revenue', 'REVENUE']}; map only one of them"
    )


def test_a_header_twice_once_behind_a_byte_order_mark(tmp_path):
    path = tmp_path / "orders.parquet"
    pd.DataFrame([[1.0, 2.0]], columns=["\ufeffrevenue", " revenue"]).to_parquet(path)
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"{path}: column header(s) ['revenue'] appear more than once; rename or remove the copies"
    )
    sizes = tmp_path / "sizes.parquet"  # only a byte-order mark goes: XL stays XL
    pd.DataFrame([[1, 2]], columns=["XL", "L"]).to_parquet(sizes)
    assert list(read_table(sizes).columns) == ["XL", "L"]


def test_a_date_after_the_run_date(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace("2025-02-01 12:00", "2099-01-01 10:00"))
    [found] = violations_of(folder)
    assert found.startswith("orders.csv [order_ts]: date after the run date ")
    assert "(1 rows) e.g. row 2: order_ts='2099-01-01 10:00'" in found


def test_day_first_and_mixed_dates_are_never_guessed(tmp_path):
    day_first = ORDERS.replace("2025-01-05 10:00", "05/01/2025 10:00").replace(
        "2025-02-01 12:00", "01/02/2025 12:00"
    )
    day_first = day_first.replace("2024-12-30 09:00", "30/12/2024 09:00")
    day_first = day_first.replace("2025-03-01 08:00", "01/03/2025 08:00")
    day_first = day_first.replace("2025-03-15 20:00", "15/03/2025 20:00")
    folder = write_inputs(tmp_path / "a", orders=day_first)
    found = violations_of(folder)
    assert any("[order_ts]: day and month order cannot be told apart" in m for m in found)
    told = prepare(folder, date_format={"orders": "%d/%m/%Y %H:%M"}).tables["orders"]
    assert told["order_ts"].tolist() == list(
        pd.to_datetime(["2025-01-05 10:00", "2025-02-01 12:00"])
    )
    mixed = ORDERS.replace("2025-02-01 12:00", "2025/02/01")
    [found] = violations_of(write_inputs(tmp_path / "b", orders=mixed))
    assert found.startswith("orders.csv [order_ts]: dates in several formats")


def test_file_names_match_whatever_their_case(tmp_path):
    (tmp_path / "Orders.CSV").write_text(ORDERS, encoding="utf-8")
    assert prepare(tmp_path).tables["orders"]["order_id"].tolist() == ["O1", "O2"]


def test_refunds_missing_or_absent_and_orders_worth_nothing(tmp_path):
    orders = (
        "order_id,customer_id,order_ts,revenue,refund\n"
        "O1,C1,2025-01-05 10:00,100,\n"
        "O2,C2,2025-01-06 10:00,0,0\n"
        "O3,C3,2025-01-07 10:00,0.5,0.5\n"
        "O4,C4,2025-01-08 10:00,80,20\n"
        "O5,C5,2025-01-09 10:00,0,5\n"
    )
    bundle = prepare(write_inputs(tmp_path / "a", orders=orders))
    kept = bundle.tables["orders"].set_index("order_id")["net_revenue"]
    # a missing refund is none; an order worth nothing is kept (nothing was refunded), and a
    # refund never takes it below 0; half a unit fully refunded is excluded like any other
    assert kept.to_dict() == {"O1": 100.0, "O2": 0.0, "O4": 60.0, "O5": 0.0}
    assert bundle.exclusions == [
        {"reason": "fully refunded", "table": "orders", "rows": 1, "revenue": 0.5}
    ]
    without = "\n".join(line.rsplit(",", 1)[0] for line in orders.splitlines()) + "\n"
    absent = prepare(write_inputs(tmp_path / "b", orders=without)).tables["orders"]
    assert absent["net_revenue"].tolist() == [100.0, 0.0, 0.5, 80.0, 0.0]  # no refund column


def test_clean_inputs_are_written_without_the_index_into_a_new_folder(tmp_path):

    bundle = prepare(write_inputs(tmp_path / "in", orders=ORDERS))
    folder = tmp_path / "out" / "deeper" / "clean"
    written = write_clean_inputs(bundle, folder)
    assert write_clean_inputs(bundle, folder) == written  # again, into the same folder
    assert pq.read_schema(written["orders"]).names == list(bundle.tables["orders"].columns)


def test_the_one_format_of_a_date_column_or_why_there_is_none():
    from helpers.data.checks import date_format_of

    assert date_format_of(pd.Series(["2025-01-05 10:00", "2025-02-01 12:00"])) == (
        "%Y-%m-%d %H:%M",
        None,
    )
    # a value no format fits is left to the unparseable-value check, whatever comes first
    assert date_format_of(pd.Series(["0 unknown", "2025-01-05"])) == ("%Y-%m-%d", None)
    assert date_format_of(pd.Series(["soon", None])) == (None, None)
    _, several = date_format_of(pd.Series(["2025-01-05 10:00", "2025/02/01"]))
    assert several == (
        "dates in several formats: %Y-%m-%d %H:%M (e.g. '2025-01-05 10:00'), %Y/%m/%d "
        "(e.g. '2025/02/01'); use one, or set date_format"
    )
    _, ambiguous = date_format_of(pd.Series(["03/10/2024"]))
    assert ambiguous == (
        "day and month order cannot be told apart (e.g. '03/10/2024'); set date_format for "
        "this table in the params, e.g. '%d/%m/%Y' or '%m/%d/%Y'"
    )


def test_the_lines_of_excluded_orders_go_with_them_and_are_counted(tmp_path):
    items = "order_id,sku,quantity,unit_price\nO3,SK-1,1,80\nO1,SK-2,1,100\nO5,SK-3,2,20\n"
    bundle = prepare(write_inputs(tmp_path, orders=ORDERS, order_items=items))
    kept = bundle.tables["order_items"]
    assert kept["order_id"].tolist() == ["O1"] and list(kept.index) == [0]
    assert list(bundle.tables["orders"].index) == [0, 1]  # renumbered after the exclusions
    assert {"table": "orders", "reason": "status: cancelled", "rows": 1, "revenue": 80.0} in (
        bundle.exclusions
    )
    assert bundle.exclusions[-1] == {
        "table": "order_items",
        "reason": "lines of excluded orders",
        "rows": 2,
        "revenue": None,
    }


def test_missing_markers_and_an_encoding_only_the_params_name(tmp_path):
    marked = ORDERS.replace("completed,0,直接访问", "completed,NA,直接访问", 1)
    bundle = prepare(write_inputs(tmp_path / "a", orders=marked))
    assert bundle.tables["orders"]["net_revenue"].tolist() == [100.0, 40.0]  # NA: no refund
    latin = ORDERS.replace("直接访问", "Café").replace("付费搜索", "Résumé")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "orders.csv").write_bytes(latin.encode("latin-1"))
    with pytest.raises(InputFileError) as caught:
        prepare(tmp_path / "b")
    assert str(caught.value).endswith(
        "orders.csv: cannot decode as utf-8-sig or gb18030; set csv_encoding in the params"
    )
    read = prepare(tmp_path / "b", csv_encoding="latin-1").tables["orders"]
    assert read["channel"].tolist() == ["Café", "Café"]


def test_headers_twice_in_excel_with_a_byte_order_mark_and_files_of_no_known_type(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(ORDERS))
    twice = frame.assign(extra=frame["revenue"]).rename(columns={"extra": "revenue"})
    twice.to_excel(tmp_path / "orders.xlsx", index=False)
    with pytest.raises(InputFileError, match=r"column header\(s\) \['revenue'\] appear more"):
        prepare(tmp_path)
    marked = tmp_path / "bom"
    marked.mkdir()
    (marked / "orders.csv").write_bytes(ORDERS.encode("utf-8-sig"))
    read = prepare(marked, csv_encoding="utf-8").tables["orders"]  # the mark is not a name
    assert read["order_id"].tolist() == ["O1", "O2"]
    (tmp_path / "orders.json").write_text("{}")
    with pytest.raises(InputFileError) as caught:
        prepare(tmp_path, files={"orders": "orders.json"})
    assert str(caught.value).endswith(
        "orders.json: unsupported file type; use one of "
        "['.csv', '.parquet', '.txt', '.xls', '.xlsx']"
    )


def test_two_columns_onto_one_name_say_which(tmp_path):
    folder = write_inputs(tmp_path, orders=ORDERS.replace(",channel", ",Amount"))
    with pytest.raises(InputFileError) as caught:
        prepare(folder, columns={"orders": {"Amount": "revenue"}})
    assert str(caught.value).endswith(
        "orders.csv: several columns would become ['revenue']: "
        "{'revenue': ['revenue', 'Amount']}; map only one of them"
    )


@pytest.mark.parametrize(
    ("rules", "kept", "excluded"),
    [
        ({"statuses": []}, ["O1", "O2", "O3", "O5"], {"fully refunded": 1}),
        (
            {"fully_refunded": False},
            ["O1", "O2", "O4"],
            {"status: cancelled": 1, "status: test": 1},
        ),
        (
            {"statuses": ["Cancelled"], "fully_refunded": False},
            ["O1", "O2", "O4", "O5"],
            {"status: cancelled": 1},
        ),
        ({"statuses": [], "fully_refunded": False}, ["O1", "O2", "O3", "O4", "O5"], {}),
    ],
)
def test_exclusion_rules_follow_the_params(tmp_path, rules, kept, excluded):
    """No status excluded, refunds kept, a status named in another case: each order in or out
    as the rules say, and what went out counted by reason (O3 is cancelled, O5 a test, O4
    fully refunded)."""
    bundle = prepare(write_inputs(tmp_path, orders=ORDERS), exclusions=rules)
    assert bundle.tables["orders"]["order_id"].tolist() == kept
    assert {row["reason"]: row["rows"] for row in bundle.exclusions} == excluded
    net = bundle.tables["orders"].set_index("order_id")["net_revenue"]
    assert net.get("O4", 0.0) == 0.0  # a fully refunded order kept is worth nothing


def test_yes_no_text_is_read_as_booleans_whatever_its_case():
    frame = pd.DataFrame({"is_member": [" Yes", "no", "TRUE", "0", "是", "maybe", None]})
    read = checks._coerce(frame, "is_member", "bool")
    assert read.tolist() == [True, False, True, False, True, pd.NA, pd.NA]
    booleans = pd.DataFrame({"is_member": [True, False]})
    assert checks._coerce(booleans, "is_member", "bool").tolist() == [True, False]


def test_blank_text_is_not_a_value_but_zero_is():
    text = pd.Series(["a", " ", "\u3000", "", None, "0"])
    assert checks._given(text).tolist() == [True, False, False, False, False, True]
    assert checks._given(pd.Series([0.0, None, 1.5])).tolist() == [True, False, True]


def test_a_missing_cell_is_not_flagged_and_keys_are_named_whole():
    frame = pd.DataFrame({"c": ["a", "b", "c"]})
    flagged = pd.Series([True, pd.NA, False], dtype="boolean")
    [found] = checks._flagged(frame, flagged, "f.csv", "c", "a rule")
    assert str(found) == "f.csv [c]: a rule (1 rows) e.g. row 1: c='a'"
    assert checks.duplicate(["date", "channel"]) == "duplicate date+channel"


def test_an_unreadable_or_empty_workbook(tmp_path):
    from helpers.data.reading import read_table

    broken = tmp_path / "orders.xlsx"
    broken.write_bytes(b"not a workbook")
    with pytest.raises(InputFileError, match=f"^{broken}: cannot read: "):
        read_table(broken)
    empty = tmp_path / "empty.xlsx"
    pd.DataFrame().to_excel(empty, index=False)
    assert read_table(empty).empty
