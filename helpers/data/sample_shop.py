"""The sample shop around its customers: sales channels, devices and regions, and the tables built
from the simulated orders: daily traffic by channel and device, daily marketing spend by channel
and campaign with a saturating response, and quarterly targets (helpers.data.sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
REGION_TRENDS = [0.0, 0.05, -0.10, 0.25, 0.35, 0.0, -0.30]  # change of a region's share a year


def draw_regions(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """Each new customer's region, by the region weights `years` after the data starts; one
    uniform draw per customer, as rng.choice(REGIONS[0], p=...) would make."""
    weights = np.asarray(REGIONS[1]) * (1 + np.asarray(REGION_TRENDS)) ** years[:, None]
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    drawn = (rng.random(len(years))[:, None] >= cumulative).sum(axis=1)
    return np.asarray(REGIONS[0])[np.minimum(drawn, len(REGIONS[0]) - 1)]


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


def true_response(spend, top: float, half: float, shape: float) -> np.ndarray:
    """The simulated truth of attributed revenue on spend: the saturating Hill curve the ROI
    section fits (helpers.models.response.hill), written out here so that the truth and the
    estimator share no code."""
    spend = np.asarray(spend, dtype=float)
    return top * spend**shape / (half**shape + spend**shape)


def hour_weights() -> np.ndarray:
    hours = np.arange(24)
    weights = 0.2 + np.exp(-((hours - 21) ** 2) / 8) + 0.6 * np.exp(-((hours - 13) ** 2) / 6)
    return weights / weights.sum()


def traffic_cells(
    orders: pd.DataFrame,
    purchases: pd.DataFrame,
    customers: pd.DataFrame,
    n_days: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The completed orders and their revenue per day x session channel x device cell (two
    rows): each order's session channel (its customer's acquisition channel for a first order)
    and device drawn. Shops simulated in parts add their parts' cells up."""
    n_ch, n_dev = len(CHANNELS), len(DEVICES)
    acquisition = customers["channel"].to_numpy()[purchases["customer"].to_numpy()]
    repeat_channel = rng.choice(n_ch, len(orders), p=CHANNELS["repeat_share"].to_numpy())
    session_channel = np.where(purchases["is_first"].to_numpy(), acquisition, repeat_channel)
    device_weights = DEVICES["share"].to_numpy() * DEVICES["conversion_mult"].to_numpy()
    device = rng.choice(n_dev, len(orders), p=device_weights / device_weights.sum())
    counted = (orders["status"] == "completed").to_numpy()
    cell = (purchases["day"].to_numpy() * n_ch + session_channel) * n_dev + device
    size = n_days * n_ch * n_dev
    return np.stack(
        [
            np.bincount(cell[counted], minlength=size),
            np.bincount(cell[counted], orders["revenue"].to_numpy()[counted], minlength=size),
        ]
    )


def build_traffic(cells: np.ndarray, days: pd.DatetimeIndex, rng: np.random.Generator):
    """Daily sessions by channel and device, consistent with the orders they converted
    (traffic_cells)."""
    n_ch, n_dev = len(CHANNELS), len(DEVICES)
    n_orders, revenue = cells[0].astype(np.int64), cells[1]
    size = len(days) * n_ch * n_dev
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


def new_customers_by_day(orders: pd.DataFrame, purchases: pd.DataFrame) -> pd.Series:
    """First orders per day and channel."""
    first = orders[purchases["is_first"].to_numpy()]
    return first.groupby([first["order_ts"].dt.normalize(), "channel"]).size()


