"""Statistical tests used to say whether a change is real or noise."""

from __future__ import annotations

import numpy as np
from scipy import stats


def two_proportion_ztest(
    successes_a, trials_a, successes_b, trials_b
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-sided z-test of p_a == p_b; vectorised. Returns (z, p_value), NaN where undefined.

    z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with p the pooled proportion.
    """
    x_a, n_a, x_b, n_b = (
        np.asarray(v, dtype=float)  # pragma: no mutate (numpy divides integers to floats too)
        for v in (successes_a, trials_a, successes_b, trials_b)
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # pragma: no mutate (warnings only)
        pooled = (x_a + x_b) / (n_a + n_b)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        z = (x_a / n_a - x_b / n_b) / se
    z = np.where(np.isfinite(z), z, np.nan)
    return z, 2 * stats.norm.sf(np.abs(z))
