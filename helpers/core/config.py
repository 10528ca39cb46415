"""Report parameters: params/default.yaml, overridden by params/<quarter>.yaml and extra files."""

from __future__ import annotations

import codecs
import difflib
import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from helpers.core.errors import ParameterError
from helpers.core.outline import SECTIONS
from helpers.core.periods import Period, Quarter, Year, parse_period

TABLES = ("orders", "order_items", "traffic", "marketing", "targets")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExclusionRules(_Strict):
    """Orders left out of every figure; each excluded row is counted in the data-quality note."""

    statuses: list[str] = Field(default_factory=lambda: ["cancelled", "canceled", "test"])
    fully_refunded: bool = True


class TrafficParams(_Strict):
    trend_quarters: int = Field(4, ge=1, le=12)
    min_sessions_for_test: int = Field(1000, ge=0)


class ClvParams(_Strict):
    """Customer lifetime value: models, time unit and the bar a model must clear."""

    model: Literal["bgnbd", "pareto", "mbgnbd", "auto"] = "auto"
    time_unit: Literal["days", "weeks"] = "weeks"
    purchase_penalty: float = Field(0.0, ge=0)
    spend_penalty: float = Field(0.0, ge=0)
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)
    horizon_months: int = Field(12, ge=1, le=60)
    max_holdout_error_pct: float = Field(15.0, gt=0)
    max_spend_correlation: float = Field(0.3, gt=0, le=1)
    selection_customers: int = Field(100_000, ge=1000)


class RepurchaseParams(_Strict):
    """Repurchase cohorts and RFM tiers."""

    cohort_grain: Literal["month", "quarter"] = "quarter"
    max_cohort_periods: int = Field(8, ge=1, le=36)
    rfm_bins: int = Field(5, ge=3, le=10)
    segmentation: Literal["auto", "rf_map", "rfm8"] = "auto"
    second_order_windows: list[int] = Field(default_factory=lambda: [30, 60, 90])


class CampaignWindow(_Strict):
    """A yearly promotion: its name and the first and last day (MM-DD) of each phase."""

    name: str
    warm_up: tuple[str, str]
    peak: tuple[str, str]
    after: tuple[str, str]

    @field_validator("warm_up", "peak", "after")
    @classmethod
    def _month_days(cls, value: tuple[str, str]) -> tuple[str, str]:
        for day in value:
            try:
                pd.Timestamp(f"2024-{day}")  # a leap year: 02-29 is a day
            except ValueError:
                raise ValueError(f"{day!r} is not a MM-DD day, e.g. 11-11") from None
        return value


DEFAULT_CAMPAIGNS = [
    CampaignWindow(
        name="618", warm_up=("06-01", "06-15"), peak=("06-16", "06-18"), after=("06-19", "06-30")
    ),
    CampaignWindow(
        name="Double 11",
        warm_up=("10-20", "11-10"),
        peak=("11-11", "11-11"),
        after=("11-12", "11-25"),
    ),
]


class AlertParams(_Strict):
    """When a KPI or budget line straying from its target or plan calls for watching, and when
    for action (percent of the target or plan)."""

    watch_pct: float = Field(7.5, ge=0)
    act_pct: float = Field(15.0, ge=0)
    min_budget_gap_pct: float = Field(1.0, ge=0)


class TargetParams(_Strict):
    """How the KPI scorecard scores attainment."""

    score_cap_pct: float = Field(120.0, ge=100)


class MerchandiseParams(_Strict):
    """Merchandise: when a SKU counts as rising or falling, and which pairs are worth showing."""

    sku_change_pct: float = Field(30.0, gt=0, le=100)
    min_sku_sales: float = Field(1000.0, ge=0)
    min_pair_orders: int = Field(5, ge=1)


class MarketingParams(_Strict):
    """Marketing ROI: when a response curve is good enough, and how far budgets may move."""

    min_fit_r2: float = Field(0.5, ge=0, le=1)
    max_budget_shift_pct: float = Field(50.0, gt=0, le=100)
    ltv_cac_reference: float = Field(3.0, gt=0)