def build_marketing(
    new_by_day: pd.Series,
    days: pd.DatetimeIndex,
    intensity: np.ndarray,
    scale: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Daily spend per channel and campaign; attributed revenue follows a Hill curve of spend;
    new customers per campaign from the first orders per day and channel (`new_by_day`)."""
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


PLAN_YEAR = 2025  # the year the sample's plan sets targets at every level for
SCORECARD_WEIGHTS = {"net_revenue": 40, "gross_margin": 30, "new_customers": 20, "sessions": 10}


def target_actuals(orders: pd.DataFrame, items: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What the targets are set near, from the valid orders: each quarter's headline figures
    (quarterly_actuals) and PLAN_YEAR's net revenue per month, channel, region and category
    (level_actuals). Shops simulated in parts add their parts' up (add_actuals)."""
    valid = orders[(orders["status"] == "completed") & (orders["refund"] < orders["revenue"])]
    return {"quarterly": quarterly_actuals(valid), "levels": level_actuals(valid, items)}


def add_actuals(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The actuals of a shop simulated in parts (customers, so first orders, never span two)."""
    if len(parts) == 1:
        return parts[0]
    quarterly = pd.concat([part["quarterly"] for part in parts]).groupby(level=0).sum()
    levels = pd.concat([part["levels"] for part in parts])
    keys = [c for c in levels.columns if c != "net_revenue"]
    levels = levels.groupby(keys, sort=False, dropna=False, as_index=False)["net_revenue"].sum()
    return {"quarterly": quarterly, "levels": levels}


def build_targets(
    actuals: dict[str, pd.DataFrame], traffic: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Targets near what happened (plans are never exact): every quarter's headline targets,
    and for PLAN_YEAR the year's (the sum of its quarters', weighted for the KPI scorecard),
    net revenue per month, and net revenue per channel, region and category for the year and
    each of its quarters."""
    sessions = traffic.groupby(traffic["date"].dt.to_period("Q"))["sessions"].sum()
    quarterly = quarterly_targets(actuals["quarterly"].assign(sessions=sessions), rng)
    plan = quarterly[quarterly["period"].str.startswith(str(PLAN_YEAR))]
    year = plan.groupby("metric", as_index=False)["target"].sum().assign(period=str(PLAN_YEAR))
    year["weight"] = year["metric"].map(SCORECARD_WEIGHTS)
    found = actuals["levels"].copy()
    found["target"] = np.round(found.pop("net_revenue") * rng.uniform(0.92, 1.10, len(found)), -2)
    return pd.concat([quarterly, year, found.assign(metric="net_revenue")], ignore_index=True)


def level_actuals(valid: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """PLAN_YEAR's net revenue per month, and per channel, region and category for the year
    and each quarter."""
    in_year = valid[valid["order_ts"].dt.year == PLAN_YEAR]
    net = (in_year["revenue"] - in_year["refund"]).rename("net_revenue")
    month = in_year["order_ts"].dt.to_period("M").astype(str).rename("period")
    quarter = in_year["order_ts"].dt.to_period("Q").astype(str).rename("period")
    year = pd.Series(str(PLAN_YEAR), in_year.index, name="period")
    lines = items.merge(in_year[["order_id", "order_ts"]].assign(net=net), on="order_id")
    gross = lines["quantity"] * lines["unit_price"]
    share = gross / gross.groupby(lines["order_id"]).transform("sum")
    line_value = (share * lines["net"]).rename("net_revenue")  # as the report shares it
    line_period = lines["order_ts"]
    frames = [net.groupby(month).sum().reset_index()]
    for level in ("channel", "region"):
        for period in (year, quarter):
            frames.append(net.groupby([period, in_year[level]]).sum().reset_index())
    for grain in ("Y", "Q"):
        by = [line_period.dt.to_period(grain).astype(str).rename("period"), lines["category"]]
        frames.append(line_value.groupby(by).sum().reset_index())
    return pd.concat(frames, ignore_index=True)


def quarterly_actuals(valid: pd.DataFrame) -> pd.DataFrame:
    """Each quarter's net revenue, gross margin, orders and new customers."""
    quarter = valid["order_ts"].dt.to_period("Q")
    first = valid.groupby("customer_id")["order_ts"].transform("min") == valid["order_ts"]
    return pd.DataFrame(
        {
            "net_revenue": (valid["revenue"] - valid["refund"]).groupby(quarter).sum(),
            "gross_margin": (valid["revenue"] - valid["refund"] - valid["cost"])
            .groupby(quarter)
            .sum(),
            "orders": valid.groupby(quarter).size(),
            "new_customers": first.groupby(quarter).sum(),
        }
    )


def quarterly_targets(actual: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each quarter's headline targets, near its `actual` figures."""
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
