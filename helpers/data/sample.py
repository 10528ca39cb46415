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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")

CHANNELS = pd.DataFrame(
    {
        "channel": [
            "Organic search",
            "Paid search",
            "Social / short video",
            "KOL / affiliate",
            "Email / CRM",
            "Direct",
        ],
        "acquisition_share": [0.24, 0.22, 0.20, 0.12, 0.06, 0.16],
        "share_trend": [-0.10, 0.0, 0.45, 0.20, 0.0, -0.15],  # relative change per year
        "rate_mult": [1.0, 0.9, 0.7, 0.8, 1.4, 1.2],
        "dropout_mult": [1.0, 1.1, 1.5, 1.3, 0.7, 0.8],
        "spend_mult": [1.0, 1.0, 0.85, 0.9, 1.1, 1.05],
        "conversion": [0.026, 0.030, 0.011, 0.019, 0.045, 0.040],
        "conversion_trend": [0.0, 0.12, -0.15, 0.05, 0.0, 0.02],  # relative change per year
        "engagement": [0.64, 0.58, 0.44, 0.52, 0.71, 0.67],
        "pages": [4.2, 3.8, 2.6, 3.1, 4.8, 4.5],
        "seconds": [150.0, 130.0, 70.0, 95.0, 170.0, 160.0],
        "new_user_share": [0.50, 0.55, 0.70, 0.65, 0.10, 0.25],
        "repeat_share": [0.20, 0.10, 0.10, 0.05, 0.25, 0.30],  # session channel of repeat orders
    }
)
DEVICES = pd.DataFrame(
    {
        "device": ["mobile", "desktop", "tablet"],
        "share": [0.68, 0.22, 0.10],
        "conversion_mult": [0.85, 1.5, 1.0],
    }
)
CATEGORIES = pd.DataFrame(
    {
        "category": [
            "Skincare",
            "Makeup",
            "Hair care",
            "Body care",
            "Fragrance",
            "Tools & accessories",
        ],
        "code": ["SK", "MU", "HC", "BC", "FR", "TA"],
        "weight": [0.32, 0.24, 0.14, 0.12, 0.10, 0.08],
        "margin": [0.62, 0.58, 0.52, 0.48, 0.65, 0.42],
    }
)
REGIONS = (
    [
        "East China",
        "South China",
        "North China",
        "Central China",
        "Southwest",
        "Northwest",
        "Northeast",
    ],
    [0.32, 0.22, 0.15, 0.11, 0.1, 0.05, 0.05],
)
# Paid channels: campaigns and a Hill response of daily attributed revenue to daily spend,
# in currency units per day for a shop of MARKETING_BASE_CUSTOMERS customers.
MARKETING_BASE_CUSTOMERS = 250_000
MARKETING = {
    "Paid search": dict(
        campaigns=["Brand keywords", "Generic keywords", "Shopping ads"],
        spend=8000.0,
        half=12000.0,
        top=60000.0,
        shape=1.0,
        cpm=40.0,
        ctr=0.04,
    ),
    "Social / short video": dict(
        campaigns=["Short-video always-on", "Live-stream promos"],
        spend=12000.0,
        half=20000.0,
        top=70000.0,
        shape=1.2,
        cpm=25.0,
        ctr=0.012,
    ),
    "KOL / affiliate": dict(
        campaigns=["KOL seeding", "Affiliate CPS"],
        spend=6000.0,
        half=8000.0,
        top=30000.0,
        shape=1.0,
        cpm=60.0,
        ctr=0.02,
    ),
    "Email / CRM": dict(
        campaigns=["Newsletter", "Win-back"],
        spend=800.0,
        half=1500.0,
        top=25000.0,
        shape=0.9,
        cpm=2.0,
        ctr=0.03,
    ),
}


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