class SparkParams(_Strict):
    """Where Spark runs (engine: spark): the master a batch's own Spark Connect server uses,
    Spark settings for it, or a running Connect server (`remote`) to use instead."""

    master: str = "local[*]"
    conf: dict[str, str] = Field(default_factory=dict)
    remote: str | None = Field(None, pattern=r"^sc://")


class Config(_Strict):
    """Every parameter of a report run; see params/default.yaml for what each one means."""

    quarter: str
    year: int | None = Field(None, ge=1900, le=2999)
    report_title: str | None = None
    shop_name: str = "Sample shop"
    currency: str = "¥"
    locale: Literal["en", "zh-CN"] = "en"
    data_dir: Path | str = Path("data/sample")  # a folder, or a URL on shared storage
    report_subdir: str = ""
    files: dict[str, str] = Field(default_factory=dict)
    columns: dict[str, dict[str, str]] = Field(default_factory=dict)
    csv_encoding: str | None = None
    date_format: dict[str, str] = Field(default_factory=dict)
    plausible_max: float = Field(1e9, gt=0)
    sections: list[str] = Field(
        default_factory=lambda: [
            "traffic",
            "clv",
            "repurchase",
            "regions",
            "campaigns",
            "merchandise",
            "marketing",
        ]
    )
    seed: int = 42
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkParams = Field(default_factory=SparkParams)
    significance_level: float = Field(0.05, gt=0, lt=0.5)
    material_change_pct: float = Field(10.0, ge=0)
    material_rate_change_pp: float = Field(0.5, ge=0)
    material_share_shift_pp: float = Field(2.0, ge=0)
    seasonal_quarters: list[Literal[1, 2, 3, 4]] = Field(default_factory=lambda: [2, 4])
    exclusions: ExclusionRules = Field(default_factory=ExclusionRules)
    traffic: TrafficParams = Field(default_factory=TrafficParams)
    clv: ClvParams = Field(default_factory=ClvParams)
    repurchase: RepurchaseParams = Field(default_factory=RepurchaseParams)
    alerts: AlertParams = Field(default_factory=AlertParams)
    targets: TargetParams = Field(default_factory=TargetParams)
    campaigns: list[CampaignWindow] = Field(default_factory=lambda: list(DEFAULT_CAMPAIGNS))
    merchandise: MerchandiseParams = Field(default_factory=MerchandiseParams)
    marketing: MarketingParams = Field(default_factory=MarketingParams)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _path_unless_url(cls, value: Any) -> Any:
        """A URL (s3a://, hdfs://, file://...) stays as written: as a Path, its // would
        become one /."""
        return value if is_url(value) or not isinstance(value, str) else Path(value)

    @field_validator("quarter")
    @classmethod
    def _quarter_is_valid(cls, value: str) -> str:
        return Quarter.parse(value).label

    @field_validator("csv_encoding")
    @classmethod
    def _encoding_is_known(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r}; e.g. utf-8, gb18030 (GBK), or null to detect"
                ) from None
        return value

    @field_validator("report_subdir")
    @classmethod
    def _subdir_stays_inside(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts or value.startswith("~"):
            raise ValueError(
                f"{value!r} must be a folder name inside the reports folder (no absolute path, "
                "no '..')"
            )
        return value

    @field_validator("files", "columns", "date_format")
    @classmethod
    def _tables_are_known(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; tables are {list(TABLES)}")
        return value

    @field_validator("sections")
    @classmethod
    def _sections_are_known(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; sections are {list(SECTIONS)}")
        return value

    @property
    def period(self) -> Period:
        """The period reported: the year where `year` is set, else the quarter."""
        return Year(self.year) if self.year is not None else Quarter.parse(self.quarter)


URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # scheme://, as s3a://bucket/... or file:///


def is_url(location: Any) -> bool:
    """Whether an input location is a URL on shared storage rather than a path here."""
    return isinstance(location, str) and URL.match(location) is not None


def _check_shared_storage(config: Config) -> None:
    """Inputs named by URL are read by Spark, where they lie; DuckDB reads local paths only."""
    urls = [str(place) for place in (config.data_dir, *config.files.values()) if is_url(place)]
    if urls and config.engine != "spark":
        raise ParameterError(
            f"{urls[0]} is a URL: inputs on shared storage are read with engine: spark; with "
            "DuckDB, copy them to a folder on this machine and name that as data_dir"
        )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise ParameterError(f"{path}: expected a mapping of parameter names to values")
    return content


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_names(values: dict[str, Any], model: type[BaseModel], source: str, prefix: str = ""):
    """Reject unknown parameter names with a did-you-mean hint, before pydantic sees them."""
    known = model.model_fields
    for key, value in values.items():
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            suggestion = f" (did you mean '{prefix}{hint[0]}'?)" if hint else ""
            raise ParameterError(f"{source}: unknown parameter '{prefix}{key}'{suggestion}")
        annotation = known[key].annotation
        if (
            isinstance(value, dict)
            and isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
        ):
            _check_names(value, annotation, source, prefix=f"{prefix}{key}.")


def _find_files(params_dir: Path, names: list[str | Path] | tuple) -> list[Path]:
    """Extra parameter files as given, or relative to params_dir."""
    paths = []
    for name in names:
        path = Path(name)
        if not path.is_absolute() and not path.is_file():
            path = params_dir / path
        if not path.is_file():
            raise ParameterError(f"parameter file not found: {name}")
        paths.append(path)
    return paths


def _stated_period(layers: list[tuple[str, dict]]) -> str | None:
    """The period the files ask for: the last `year` given, else the last `quarter`."""
    years = [values["year"] for _, values in layers if values.get("year") is not None]
    quarters = [values["quarter"] for _, values in layers if "quarter" in values]
    return str(years[-1]) if years else (quarters[-1] if quarters else None)


def _explicit(period: Period) -> dict[str, Any]:
    """What a period given as an argument sets, over anything a file says."""
    if isinstance(period, Year):
        return {"year": period.year}
    return {"quarter": period.label, "year": None}


def load_config(
    params_dir: str | Path = "params",
    period: str | None = None,
    extra_files: list[str | Path] | tuple = (),
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Merge default.yaml, <period>.yaml (if any), extra files and overrides into a Config.

    The period ('2025Q4', or '2025' for the year) is the argument, else the last year a file
    states, else its last quarter; its <period>.yaml comes before the extra files, so a brand
    or data-set file overrides a period's settings.

    Relative paths (`data_dir`) are resolved against the project root, the parent of params_dir.
    """
    params_dir = Path(params_dir).resolve()
    default = params_dir / "default.yaml"
    if not default.is_file():
        raise ParameterError(f"parameter file not found: {default}")
    base = [(str(default), _read_yaml(default))]
    extras = [(str(path), _read_yaml(path)) for path in _find_files(params_dir, extra_files)]
    chosen = period if period is not None else _stated_period(base + extras)
    if chosen is None:
        raise ParameterError(f"{default}: no 'quarter' given")
    period_file = params_dir / f"{parse_period(chosen).label}.yaml"
    for_period = [(str(period_file), _read_yaml(period_file))] if period_file.is_file() else []
    # the explicit period wins over anything a file says
    explicit = [("period argument", _explicit(parse_period(period)))] if period is not None else []
    layers = base + for_period + extras + explicit
    layers.append(("overrides", overrides or {}))

    merged: dict[str, Any] = {}
    for source, values in layers:
        _check_names(values, Config, source)
        merged = _merge(merged, values)
    try:
        config = Config(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        sources = ", ".join(source for source, _ in layers)
        raise ParameterError(f"invalid parameters ({sources}): {problems}") from None
    _check_shared_storage(config)
    if is_url(config.data_dir):
        return config
    if not config.data_dir.is_absolute():
        config.data_dir = params_dir.parent / config.data_dir
    if not config.data_dir.is_dir():
        raise ParameterError(
            f"data_dir {config.data_dir} is not a folder ({', '.join(s for s, _ in layers)}); "
            "check the path, or run `make data` for the sample data"
        )
    return config
