"""The CLV section: the chosen purchase model's holdout check, the customer base valued at the
quarter's end, a quarter before and a year before, its headline figures, value tiers, CLV by
acquisition channel and cohort, and what the section says about them.

The models live in helpers.models: fitting (purchase and spend models), holdout (candidates
scored on the quarter, model choice), valuation (a base valued at a quarter's end) and
prediction (per-customer predictions, intervals, grids). A figure whose model could not be
fitted soundly is withheld with the reason, never published.

Work-arounds for lifetimes 0.11.3 on current pandas/numpy/scipy: the calibration/holdout split is
our own (lifetimes' fails without a monetary column); lifetimes.datasets is never imported
(it needs pkg_resources); time units are days or weeks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers.core.config import Config
from helpers.core.errors import Reason
from helpers.core.periods import Period, comparison_periods, parse_period
from helpers.data import queries, scores
from helpers.data.exports import CustomerExport
from helpers.models.fitting import UNIT_DAYS, ModelFitError
from helpers.models.holdout import is_trusted, validate_models
from helpers.models.prediction import alive_matrix, expected_purchases_matrix, period_transactions
from helpers.models.valuation import (
    CLV_FIGURES,
    Snapshot,
    base_summary,
    horizon_for,
    summary_table,
    value_snapshot,
)
from helpers.sections.findings import Finding
from helpers.sections.kpis import kpi_record, mark_material

TIERS = ["Top 10%", "Next 10%", "Middle 30%", "Bottom 50%"]
TIER_BOUNDS = [0.1, 0.2, 0.5]  # the rank share (position by CLV / customers) each tier ends at
CHART_CUSTOMERS = 200_000  # at most this many customers' CLV make the distribution chart


def value_tiers(snapshot: Snapshot) -> pd.DataFrame:
    """Per CLV tier (top 10%, next 10%, middle 30%, bottom 50% by CLV rank): customers, total
    and mean CLV, mean P(alive) and frequency and share of all value (0 / 0, NaN, when no
    customer has any: CLV is never negative). Every tier has a row."""
    found = scores.tiers(snapshot.engine, snapshot.table, TIER_BOUNDS).set_index("tier")
    table = found.reindex(range(len(TIERS)))
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["clv_total"] = table["clv_total"].fillna(0.0)
    total = table["clv_total"].sum()
    table["value_share"] = table["clv_total"] / total
    table = table.reset_index(drop=True)
    return table.assign(tier=TIERS)[["tier", *table.columns]]


def clv_by(snapshot: Snapshot, column: str) -> pd.DataFrame:
    """Customers, mean and total CLV, mean P(alive) per known value of `column`."""
    return scores.clv_by(snapshot.engine, snapshot.table, column)


def weighted_quantile(values: pd.Series, weights: pd.Series, q: float) -> float:
    """The q-quantile of `values` each repeated `weights` times, interpolated linearly as
    pandas' and numpy's quantile do, without building the repeated array."""
    order = np.argsort(values.to_numpy())  # equal values may come in any order
    sorted_values = values.to_numpy()[order]
    last_position = np.cumsum(weights.to_numpy()[order]) - 1  # of each value's last copy
    position = q * last_position[-1]
    below, above = int(np.floor(position)), int(np.ceil(position))

    def at(k: int) -> float:
        return float(sorted_values[np.searchsorted(last_position, k)])

    return at(below) + (position - below) * (at(above) - at(below))


BASE_UNITS = {
    "customers": "count",
    "expected_alive": "count",
    "expected_buyers_horizon": "count",
    "bought_last_12_months": "count",
    "clv_mean": "currency",
    "clv_total": "currency",
    "expected_revenue_next_quarter": "currency",
}


def base_kpis(base: pd.DataFrame, withheld: Reason | None) -> dict[str, dict]:
    """KPI records of the valued bases (columns current, previous, year_ago); CLV figures
    carry their standard errors, or the reason they are withheld."""
    kpis = {}
    for name, unit in BASE_UNITS.items():
        values = base.loc[name].to_dict()
        errors = base.loc[f"{name}_se"].to_dict() if f"{name}_se" in base.index else None
        kpis[name] = kpi_record(f"clv.{name}", unit, values, standard_errors=errors)
        if name in CLV_FIGURES and withheld:
            kpis[name]["withheld"] = withheld
    return kpis


def clv_findings(
    validation: dict,
    trusted: bool,
    current: Snapshot,
    tiers: pd.DataFrame | None,
    by_channel: pd.DataFrame | None,
    base: dict[str, dict],
    thresholds: dict,
    basis: str,
) -> list[Finding]:
    """What the section says: trust first, then activity, concentration and channels."""
    said = [_trust_finding(validation, trusted, thresholds["max_holdout_error_pct"])]
    if current.rejected_margin_rate is not None:
        said.append(Finding("common.margin_rejected", {"rate": current.rejected_margin_rate}))
    said.append(
        Finding(
            "clv.activity",
            {
                "model": validation["model"],
                "alive": base["expected_alive"]["current"],
                "buyers": base["expected_buyers_horizon"]["current"],
                "horizon_months": thresholds["horizon_months"],
                "bought": base["bought_last_12_months"]["current"],
            },
        )
    )
    if not current.has_clv:
        said.append(Finding("clv.clv_withheld", {"reason": current.spend_withheld}))
        return said
    if tiers is not None and tiers["value_share"].notna().all():
        share = tiers.set_index("tier")["value_share"]
        said.append(
            Finding(
                "clv.concentration",
                {
                    "top10": share["Top 10%"],
                    "top20": share["Top 10%"] + share["Next 10%"],
                    "basis": basis,
                },
            )
        )
    if by_channel is not None and len(by_channel) > 1:
        ranked = by_channel.sort_values("clv_mean")
        best, worst = ranked.iloc[-1], ranked.iloc[0]
        if worst["clv_mean"] > 0:
            said.append(
                Finding(
                    "clv.channel_value",
                    {
                        "best_channel": best["acquisition_channel"],
                        "best_clv": best["clv_mean"],
                        "worst_channel": worst["acquisition_channel"],
                        "worst_clv": worst["clv_mean"],
                        "ratio": best["clv_mean"] / worst["clv_mean"],
                    },
                )
            )
    corr = current.spend.frequency_spend_correlation
    if abs(corr) > thresholds["max_spend_correlation"]:
        said.append(Finding("clv.spend_correlation", {"correlation": corr}))
    return said


def _trust_finding(validation: dict, trusted: bool, tolerance: float) -> Finding:
    error = validation["aggregate_error_pct"]
    figures = {"model": validation["model"], "error_pct": error, "tolerance_pct": tolerance}
    if error is None:
        return Finding("clv.trust", figures, variant="unchecked")
    direction = "under" if error < 0 else "over"
    verdict = "within" if trusted else "beyond"
    return Finding("clv.trust", figures, variant=f"{direction}_{verdict}")


@dataclass
class ClvSection:
    """Every table the CLV notebook shows. Without a sound purchase model only `withheld` (the
    reason) is set; without a sound spend model, the CLV tables are None."""

    withheld: Reason | None = None
    validation_table: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    chosen: dict = field(default_factory=dict)
    spend_check: dict = field(default_factory=dict)
    trusted: bool = False
    current: Snapshot | None = None
    base: pd.DataFrame | None = None
    tiers: pd.DataFrame | None = None
    by_channel: pd.DataFrame | None = None
    by_cohort: pd.DataFrame | None = None
    clv_sample: pd.Series | None = None  # the CLVs the distribution chart shows
    alive: pd.DataFrame | None = None
    expected: pd.DataFrame | None = None
    matrix_age: float = 0.0
    period_check: pd.DataFrame | None = None
    basis: str = "revenue"
    snapshot_notes: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    kpis: dict[str, dict] = field(default_factory=dict)

    @property
    def clv_mean(self) -> float | None:
        """The current base's mean CLV (None without CLV figures)."""
        return self.kpis["clv_mean"].get("current") if self.kpis else None

    @property
    def clv_withheld(self) -> Reason | None:
        """Why there are no CLV figures (no purchase or no spend model), or None."""
        if self.withheld:
            return self.withheld
        return self.current.spend_withheld