def true_response(spend, top: float, half: float, shape: float) -> np.ndarray:
    """The simulated truth of attributed revenue on spend: the saturating Hill curve the ROI
    section fits (helpers.models.response.hill), written out here so that the truth and the
    estimator share no code."""
    spend = np.asarray(spend, dtype=float)
    return top * spend**shape / (half**shape + spend**shape)


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
) -> pd.DataFrame:
    """One row per customer: acquisition day, channel, latent purchase rate, dropout, spend."""
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
            "customer_id": [f"C{i:07d}" for i in rng.permutation(n) + 1],
            "first_day": first_day,
            "channel": channel,
            "rate": rate,
            "dropout": dropout,
            "spend_scale": spend_scale,
            "is_member": rng.random(n) < member_odds,
            "region": rng.choice(REGIONS[0], size=n, p=REGIONS[1]),
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
    n_orders: int, gross: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Order lines whose values add up to each order's gross value; returns lines, gross, cost."""
    lines = np.minimum(1 + rng.poisson(0.5, n_orders), 5)
    owner = np.repeat(np.arange(n_orders), lines)
    share = rng.gamma(1.0, 1.0, len(owner))
    share /= np.bincount(owner, share)[owner]
    category = rng.choice(len(CATEGORIES), size=len(owner), p=CATEGORIES["weight"].to_numpy())
    quantity = 1 + rng.poisson(0.3, len(owner))
    unit_price = np.maximum(np.round(gross[owner] * share / quantity, 2), 0.5)
    margin = CATEGORIES["margin"].to_numpy()[category] * rng.uniform(0.9, 1.1, len(owner))
    unit_cost = np.round(unit_price * (1 - margin), 2)
    sku = (
        CATEGORIES["code"].to_numpy()[category].astype(object)
        + "-"
        + pd.Series(rng.integers(1, 60, len(owner))).map("{:03d}".format).to_numpy()
    )
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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and order lines from purchase days: values, discounts, statuses and refunds."""
    n = len(purchases)
    buyer = purchases["customer"].to_numpy()
    nu = customers["spend_scale"].to_numpy()[buyer]
    value = (
        rng.gamma(truth.spend_p, 1 / nu)
        * CHANNELS["spend_mult"].to_numpy()[customers["channel"].to_numpy()[buyer]]
    )
    items, gross, cost = build_order_items(n, value, rng)
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
    hour = rng.choice(24, n, p=_hour_weights())
    order_ts = days[purchases["day"].to_numpy()] + pd.to_timedelta(
        hour * 3600 + rng.integers(0, 3600, n), unit="s"
    )
    order_id = np.array([f"O{i:09d}" for i in range(1, n + 1)], dtype=object)
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


def _hour_weights() -> np.ndarray:
    hours = np.arange(24)
    weights = 0.2 + np.exp(-((hours - 21) ** 2) / 8) + 0.6 * np.exp(-((hours - 13) ** 2) / 6)
    return weights / weights.sum()


def build_traffic(
    orders: pd.DataFrame,
    purchases: pd.DataFrame,
    customers: pd.DataFrame,
    days: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Daily sessions by channel and device, consistent with the orders they converted."""
    n_ch, n_dev = len(CHANNELS), len(DEVICES)
    acquisition = customers["channel"].to_numpy()[purchases["customer"].to_numpy()]
    repeat_channel = rng.choice(n_ch, len(orders), p=CHANNELS["repeat_share"].to_numpy())
    session_channel = np.where(purchases["is_first"].to_numpy(), acquisition, repeat_channel)
    device_weights = DEVICES["share"].to_numpy() * DEVICES["conversion_mult"].to_numpy()
    device = rng.choice(n_dev, len(orders), p=device_weights / device_weights.sum())
    counted = (orders["status"] == "completed").to_numpy()
    cell = (purchases["day"].to_numpy() * n_ch + session_channel) * n_dev + device
    size = len(days) * n_ch * n_dev
    n_orders = np.bincount(cell[counted], minlength=size)
    revenue = np.bincount(cell[counted], orders["revenue"].to_numpy()[counted], minlength=size)
    day, channel, dev = np.unravel_index(np.arange(size), (len(days), n_ch, n_dev))
    years = day / 365.25
    ch = CHANNELS.iloc[channel]
    conversion = (
        ch["conversion"].to_numpy()
        * (1 + ch["conversion_trend"].to_numpy() * years)
        * DEVICES["conversion_mult"].to_numpy()[dev]
    )
    expected = np.maximum(n_orders, 0.3) / conversion * rng.lognormal(0, 0.08, size)
    sessions = np.maximum(rng.poisson(expected), n_orders)
    users = np.round(sessions * rng.uniform(0.78, 0.86, size)).astype(int)
    engaged = rng.binomial(
        sessions, np.clip(ch["engagement"].to_numpy() * np.where(dev == 1, 1.08, 1.0), 0, 1)
    )
    return pd.DataFrame(
        {
            "date": days[day],
            "channel": ch["channel"].to_numpy(),
            "device": DEVICES["device"].to_numpy()[dev],
            "sessions": sessions,
            "users": users,
            "new_users": rng.binomial(users, ch["new_user_share"].to_numpy()),
            "engaged_sessions": engaged,
            "pageviews": np.round(
                sessions * ch["pages"].to_numpy() * rng.lognormal(0, 0.05, size)
            ).astype(int),
            "engagement_seconds": np.round(
                sessions * ch["seconds"].to_numpy() * rng.lognormal(0, 0.06, size)
            ).astype(int),
            "orders": n_orders,
            "revenue": np.round(revenue, 2),
        }
    )


