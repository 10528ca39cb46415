"""Deterministic sample shop: every table of the data contract, simulated from known models.

Customers buy and lapse as in the modified BG/NBD (heterogeneous purchase rates; after each
purchase, the first included, a customer leaves with their dropout probability) in
"operational time", which a seasonal intensity (weekday, yearly, 618 and Double 11 peaks,
Spring Festival dip) maps to calendar days; spend per order follows Gamma-Gamma. Traffic is built
from the orders through per-channel conversion rates; marketing revenue follows a saturating
(Hill) response to spend. The true parameters, and how many customers were still alive at each
quarter's end, are written to manifest.json so tests can check what the models recover.

Run: python -m helpers.data.sample --customers 30000 --out data/sample
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from helpers.data.sample_assortment import (
    CATEGORIES,
    SKUS_PER_CATEGORY,
    draw_categories,
    sku_codes,
)
from helpers.data.sample_assortment import truth as assortment_truth
from helpers.data.sample_shop import (
    CHANNELS,
    MARKETING_BASE_CUSTOMERS,
    REGION_TRENDS,
    REGIONS,
    add_actuals,
    build_marketing,
    build_targets,
    build_traffic,
    draw_regions,
    hour_weights,
    new_customers_by_day,
    target_actuals,
    traffic_cells,
)

START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")


@dataclass(frozen=True)
class TrueParameters:
    """Parameters the customers were simulated with (rates per day, spend in currency units)."""

    r: float = 1.0
    alpha: float = 30.0
    a: float = 2.0
    b: float = 6.0
    spend_p: float = 6.0
    spend_q: float = 4.0
    spend_gamma: float = 80.0
    max_repeats: int = 60


def seasonal_intensity(days: pd.DatetimeIndex) -> np.ndarray:
    """Relative daily demand (mean 1): weekday, yearly cycle, 618 and Double 11 peaks, CNY dip."""
    weekday = np.array([0.97, 0.95, 0.96, 0.98, 1.03, 1.07, 1.04])[days.day_of_week]
    yearly = 1 + 0.12 * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 330) / 365.25)
    promo = np.ones(len(days))
    for month, day in ((6, 18), (11, 11), (12, 12)):
        peak = pd.to_datetime({"year": days.year, "month": month, "day": day})
        lead = (peak.to_numpy() - days.to_numpy()) / np.timedelta64(1, "D")
        height = 3.5 if month != 12 else 1.8
        promo *= np.where(lead == 0, height, np.where((lead > 0) & (lead <= 10), 1.5, 1.0))
    spring_festival = np.asarray((days.month == 2) & (days.day <= 14))
    intensity = weekday * yearly * promo * np.where(spring_festival, 0.7, 1.0)
    intensity = np.asarray(intensity, dtype=float)
    return intensity / intensity.mean()


def _draw_channels(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    shares = CHANNELS["acquisition_share"].to_numpy() * (
        1 + CHANNELS["share_trend"].to_numpy() * years[:, None]
    )
    cumulative = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    return (rng.random(len(years))[:, None] > cumulative).sum(axis=1)


def simulate_customers(
    n: int,
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    intensity: np.ndarray,
    truth: TrueParameters,
    first_id: int = 1,
) -> pd.DataFrame:
    """One row per customer: acquisition day, channel, latent purchase rate, dropout, spend;
    ids numbered from `first_id`, in random order."""
    growth = np.exp(0.22 * np.arange(len(days)) / 365.25)
    weights = intensity * growth
    first_day = np.sort(rng.choice(len(days), size=n, p=weights / weights.sum()))
    channel = _draw_channels(rng, first_day / 365.25)
    rate = rng.gamma(truth.r, 1 / truth.alpha, n) * CHANNELS["rate_mult"].to_numpy()[channel]
    dropout = np.clip(
        rng.beta(truth.a, truth.b, n) * CHANNELS["dropout_mult"].to_numpy()[channel], 0.01, 0.95
    )
    spend_scale = rng.gamma(truth.spend_q, 1 / truth.spend_gamma, n)  # nu in Gamma-Gamma
    member_odds = 0.12 + 0.35 * (rate.argsort().argsort() / n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in rng.permutation(n) + first_id],
            "first_day": first_day,
            "channel": channel,
            "rate": rate,
            "dropout": dropout,
            "spend_scale": spend_scale,
            "is_member": rng.random(n) < member_odds,
            "region": draw_regions(rng, first_day / 365.25),
        }
    )


def simulate_purchase_days(
    customers: pd.DataFrame,
    rng: np.random.Generator,
    operational_time: np.ndarray,
    truth: TrueParameters,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Purchase days per customer: first purchase plus modified BG/NBD repeats in operational
    time (a customer may leave right after any purchase, the first included); and when each
    customer leaves, in operational time (at their last purchase; never for the few who reach
    max_repeats)."""
    n = len(customers)
    draws = rng.geometric(customers["dropout"].to_numpy()) - 1
    repeats = np.minimum(draws, truth.max_repeats)
    owner = np.repeat(np.arange(n), repeats)
    gaps = rng.exponential(1 / customers["rate"].to_numpy()[owner])
    ends = np.cumsum(repeats)
    cumulative = np.cumsum(gaps)
    offsets = np.repeat(np.concatenate([[0.0], cumulative[ends[:-1] - 1]]) if n else [], repeats)
    start_u = operational_time[customers["first_day"].to_numpy()]
    repeat_u = start_u[owner] + cumulative - offsets
    leaves_at = start_u.astype(float)
    has_repeats = repeats > 0
    leaves_at[has_repeats] = repeat_u[ends[has_repeats] - 1]
    leaves_at[draws > truth.max_repeats] = np.inf
    repeat_day = np.searchsorted(operational_time, repeat_u)
    keep = repeat_day < len(operational_time)
    customer = np.concatenate([np.arange(n), owner[keep]])
    day = np.concatenate([customers["first_day"].to_numpy(), repeat_day[keep]])
    order = np.lexsort((customer, day))
    purchases = pd.DataFrame(
        {
            "customer": customer[order],
            "day": day[order],
            "is_first": np.concatenate([np.ones(n, bool), np.zeros(keep.sum(), bool)])[order],
        }
    )
    return purchases, leaves_at