def value_bases(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame, key: str, calibrated: tuple
) -> tuple[Snapshot, pd.DataFrame, list[Finding]]:
    """The current base valued whole, the headline figures of every compared base (the
    validation fit's models, `calibrated`, are those of the base at the previous quarter's
    end), and notes on any compared base whose models fell back or failed. ModelFitError when
    the current base cannot be valued; a compared base that cannot is shown without figures.
    Only the current base's scores stay in the engine."""
    base, notes, current = {}, [], None
    for name, label in periods[["period", "quarter"]].to_numpy():
        quarter = parse_period(label)
        fitted = calibrated if name == "previous" else None
        try:
            snapshot = value_snapshot(engine, config, quarter, key, fitted)
        except ModelFitError as exc:
            if name == "current":
                raise
            notes.append(Finding("clv.base_not_valued", {"quarter": label, "reason": exc.reason}))
            engine.forget(summary_table(label))
            base[name] = {}  # pragma: no mutate (a column of unknowns: pandas reads None alike)
            continue
        base[name] = base_summary(snapshot, engine, quarter)
        fallbacks = [snapshot.model.note, snapshot.spend.note if snapshot.spend else None]
        notes += [
            Finding("clv.base_fallback", {"quarter": label, "note": note})
            for note in fallbacks
            if note
        ]
        if snapshot.spend_withheld:
            notes.append(
                Finding("clv.base_no_clv", {"quarter": label, "reason": snapshot.spend_withheld})
            )
        if name == "current":
            current = snapshot
        else:
            snapshot.release()
    return current, pd.DataFrame(base), notes


