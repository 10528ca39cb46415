"""The CDNOW data set shipped inside the lifetimes wheel, as a second built-in data set.

CDNOW_master.txt: 23,570 customers' CD purchases, 1997-01-01 to 1998-06-30; CDNOW_sample.txt:
the 2,357-customer sample used by Fader, Hardie & Lee (2005). Read from the installed package
files directly (lifetimes.datasets needs pkg_resources, which recent setuptools removed).

Run: python -m helpers.data.cdnow --out data/cdnow   (orders only: other sections are skipped)
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

import pandas as pd

FILES = {"master": "CDNOW_master.txt", "sample": "CDNOW_sample.txt"}


def read_transactions(kind: str = "master") -> pd.DataFrame:
    """Raw CDNOW transactions: customer_id, date, cds (quantity), value (US dollars)."""
    path = files("lifetimes") / "datasets" / FILES[kind]
    names = ["customer_id", "date", "cds", "value"]
    if kind == "sample":  # the sample has the master id first, then its own id
        names = ["master_id", *names]
    header = 0 if kind == "master" else None  # the master file has a header line
    frame = pd.read_csv(
        path, sep=r"\s+", header=header, names=names, dtype={"customer_id": str, "date": str}
    )
    return frame.assign(date=pd.to_datetime(frame["date"], format="%Y%m%d"))[
        ["customer_id", "date", "cds", "value"]
    ]


def as_orders(transactions: pd.DataFrame) -> pd.DataFrame:
    """CDNOW transactions in the orders contract (one order per transaction row)."""
    return pd.DataFrame(
        {
            "order_id": [f"T{i:06d}" for i in range(1, len(transactions) + 1)],
            "customer_id": "CD" + transactions["customer_id"].str.zfill(5),
            "order_ts": transactions["date"],
            "revenue": transactions["value"],
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(FILES), default="master")
    parser.add_argument("--out", type=Path, default=Path("data/cdnow"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    orders = as_orders(read_transactions(args.kind))
    orders.to_csv(args.out / "orders.csv", index=False)
    print(
        f"CDNOW {args.kind}: {len(orders):,} orders of {orders['customer_id'].nunique():,} "
        f"customers in {args.out}"
    )


if __name__ == "__main__":
    main()
