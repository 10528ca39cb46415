"""The data contract: the tables, their grain, and the columns each must or may have."""

from __future__ import annotations

from dataclasses import dataclass, field

# Column kinds: id (string key), timestamp, date, number, text, bool.


@dataclass(frozen=True)
class TableSpec:
    """What one input table must look like after column mapping."""

    name: str
    grain: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    unique_key: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    date_column: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


_NUM = "number"

CONTRACT: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "orders",
            "one row per order",
            required={
                "order_id": "id",
                "customer_id": "id",
                "order_ts": "timestamp",
                "revenue": _NUM,
            },
            optional={
                "channel": "text",
                "cost": _NUM,
                "discount": _NUM,
                "refund": _NUM,
                "status": "text",
                "is_member": "bool",
                "region": "text",
            },
            unique_key=("order_id",),
            non_negative=("revenue", "cost", "discount", "refund"),
            date_column="order_ts",
        ),
        TableSpec(
            "order_items",
            "one row per order line",
            required={"order_id": "id", "sku": "id", "quantity": _NUM, "unit_price": _NUM},
            optional={"category": "text", "unit_cost": _NUM},
            non_negative=("quantity", "unit_price", "unit_cost"),
        ),
        TableSpec(
            "traffic",
            "one row per date x channel (x device)",
            required={"date": "date", "channel": "text", "sessions": _NUM, "users": _NUM},
            optional={
                "new_users": _NUM,
                "engaged_sessions": _NUM,
                "bounces": _NUM,
                "pageviews": _NUM,
                "engagement_seconds": _NUM,
                "orders": _NUM,
                "revenue": _NUM,
                "device": "text",
            },
            unique_key=("date", "channel", "device"),
            non_negative=(
                "sessions",
                "users",
                "new_users",
                "engaged_sessions",
                "bounces",
                "pageviews",
                "engagement_seconds",
                "orders",
                "revenue",
            ),
            date_column="date",
        ),
        TableSpec(
            "marketing",
            "one row per date x channel x campaign",
            required={"date": "date", "channel": "text", "spend": _NUM},
            optional={
                "campaign": "text",
                "impressions": _NUM,
                "clicks": _NUM,
                "attributed_orders": _NUM,
                "attributed_revenue": _NUM,
                "new_customers": _NUM,
                "budget": _NUM,
            },
            unique_key=("date", "channel", "campaign"),
            non_negative=(
                "spend",
                "impressions",
                "clicks",
                "attributed_orders",
                "attributed_revenue",
                "new_customers",
                "budget",
            ),
            date_column="date",
        ),
        TableSpec(
            "targets",
            "one row per period x metric (x channel, category or region)",
            required={"period": "text", "metric": "text", "target": _NUM},
            optional={"channel": "text", "category": "text", "region": "text", "weight": _NUM},
            unique_key=("period", "metric", "channel", "category", "region"),
            non_negative=("weight",),
        ),
    )
}

TARGET_LEVELS = ("channel", "category", "region")  # a target may be set for one member of one
# Metrics a target may name, and the levels each can be measured at (orders carry channel and
# region, order lines category, traffic channel)
TARGET_METRICS: dict[str, tuple[str, ...]] = {
    "net_revenue": TARGET_LEVELS,
    "gross_margin": TARGET_LEVELS,
    "margin_rate": TARGET_LEVELS,
    "orders": ("channel", "region"),
    "customers": ("channel", "region"),
    "new_customers": ("channel", "region"),
    "aov": ("channel", "region"),
    "sessions": ("channel",),
    "conversion_rate": ("channel",),
}