def build_section(engine: queries.DataEngine, config: Config, periods: pd.DataFrame) -> ClvSection:
    """Validate on the quarter, refit to its end, value the base now, last quarter, a year ago.
    The customer summaries of every compared base are kept first, from one pass over the
    orders; they stay while the current base's scores (a view of its summary) are in use, and
    are dropped when the section is withheld."""
    summaries = {summary_table(label): parse_period(label).end for label in periods["quarter"]}
    unit_days = UNIT_DAYS[config.clv.time_unit]
    current = summary_table(config.period.label)
    queries.keep_customer_summaries(engine, summaries, unit_days, origins=current)
    try:
        section = _valued_section(engine, config, periods)
    except BaseException:
        queries.forget_customer_summaries(engine, list(summaries))
        raise
    if section.current is None:
        queries.forget_customer_summaries(engine, list(summaries))
    return section


def _valued_section(
    engine: queries.DataEngine, config: Config, periods: pd.DataFrame
) -> ClvSection:
    quarter = config.period
    previous = periods.set_index("period").loc["previous", "quarter"]
    try:
        validation_table, results, spend_check, models = validate_models(
            engine, config, quarter, summary_table(previous)
        )
    except ModelFitError as exc:
        reason = Reason("no_purchase_model", {"reason": exc.reason})
        return ClvSection(
            withheld=reason, findings=[Finding("clv.not_available", {"reason": reason})]
        )
    key = models[0].key
    chosen = results[key]
    error = chosen["aggregate_error_pct"]
    trusted = is_trusted(error, config.clv.max_holdout_error_pct)
    try:
        current, base, snapshot_notes = value_bases(engine, config, periods, key, models)
    except ModelFitError as exc:
        reason = Reason("base_not_valued", {"reason": exc.reason})
        return ClvSection(
            withheld=reason, findings=[Finding("clv.not_available", {"reason": reason})]
        )
    kpis = base_kpis(base, current.spend_withheld)
    kpis["holdout_error_pct"] = {
        "key": "clv.holdout_error_pct",
        "unit": "pct",
        "current": error,
    }
    histories = current.histories
    tiers = value_tiers(current) if current.has_clv else None
    channel, cohort = "acquisition_channel", "first_quarter"  # pragma: no mutate (SQL case)
    has_channel = scores.has_values(engine, current.table, channel)
    by_channel = channel_values(current, quarter) if has_channel and current.has_clv else None
    typical_age = weighted_quantile(histories["T"], histories["weight"], 0.5)
    # the matrices' rows: up to the 99th percentile's repeat purchases, at most 30 (a display
    # choice: the sample's customers stay well under it, so no test pins the cap)
    top = weighted_quantile(histories["frequency"], histories["weight"], 0.99)
    max_f = int(min(top, 30))  # pragma: no mutate
    basis = "gross margin" if current.margin_rate is not None else "revenue"
    return ClvSection(
        validation_table=validation_table,
        candidates=pd.DataFrame(results.values()).assign(
            chosen=lambda d: d["model"] == chosen["model"]
        ),
        chosen=chosen,
        spend_check=spend_check,
        trusted=trusted,
        current=current,
        base=base.reset_index(names="measure"),
        tiers=tiers,
        by_channel=by_channel,
        by_cohort=clv_by(current, cohort) if current.has_clv else None,
        clv_sample=queries.evenly_spaced(engine, current.table, "clv", CHART_CUSTOMERS)
        if current.has_clv
        else None,
        alive=alive_matrix(current.model, typical_age, max_f),
        expected=expected_purchases_matrix(
            current.model, typical_age, horizon_for(config, quarter).next_quarter, max_f
        ),
        matrix_age=typical_age,
        period_check=period_transactions(current.model, histories, config.seed),
        basis=basis,
        snapshot_notes=snapshot_notes,
        findings=clv_findings(
            chosen,
            trusted,
            current,
            tiers,
            by_channel,
            kpis,
            config.clv.model_dump(),
            basis,
        ),
        # no KPI here is a rate, so the rate threshold is never read
        kpis=mark_material(
            kpis,
            config.material_change_pct,
            config.material_rate_change_pp,  # pragma: no mutate
        ),
    )


