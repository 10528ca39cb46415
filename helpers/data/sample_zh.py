"""The sample shop as a Chinese platform export: the tables of data/sample with Chinese channel,
campaign, category, device, region and status names, and the orders as a GBK CSV with Chinese
headers (订单号, 买家ID, ...), as exports from 生意参谋-style back offices come.

`params/sample-zh.yaml` reads it: its `columns:` maps the headers back onto the data contract
and it sets `locale: zh-CN`. The figures are the sample's own, so a Chinese report and the
English one of the same data agree number for number.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

NAMES = {  # column -> English name in the sample -> Chinese name
    "channel": {
        "Organic search": "自然搜索",
        "Paid search": "付费搜索",
        "Social / short video": "抖音短视频",
        "KOL / affiliate": "达人种草",
        "Email / CRM": "会员短信",
        "Direct": "直接访问",
    },
    "campaign": {
        "Brand keywords": "品牌词",
        "Generic keywords": "通用词",
        "Shopping ads": "购物广告",
        "Short-video always-on": "短视频常投",
        "Live-stream promos": "直播促销",
        "KOL seeding": "达人种草投放",
        "Affiliate CPS": "淘客CPS",
        "Newsletter": "会员月刊",
        "Win-back": "老客召回",
    },
    "category": {
        "Skincare": "护肤",
        "Makeup": "彩妆",
        "Fragrance": "香水",
        "Hair care": "洗护发",
        "Body care": "身体护理",
        "Tools & accessories": "美妆工具",
    },
    "device": {"mobile": "移动端", "desktop": "PC端", "tablet": "平板"},
    "region": {
        "East China": "华东",
        "South China": "华南",
        "North China": "华北",
        "Central China": "华中",
        "Southwest": "西南",
        "Northwest": "西北",
        "Northeast": "东北",
    },
    "status": {"completed": "交易成功", "cancelled": "交易关闭", "test": "测试订单"},
}

ORDER_HEADERS = {  # contract column -> the export's header (params/sample-zh.yaml maps back)
    "order_id": "订单号",
    "customer_id": "买家ID",
    "order_ts": "下单时间",
    "revenue": "实付金额",
    "cost": "商品成本",
    "discount": "优惠金额",
    "refund": "退款金额",
    "status": "订单状态",
    "channel": "来源渠道",
    "is_member": "是否会员",
    "region": "收货地区",
}


def translated(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with every named column's values in Chinese (an unknown name is an error)."""
    frame = frame.copy()
    for column, names in NAMES.items():
        if column in frame.columns:
            unknown = set(frame[column].dropna().unique()) - names.keys()
            if unknown:
                raise ValueError(f"no Chinese name for {column} {sorted(unknown)}")
            frame[column] = frame[column].map(names)
    return frame


def write_chinese_export(source: Path, out: Path) -> None:
    """Write the sample in `source` as the Chinese export in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.parquet")):
        frame = translated(pd.read_parquet(path))
        if path.stem == "orders":
            frame.rename(columns=ORDER_HEADERS).to_csv(
                out / "orders.csv", index=False, encoding="gbk"
            )
        else:
            frame.to_parquet(out / path.name, index=False)
    translated(pd.read_csv(source / "targets.csv")).to_csv(out / "targets.csv", index=False)
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["chinese_names"] = NAMES
    manifest["order_headers"] = ORDER_HEADERS
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("data/sample"))
    parser.add_argument("--out", type=Path, default=Path("data/sample-zh"))
    args = parser.parse_args(argv)
    write_chinese_export(args.source, args.out)
    print(f"Chinese sample export in {args.out} (orders as GBK CSV with Chinese headers)")


if __name__ == "__main__":
    main()