def build_order_items(
    n_orders: int,
    gross: np.ndarray,
    when: pd.DatetimeIndex,
    rng: np.random.Generator,
    pairs: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Order lines whose values add up to each order's gross value, from the assortment
    (sample_assortment); `when` is each order's day; the pairs bought together are drawn
    from their own generator, so the rest of the simulation does not depend on them.
    Returns lines, gross, cost."""
    lines = np.minimum(1 + rng.poisson(0.5, n_orders), 5)
    owner = np.repeat(np.arange(n_orders), lines)
    share = rng.gamma(1.0, 1.0, len(owner))
    share /= np.bincount(owner, share)[owner]
    category = draw_categories(owner, when[owner], rng, pairs)
    quantity = 1 + rng.poisson(0.3, len(owner))
    unit_price = np.maximum(np.round(gross[owner] * share / quantity, 2), 0.5)
    margin = CATEGORIES["margin"].to_numpy()[category] * rng.uniform(0.9, 1.1, len(owner))
    unit_cost = np.round(unit_price * (1 - margin), 2)
    sku = sku_codes(category, rng.integers(1, SKUS_PER_CATEGORY + 1, len(owner)), when[owner])
    items = pd.DataFrame(
        {
            "order_line": owner,
            "sku": sku,
            "category": CATEGORIES["category"].to_numpy()[category],
            "quantity": quantity,
            "unit_price": unit_price,
            "unit_cost": unit_cost,
        }
    )
    order_gross = np.bincount(owner, quantity * unit_price, minlength=n_orders)
    order_cost = np.bincount(owner, quantity * unit_cost, minlength=n_orders)
    return items, np.round(order_gross, 2), np.round(order_cost, 2)


def build_orders(
    customers: pd.DataFrame,
    purchases: pd.DataFrame,
    days: pd.DatetimeIndex,
    intensity: np.ndarray,
    rng: np.random.Generator,
    truth: TrueParameters,
    pairs_seed: list[int] | int = 0,
    first_id: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and order lines from purchase days: values, discounts, statuses and refunds
    (`pairs_seed` seeds the draw of the pairs bought together); order ids from `first_id`."""
    n = len(purchases)
    buyer = purchases["customer"].to_numpy()
    nu = customers["spend_scale"].to_numpy()[buyer]
    value = (
        rng.gamma(truth.spend_p, 1 / nu)
        * CHANNELS["spend_mult"].to_numpy()[customers["channel"].to_numpy()[buyer]]
    )
    pairs = np.random.default_rng(pairs_seed)  # its own stream: see build_order_items
    items, gross, cost = build_order_items(n, value, days[purchases["day"].to_numpy()], rng, pairs)
    promo_day = intensity[purchases["day"].to_numpy()] > 1.4
    discount = np.round(
        gross
        * np.where(promo_day, rng.uniform(0.1, 0.2, n), rng.choice([0, 0.05], n, p=[0.7, 0.3])),
        2,
    )
    revenue = np.round(gross - discount, 2)
    status = rng.choice(["completed", "cancelled", "test"], n, p=[0.972, 0.025, 0.003])
    refunded = (status == "completed") & (rng.random(n) < 0.04)
    refund = np.where(
        refunded,
        np.where(rng.random(n) < 0.5, revenue, np.round(revenue * rng.uniform(0.2, 0.6, n), 2)),
        0.0,
    )
    hour = rng.choice(24, n, p=hour_weights())
    order_ts = days[purchases["day"].to_numpy()] + pd.to_timedelta(
        hour * 3600 + rng.integers(0, 3600, n), unit="s"
    )
    order_id = np.array([f"O{i:09d}" for i in range(first_id, first_id + n)], dtype=object)
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customers["customer_id"].to_numpy()[buyer],
            "order_ts": order_ts,
            "revenue": revenue,
            "cost": cost,
            "discount": discount,
            "refund": refund,
            "status": status,
            "channel": CHANNELS["channel"].to_numpy()[customers["channel"].to_numpy()[buyer]],
            "is_member": customers["is_member"].to_numpy()[buyer],
            "region": customers["region"].to_numpy()[buyer],
        }
    )
    items.insert(0, "order_id", order_id[items.pop("order_line").to_numpy()])
    return orders, items


