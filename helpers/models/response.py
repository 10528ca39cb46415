"""Marketing response curves: a saturating (Hill) curve of attributed revenue on spend per
channel, its marginal return, and the budget reallocation that equalises marginal returns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit


def hill(spend, top: float, half: float, shape: float):
    """Saturating response: top * s^shape / (half^shape + s^shape)."""
    spend = np.asarray(spend, dtype=float)  # pragma: no mutate (int ** float is float anyway)
    return top * spend**shape / (half**shape + spend**shape)


def marginal_roas(spend, top: float, half: float, shape: float):
    """d revenue / d spend of the Hill curve."""
    spend = np.asarray(spend, dtype=float)  # pragma: no mutate (int ** float is float anyway)
    return top * shape * half**shape * spend ** (shape - 1) / (half**shape + spend**shape) ** 2


MIN_WEEKS = 8  # fewer weeks than this leave too few points for a three-parameter curve


def unfittable(spend: np.ndarray, revenue: np.ndarray) -> str | None:
    """Why a response curve cannot be fitted to these weeks at all, or None."""
    if len(spend) < MIN_WEEKS:
        return "too_few_weeks"
    if np.ptp(spend) == 0:
        return "constant_spend"
    if not (revenue > 0).any():
        return "no_revenue"
    return None


def fit_response(spend: np.ndarray, revenue: np.ndarray) -> dict:
    """Least-squares Hill fit with its R^2. Weeks a curve cannot be fitted to, or a fit that
    does not converge, give NaN parameters, R^2 -inf and the reason in `problem`
    (unfittable's, or "no_convergence"); any other error is raised."""
    problem = unfittable(spend, revenue)
    if problem is None:
        lower = [0, spend.min() * 0.01 + 1e-9, 0.3]
        # bounds 100 times beyond the data, which no curve fitted to it should reach
        upper = [revenue.max() * 100, spend.max() * 100, 3.0]  # pragma: no mutate (see above)
        try:
            params = _least_squares(spend, revenue, lower, upper)
        except RuntimeError:  # scipy: optimal parameters not found within maxfev
            problem = "no_convergence"
    if problem is not None:
        return {"top": np.nan, "half": np.nan, "shape": np.nan, "r2": -np.inf, "problem": problem}
    residual = revenue - hill(spend, *params)
    r2 = 1 - (residual**2).sum() / ((revenue - revenue.mean()) ** 2).sum()
    return {
        "top": params[0],
        "half": params[1],
        "shape": params[2],
        "r2": float(r2),
        "problem": None,
    }


def _least_squares(spend: np.ndarray, revenue: np.ndarray, lower: list, upper: list) -> np.ndarray:
    """The Hill parameters by bounded least squares; RuntimeError when the search gives up."""
    # pragma: no mutate block (where the search starts and when it stops: tests pin where it ends)
    # a channel paused for most weeks has a median spend of 0, below the lowest half point
    start = np.maximum([revenue.max() * 2, np.median(spend), 1.0], lower)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        fitted, _ = curve_fit(hill, spend, revenue, p0=start, bounds=(lower, upper), maxfev=20000)
    return fitted


def response_curves(
    weekly: pd.DataFrame, current_weekly_spend: pd.Series, min_r2: float
) -> pd.DataFrame:
    """Per channel: Hill fit of weekly revenue on weekly spend, its R^2, whether it is good
    enough to act on, the current weekly spend, revenue and marginal ROAS there."""
    rows = []
    for channel, group in weekly.groupby("channel"):
        fit = fit_response(group["spend"].to_numpy(), group["revenue"].to_numpy())
        spend = float(current_weekly_spend.get(channel, np.nan))
        rows.append(
            {
                "channel": channel,
                **fit,
                "weeks": len(group),
                "usable": fit["r2"] >= min_r2,
                "current_spend": spend,
                "marginal_roas": float(marginal_roas(spend, fit["top"], fit["half"], fit["shape"])),
            }
        )
    return pd.DataFrame(rows)


def reallocate(
    curves: pd.DataFrame, max_shift: float, margin_rate: float | None = None
) -> pd.DataFrame:
    """Move at most the same total weekly budget between channels with usable fits so that
    marginal ROAS is as equal as the bounds allow (each channel within +-max_shift of its
    spend), never spending where the next unit of spend loses money: with a margin rate, no
    channel spends beyond where marginal ROAS x margin falls to 1, and budget that would only
    go there is held back (the proposed total is then below today's).

    Solved by bisection on the common marginal ROAS: each channel spends where its marginal
    ROAS equals it (clipped to its bounds), and the total matches the current total. Channels
    with poor fits keep their spend. Adds proposed_spend, change and marginal_roas_after."""
    usable = curves[curves["usable"] & (curves["current_spend"] > 0)].copy()
    out = curves.assign(proposed_spend=curves["current_spend"])
    if len(usable) >= 2:
        out.loc[usable.index, "proposed_spend"] = _equalised_spend(usable, max_shift, margin_rate)
    return out.assign(
        change=out["proposed_spend"] - out["current_spend"],
        marginal_roas_after=marginal_roas(
            out["proposed_spend"], out["top"], out["half"], out["shape"]
        ),
    )


def _equalised_spend(usable: pd.DataFrame, max_shift: float, margin_rate: float | None):
    low, high = usable["current_spend"] * (1 - max_shift), usable["current_spend"] * (1 + max_shift)
    total = usable["current_spend"].sum()
    curve = [usable[k].to_numpy() for k in ("top", "half", "shape")]

    def spend_at(level: float) -> pd.Series:
        # per channel, marginal ROAS decreasing on the grid; 400 points: the plan's resolution
        grid = np.linspace(low, high, 400)  # pragma: no mutate (resolution)
        # the last point whose marginal ROAS reaches the level (the first, if none does)
        reached = (marginal_roas(grid, *curve) >= level).sum(axis=0)  # pragma: no mutate (ties)
        index = np.maximum(reached, 1) - 1
        return pd.Series(grid[index, np.arange(len(usable))], index=usable.index)

    # invariant: spend_at(hi) stays within the total (at hi's start every channel is at its floor)
    lo, hi = 0.0, float(marginal_roas(low, *curve).max())
    for _ in range(60):  # pragma: no mutate (precision: 2^-60 of the range)
        level = (lo + hi) / 2
        over = spend_at(level).sum() > total  # pragma: no mutate (ties)
        lo, hi = (level, hi) if over else (lo, level)
    break_even = 1 / margin_rate if margin_rate else 0.0
    return spend_at(max(hi, break_even))