def channel_values(snapshot: Snapshot, quarter: Period) -> pd.DataFrame:
    """CLV per acquisition channel (clv_by), plus this quarter's new customers of each: how
    many, their mean CLV and the mean value of their first purchase day, both in the CLV's
    basis (margin when known): what marketing ROI sets against CAC."""
    labels = [q.label for q in quarter.quarters]
    cohort = scores.new_by_channel(snapshot.engine, snapshot.table, labels)
    margin = snapshot.margin_rate
    cohort["new_first_value_mean"] *= margin if margin is not None else 1.0
    table = clv_by(snapshot, "acquisition_channel")  # pragma: no mutate (SQL case)
    return table.merge(
        cohort,
        on="acquisition_channel",  # pragma: no mutate (the only column both have)
        how="left",
    )


def customer_export(section: ClvSection) -> CustomerExport:
    """The CRM table: one row per customer with summary, predictions, CLV and value tier
    (clv_tier), in customer order."""
    current = section.current
    bounds = TIER_BOUNDS if current.has_clv else None
    return scores.export(current.engine, current.table, bounds, TIERS)


def valuation_basis(section: ClvSection, horizon_months: int, annual_rate: float) -> Finding:
    """How CLV was measured: margin or revenue basis, horizon and discount rate."""
    margin, rejected = section.current.margin_rate, section.current.rejected_margin_rate
    variant = "margin" if margin is not None else "rejected" if rejected is not None else "revenue"
    return Finding(
        "clv.valuation_basis",
        {
            "margin_rate": margin if rejected is None else rejected,
            "horizon_months": horizon_months,
            "annual_rate": annual_rate,
        },
        variant=variant,
    )


def model_fit(section: ClvSection) -> Finding:
    """The fitted parameters of both models, their checks, and any fallback used."""
    model, spend = section.current.model, section.current.spend
    check = section.spend_check
    return Finding(
        "clv.model_fit",
        {
            "model": model.name,
            "params": model.params,
            "model_note": model.note,
            "spend_withheld": section.current.spend_withheld,
            "spend": None
            if spend is None
            else {
                "repeat_customers": spend.repeat_customers,
                "params": spend.params,
                "model_mean": spend.model_mean,
                "observed_mean": spend.observed_mean,
                "correlation": spend.frequency_spend_correlation,
                "note": spend.note,
            },
            "check": check if check.get("error_pct") is not None else None,
        },
    )


def value_by_channel(engine: queries.DataEngine, config: Config) -> pd.DataFrame | None:
    """CLV per acquisition channel at the quarter's end (what the CLV section saves as
    clv_by_channel), for sections run without it; None when orders carry no channel or no
    sound model could be fitted."""
    return build_section(engine, config, comparison_periods(config.period)).by_channel