def build_marketing(
    orders: pd.DataFrame,
    purchases: pd.DataFrame,
    days: pd.DatetimeIndex,
    intensity: np.ndarray,
    scale: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Daily spend per channel and campaign; attributed revenue follows a Hill curve of spend."""
    first = orders[purchases["is_first"].to_numpy()]
    new_by_day = first.groupby([first["order_ts"].dt.normalize(), "channel"]).size()
    frames = []
    for channel, spec in MARKETING.items():
        walk = np.exp(np.cumsum(rng.normal(0, 0.06, len(days))))
        walk /= walk.mean()
        spend = spec["spend"] * scale * walk * intensity**1.2 * rng.lognormal(0, 0.2, len(days))
        revenue = true_response(
            spend, spec["top"] * scale, spec["half"] * scale, spec["shape"]
        ) * rng.lognormal(0, 0.1, len(days))
        new = new_by_day.xs(channel, level="channel").reindex(days, fill_value=0).to_numpy()
        split = rng.dirichlet(np.full(len(spec["campaigns"]), 3.0), len(days))
        for k, campaign in enumerate(spec["campaigns"]):
            s = spend * split[:, k]
            impressions = s / spec["cpm"] * 1000 * rng.lognormal(0, 0.05, len(days))
            clicks = impressions * spec["ctr"] * rng.lognormal(0, 0.08, len(days))
            attributed = revenue * split[:, k]
            frames.append(
                pd.DataFrame(
                    {
                        "date": days,
                        "channel": channel,
                        "campaign": campaign,
                        "spend": np.round(s, 2),
                        "budget": np.round(s * rng.uniform(0.85, 1.15), -1),
                        "impressions": np.round(impressions).astype(int),
                        "clicks": np.round(clicks).astype(int),
                        "attributed_orders": np.round(attributed / 160).astype(int),
                        "attributed_revenue": np.round(attributed, 2),
                        "new_customers": rng.binomial(new, split[:, k])
                        if k == 0
                        else np.round(new * split[:, k]).astype(int),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def build_targets(
    orders: pd.DataFrame, traffic: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Quarterly targets near what happened (plans are never exact)."""
    valid = orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]
    quarter = valid["order_ts"].dt.to_period("Q")
    first = valid.groupby("customer_id")["order_ts"].transform("min") == valid["order_ts"]
    actual = pd.DataFrame(
        {
            "net_revenue": (valid["revenue"] - valid["refund"]).groupby(quarter).sum(),
            "orders": valid.groupby(quarter).size(),
            "new_customers": first.groupby(quarter).sum(),
            "sessions": traffic.groupby(traffic["date"].dt.to_period("Q"))["sessions"].sum(),
        }
    )
    targets = actual.stack().rename("actual").reset_index()
    targets.columns = ["period", "metric", "actual"]
    factor = rng.uniform(0.92, 1.10, len(targets))
    return pd.DataFrame(
        {
            "period": targets["period"].astype(str),
            "metric": targets["metric"],
            "target": np.round(targets["actual"] * factor, -2),
        }
    )


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


def simulate(n_customers: int = 30_000, seed: int = 42) -> tuple[dict[str, pd.DataFrame], dict]:
    """The contract tables and the truth behind them: the customers alive at each quarter's
    end (alive_at_quarter_ends)."""
    rng = np.random.default_rng(seed)
    truth = TrueParameters()
    days = pd.date_range(START, END, freq="D")
    intensity = seasonal_intensity(days)
    operational_time = np.cumsum(intensity)
    customers = simulate_customers(n_customers, rng, days, intensity, truth)
    purchases, leaves_at = simulate_purchase_days(customers, rng, operational_time, truth)
    orders, items = build_orders(customers, purchases, days, intensity, rng, truth)
    traffic = build_traffic(orders, purchases, customers, days, rng)
    marketing = build_marketing(
        orders, purchases, days, intensity, n_customers / MARKETING_BASE_CUSTOMERS, rng
    )
    targets = build_targets(orders, traffic, rng)
    tables = {
        "orders": orders,
        "order_items": items,
        "traffic": traffic,
        "marketing": marketing,
        "targets": targets,
    }
    first_day = customers["first_day"].to_numpy()
    return tables, alive_at_quarter_ends(first_day, leaves_at, days, operational_time)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=30_000, help="number of customers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("data/sample"))
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tables, alive = simulate(args.customers, args.seed)
    manifest = {
        "customers": args.customers,
        "seed": args.seed,
        "start": START,
        "end": END,
        "purchase_model": "modified BG/NBD in operational (seasonal) time, with per-channel "
        "rate and dropout multipliers",
        "true_parameters": asdict(TrueParameters()),
        "alive_at_quarter_end": alive,
        "rows": {name: len(frame) for name, frame in tables.items()},
    }
    write(tables, args.out, args.format, manifest)
    rows = ", ".join(f"{n}: {len(f):,}" for n, f in tables.items())
    print(f"sample data in {args.out} ({rows}) in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