def alive_at_quarter_ends(
    first_day: np.ndarray, leaves_at: np.ndarray, days: pd.DatetimeIndex, operational_time
) -> dict[str, int]:
    """The simulated truth behind "expected active customers": per quarter, the customers
    acquired by its end who had not yet left."""
    alive = {}
    for end in pd.date_range(days[0], days[-1] + pd.Timedelta(days=1), freq="QS")[1:]:
        last = days.searchsorted(end) - 1
        alive[f"{end - pd.Timedelta(days=1):%Y}Q{(end - pd.Timedelta(days=1)).quarter}"] = int(
            ((first_day <= last) & (leaves_at > operational_time[last])).sum()
        )
    return alive


def generate(n_customers: int = 30_000, seed: int = 42) -> dict[str, pd.DataFrame]:
    """Every contract table for a shop of `n_customers` customers, deterministic given the seed."""
    return simulate(n_customers, seed)[0]


PART_CUSTOMERS = 1_000_000  # customers simulated at once: about 3 GB at the peak


def simulate(
    n_customers: int = 30_000, seed: int = 42, sink: Callable | None = None
) -> tuple[dict[str, pd.DataFrame], dict]:
    """The contract tables and the truth behind them: the customers alive at each quarter's
    end (alive_at_quarter_ends). Customers are simulated PART_CUSTOMERS at a time; with `sink`,
    each part's orders and order lines go to sink(table, frame) instead of being returned, so
    a shop of any size fits in memory (traffic, marketing and targets are built from what the
    parts add up to)."""
    rng = np.random.default_rng(seed)
    truth = TrueParameters()
    days = pd.date_range(START, END, freq="D")
    intensity = seasonal_intensity(days)
    operational_time = np.cumsum(intensity)
    parts = -(-n_customers // PART_CUSTOMERS) or 1
    sizes = [n_customers // parts + (k < n_customers % parts) for k in range(parts)]
    kept, cells, new, actuals, alive = {}, 0, [], [], Counter()
    first_customer = first_order = 1
    for k, size in enumerate(sizes):
        customers = simulate_customers(size, rng, days, intensity, truth, first_customer)
        purchases, leaves_at = simulate_purchase_days(customers, rng, operational_time, truth)
        pairs_seed = [seed, 1] if k == 0 else [seed, 1, k]  # the first part as a whole shop's
        orders, items = build_orders(
            customers, purchases, days, intensity, rng, truth, pairs_seed, first_order
        )
        cells = cells + traffic_cells(orders, purchases, customers, len(days), rng)
        new.append(new_customers_by_day(orders, purchases))
        actuals.append(target_actuals(orders, items))
        first_day = customers["first_day"].to_numpy()
        alive.update(alive_at_quarter_ends(first_day, leaves_at, days, operational_time))
        for name, frame in (("orders", orders), ("order_items", items)):
            if sink is None:
                kept.setdefault(name, []).append(frame)
            else:
                sink(name, frame)
        first_customer, first_order = first_customer + size, first_order + len(orders)
    traffic = build_traffic(cells, days, rng)
    new_by_day = pd.concat(new).groupby(level=[0, 1]).sum()
    scale = n_customers / MARKETING_BASE_CUSTOMERS
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in kept.items()}
    tables |= {
        "traffic": traffic,
        "marketing": build_marketing(new_by_day, days, intensity, scale, rng),
        "targets": build_targets(add_actuals(actuals), traffic, rng),
    }
    return tables, dict(alive)


def write(
    tables: dict[str, pd.DataFrame], out: Path, fmt: str = "parquet", manifest: dict | None = None
) -> None:
    """Write the tables (targets always as CSV, for hand editing) and a manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv" or name == "targets":
            frame.to_csv(out / f"{name}.csv", index=False)
        else:
            frame.to_parquet(out / f"{name}.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps(manifest or {}, indent=2, default=str))


class PartWriter:
    """A `sink` for simulate: each part's rows appended to its table's file as they come."""

    def __init__(self, out: Path, fmt: str):
        self.out, self.fmt = out, fmt
        self.rows: Counter = Counter()
        self.writers: dict[str, pq.ParquetWriter] = {}

    def __call__(self, name: str, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            path = self.out / f"{name}.csv"
            frame.to_csv(
                path, index=False, mode="a" if self.rows[name] else "w", header=not self.rows[name]
            )
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in self.writers:
                self.writers[name] = pq.ParquetWriter(self.out / f"{name}.parquet", table.schema)
            self.writers[name].write_table(table)
        self.rows[name] += len(frame)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=30_000, help="number of customers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("data/sample"))
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    sink = PartWriter(args.out, args.format)
    try:
        tables, alive = simulate(args.customers, args.seed, sink)
    finally:
        sink.close()
    rows = dict(sink.rows) | {name: len(frame) for name, frame in tables.items()}
    manifest = {
        "customers": args.customers,
        "seed": args.seed,
        "start": START,
        "end": END,
        "purchase_model": "modified BG/NBD in operational (seasonal) time, with per-channel "
        "rate and dropout multipliers",
        "true_parameters": asdict(TrueParameters()),
        "alive_at_quarter_end": alive,
        "assortment": assortment_truth(),
        "region_trends": dict(zip(REGIONS[0], REGION_TRENDS, strict=True)),
        "rows": rows,
    }
    write(tables, args.out, args.format, manifest)
    shown = ", ".join(f"{n}: {count:,}" for n, count in rows.items())
    print(f"sample data in {args.out} ({shown}) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
