"""The charts' house style: theme, period colours, axis formats (compact numbers, currency,
percentages) and the title and labels every chart carries."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.render.formats import compact

PALETTE = "deep"


PERIOD_COLORS = {"current": "#1f4e79", "previous": "#7fa7cf", "year_ago": "#c9c9c9"}


def use_report_style() -> None:
    """House style: white grid, readable fonts, compact PNGs that embed well in HTML."""
    sns.set_theme(style="whitegrid", palette=PALETTE, font_scale=0.95)
    matplotlib.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "figure.figsize": (9, 4.2),
            "axes.titleweight": "bold",
            "axes.titlesize": 12,
            "figure.autolayout": True,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def count_axis(axis, currency: str | None = None) -> None:
    """Format an axis as compact numbers (12.3K, 1.2M), optionally with a currency symbol."""
    prefix = currency or ""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{prefix}{compact(v)}"))


def rate_axis(axis, decimals: int = 1) -> None:
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def finish(fig: Figure, ax, title: str, xlabel: str, ylabel: str) -> Figure:
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    plt.close(fig)  # shown by returning it; avoids a duplicate render in notebooks
    return fig


def value_axis(axis, value_kind: str, currency: str | None) -> None:
    if value_kind == "rate":
        rate_axis(axis)
    elif value_kind == "number":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.2g}"))
    else:
        count_axis(axis, currency if value_kind == "currency" else None)
