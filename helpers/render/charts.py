"""Chart helpers: tables in, matplotlib figures out, in one house style with readable axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from helpers.render.chart_style import (
    PALETTE,
    PERIOD_COLORS,
    Chart,
    category_alt,
    count_axis,
    finish,
    month_axis,
    rate_axis,
    series_alt,
    value_axis,
)
from helpers.render.locale import ChartText

CLIP_QUANTILE = 0.99  # distributions show values above it at its level (their titles say so)
BUBBLE_AREA = 2000  # points² of the largest bubble


def period_bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    text: ChartText,
    value_kind: str = "count",
) -> Chart:
    """Horizontal bars of `value` per category, one bar per compared period."""
    labels = {period: text.locale.text(f"periods.{period}") for period in PERIOD_COLORS}
    data = frame.assign(Period=frame["period"].map(labels))
    fig, ax = plt.subplots(figsize=(9, 0.55 * data[category].nunique() + 1.6))
    sns.barplot(
        data=data,
        y=category,
        x=value,
        hue="Period",
        palette={labels[period]: colour for period, colour in PERIOD_COLORS.items()},
        ax=ax,
        order=data[data["period"] == "current"].sort_values(value, ascending=False)[category],
    )
    value_axis(ax.xaxis, value_kind, text.locale)
    ax.legend(title=None, loc="lower right")
    now = frame[frame["period"] == "current"]
    return finish(fig, ax, text, category_alt(text, now[category], now[value], value_kind))


def diverging_bars(frame: pd.DataFrame, category: str, value: str, text: ChartText) -> Chart:
    """Positive (gain) and negative (loss) bars around zero, e.g. share shift in pp."""
    data = frame.sort_values(value)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(data) + 1.6))
    colors = np.where(data[value] >= 0, "#1f5fa8", "#b35806")
    ax.barh(data[category], data[value] * 100, color=colors)
    ax.axvline(0, color="#555", linewidth=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: text.locale.value(v / 100, "pp")))
    for y, v in enumerate(data[value] * 100):
        ax.annotate(
            f"{v:+.1f}",
            (v, y),
            xytext=(4 if v >= 0 else -4, 0),
            textcoords="offset points",
            va="center",
            ha="left" if v >= 0 else "right",
            fontsize=9,
        )
    return finish(fig, ax, text, category_alt(text, data[category], data[value], "pp"))


def trend_lines(
    frame: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    text: ChartText,
    value_kind: str = "count",
) -> Chart:
    """One line per `hue` over `x` (months, or periods after a first order), the legend
    beside the plot so that it hides no line; whole-number x ticks for a whole-number x."""
    fig, ax = plt.subplots(figsize=(10, 4.4))
    sns.lineplot(data=frame, x=x, y=y, hue=hue, ax=ax, linewidth=1.6, marker="o", markersize=3)
    value_axis(ax.yaxis, value_kind, text.locale)
    if pd.api.types.is_integer_dtype(frame[x]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    elif pd.api.types.is_datetime64_any_dtype(frame[x]):
        span = (frame[x].max() - frame[x].min()).days / 30.4
        month_axis(ax.xaxis, text.locale, months=max(1, round(span / 8)))
    ax.legend(title=None, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    last = frame.sort_values(x).groupby(hue, sort=False).last()
    return finish(fig, ax, text, series_alt(text, frame[x], last[y], value_kind))


def stacked_area(
    frame: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    text: ChartText,
    colors: dict[str, str],
) -> Chart:
    """The total over time as stacked areas, one per `hue` (largest at the bottom), each in
    its own colour on every page (`colors`): the mix and the total at once, with no tangle."""
    wide = frame.pivot_table(index=x, columns=hue, values=y, aggfunc="sum").fillna(0.0)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(10, 4.4))
    ax.stackplot(
        wide.index,
        *(wide[c] for c in wide.columns),
        labels=[str(c) for c in wide.columns],
        colors=[colors.get(c, "#999999") for c in wide.columns],
        alpha=0.9,
        linewidth=0,
    )
    count_axis(ax.yaxis, text.locale)
    month_axis(ax.xaxis, text.locale)
    ax.set_xlim(wide.index.min(), wide.index.max())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return finish(fig, ax, text, series_alt(text, wide.index, wide.iloc[-1], "count"))


def bubble_scatter(
    frame: pd.DataFrame,
    x: str,
    y: str,
    size: str,
    label: str,
    text: ChartText,
    reference_y: float | None = None,
) -> Chart:
    """Labelled bubbles, e.g. channel volume against conversion, sized by value."""
    fig, ax = plt.subplots(figsize=(9, 5))
    largest = frame[size].max()
    areas = BUBBLE_AREA * frame[size] / largest
    ax.scatter(
        frame[x],
        frame[y],
        s=areas,
        alpha=0.55,
        color=sns.color_palette(PALETTE)[0],
        edgecolor="white",
    )
    ax.margins(x=0.12, y=0.22)  # room for the largest bubbles and their labels
    offsets = _label_offsets(ax, frame, x, y, label, areas)
    for row, offset in zip(frame.itertuples(), offsets, strict=True):
        ax.annotate(
            getattr(row, label),
            (getattr(row, x), getattr(row, y)),
            fontsize=9,
            xytext=offset,
            textcoords="offset points",
            ha="center",
            va="bottom",
            annotation_clip=False,
        )
    for share in (1.0, 0.5, 0.25):  # what a bubble's size means, in the amounts it stands for
        ax.scatter(
            [],
            [],
            s=BUBBLE_AREA * share,
            color="#bbb",
            alpha=0.55,
            label=text.locale.value(largest * share, "currency"),
        )
    ax.legend(
        title=text.parts["size"],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
        labelspacing=3.2,
        borderpad=1.6,
        fontsize=8,
        title_fontsize=8,
    )
    if reference_y is not None:
        ax.axhline(reference_y, color="#888", linestyle="--", linewidth=1)
        ax.annotate(
            text.parts["reference"],
            (ax.get_xlim()[1], reference_y),
            ha="right",
            va="bottom",
            fontsize=8,
            color="#666",
        )
    rate_axis(ax.xaxis, 0)
    rate_axis(ax.yaxis)
    return finish(fig, ax, text, category_alt(text, frame[label], frame[y], "rate"))


def _label_offsets(
    ax, frame: pd.DataFrame, x: str, y: str, label: str, areas: pd.Series
) -> list[tuple[float, float]]:
    """Where each bubble's label goes (offset in points): above the bubble, else below, right
    or left of it, whichever first overlaps no label placed before (largest bubbles first)."""
    ax.autoscale_view()
    to_points = ax.transData + ax.figure.dpi_scale_trans.inverted()  # data -> inches
    placed: list[tuple[float, float, float, float]] = []
    offsets = {}
    for index in areas.sort_values(ascending=False).index:
        row = frame.loc[index]
        cx, cy = to_points.transform((row[x], row[y])) * 72  # centre in points
        radius = np.sqrt(areas[index] / np.pi)
        width, height = 5.2 * len(str(row[label])) + 4, 12.0
        for dx, dy in (
            (0, radius + 3),
            (0, -radius - 13),
            (radius + width / 2 + 3, -4),
            (-radius - width / 2 - 3, -4),
        ):
            box = (cx + dx - width / 2, cy + dy, cx + dx + width / 2, cy + dy + height)
            if not any(_overlap(box, other) for other in placed):
                break
        placed.append(box)
        offsets[index] = (dx, dy)
    return [offsets[index] for index in frame.index]


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def stacked_shares(
    frame: pd.DataFrame, category: str, stack: str, value: str, text: ChartText
) -> Chart:
    """100% stacked horizontal bars: the split of `value` by `stack` for each category."""
    wide = frame.pivot_table(index=category, columns=stack, values=value, aggfunc="sum")
    wide = wide.div(wide.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(wide) + 1.6))
    left = np.zeros(len(wide))
    for column, color in zip(wide.columns, sns.color_palette(PALETTE), strict=False):
        ax.barh(wide.index, wide[column], left=left, label=column, color=color)
        for y, (start, width) in enumerate(zip(left, wide[column], strict=True)):
            if width > 0.06:
                ax.text(
                    start + width / 2,
                    y,
                    f"{width:.0%}",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                )
        left += wide[column].to_numpy()
    rate_axis(ax.xaxis, 0)
    ax.legend(
        ncols=len(wide.columns),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        frameon=False,
        fontsize=9,
    )
    return finish(fig, ax, text)


def paired_series(
    frame: pd.DataFrame,
    x: str,
    series: list[str],
    text: ChartText,
    kind: str = "line",
    value_kind: str = "number",
) -> Chart:
    """Two or more measures against the same x (e.g. predicted vs actual), as lines or bars,
    each named in the legend by the chart's part of the same name."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    positions = np.arange(len(frame))
    width = 0.8 / len(series)
    for i, column in enumerate(series):
        label = text.parts[column]
        if kind == "bar":
            ax.bar(
                positions + (i - (len(series) - 1) / 2) * width, frame[column], width, label=label
            )
        else:
            ax.plot(positions, frame[column], marker="o", label=label)
    ax.set_xticks(positions, frame[x].astype(str))
    value_axis(ax.yaxis, value_kind, text.locale)
    ax.legend(title=None)
    first = series[0]  # the alt text names the first series' highest and lowest
    return finish(fig, ax, text, category_alt(text, frame[x].astype(str), frame[first], value_kind))


def ranked_bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    text: ChartText,
    value_kind: str = "count",
    reference: float | None = None,
    sort: bool = True,
) -> Chart:
    """Horizontal bars, largest on top (or in the frame's order, first on top, if not sort)."""
    data = frame.sort_values(value) if sort else frame.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(data) + 1.6))
    ax.barh(data[category].astype(str), data[value], color=sns.color_palette(PALETTE)[0])
    value_axis(ax.xaxis, value_kind, text.locale)
    if reference is not None:
        ax.axvline(reference, color="#888", linestyle="--", linewidth=1)
    return finish(fig, ax, text, category_alt(text, data[category], data[value], value_kind))


def heatmap(
    matrix: pd.DataFrame,
    text: ChartText,
    value_kind: str = "rate",
    annotate: bool = False,
) -> Chart:
    """A matrix as a heatmap with a labelled colour bar (rows top to bottom as given)."""
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(matrix) + 2.2))
    fmt = ".0%" if value_kind == "rate" else ".2f"
    sns.heatmap(
        matrix,
        ax=ax,
        cmap="Blues",
        annot=annotate,
        fmt=fmt,
        annot_kws={"size": 7},
        cbar_kws={"format": PercentFormatter(1.0, 0) if value_kind == "rate" else None},
    )
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    return finish(fig, ax, text)


def distribution(
    values: pd.Series,
    text: ChartText,
    currency: bool = False,
    clip_quantile: float = CLIP_QUANTILE,
) -> Chart:
    """Histogram of a skewed value, clipped at a high quantile (the chart's title says so:
    its catalogue text gets the figure `quantile`)."""
    limit = values.quantile(clip_quantile)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.hist(values.clip(upper=limit), bins=50, color=sns.color_palette(PALETTE)[0])
    count_axis(ax.xaxis, text.locale, currency)
    count_axis(ax.yaxis, text.locale)
    return finish(fig, ax, text)


def _band(ax, x0: float, x1: float, top0: float, top1: float, height: float, color) -> None:
    """A smooth ribbon from (x0, top0) to (x1, top1) of constant height."""
    xs = np.linspace(x0, x1, 50)
    ease = (1 - np.cos(np.linspace(0, np.pi, 50))) / 2
    upper = top0 + (top1 - top0) * ease
    ax.fill_between(xs, upper - height, upper, color=color, alpha=0.45, linewidth=0)


def flow_diagram(matrix: pd.DataFrame, text: ChartText) -> Chart:
    """Alluvial chart of a transition matrix (rows: from, columns: to, values: counts); the
    chart's parts `before` and `after` head the two sides."""
    matrix = matrix.loc[matrix.sum(axis=1) > 0, matrix.sum(axis=0) > 0]
    total = float(matrix.to_numpy().sum())
    gap = 0.012 * total
    colors = dict(zip(matrix.index, sns.color_palette("tab20", len(matrix.index)), strict=True))

    def tops(sizes: pd.Series) -> pd.Series:
        return total + gap * len(sizes) - (sizes.cumsum() - sizes) - gap * np.arange(len(sizes))

    left_top, right_top = tops(matrix.sum(axis=1)), tops(matrix.sum(axis=0))
    fig, ax = plt.subplots(figsize=(10, 7.5))
    left_used = pd.Series(0.0, index=matrix.index)
    right_used = pd.Series(0.0, index=matrix.columns)
    for source in matrix.index:
        for target in matrix.columns:
            count = float(matrix.loc[source, target])
            if count <= 0:
                continue
            _band(
                ax,
                0.12,
                0.88,
                left_top[source] - left_used[source],
                right_top[target] - right_used[target],
                count,
                colors[source],
            )
            left_used[source] += count
            right_used[target] += count
    for names, top, x, align in (
        (matrix.sum(axis=1), left_top, 0.11, "right"),
        (matrix.sum(axis=0), right_top, 0.89, "left"),
    ):
        for name, size in names.items():
            ax.add_patch(
                plt.Rectangle(
                    (x - 0.01 if align == "right" else x, top[name] - size),
                    0.01,
                    size,
                    color="#444",
                )
            )
            ax.text(
                x - 0.015 if align == "right" else x + 0.025,
                top[name] - size / 2,
                f"{name} ({text.locale.compact(size)})",
                ha=align,
                va="center",
                fontsize=8,
            )
    top = total + gap * (len(matrix) + 1)
    ax.text(0.11, top, text.parts["before"], ha="right", weight="bold")
    ax.text(0.89, top, text.parts["after"], ha="left", weight="bold")
    ax.set_xlim(-0.25, 1.25)
    ax.axis("off")
    return finish(fig, ax, text)


def waterfall(values: dict[str, float], text: ChartText) -> Chart:
    """A bridge from the first value through signed steps to the last; each bar is labelled
    by the chart's part of the same name."""
    names = list(values)
    labels = [text.parts[name] for name in names]
    start, end = (names[0], values[names[0]]), (names[-1], values[names[-1]])
    steps = {name: values[name] for name in names[1:-1]}
    fig, ax = plt.subplots(figsize=(9, 4.2))
    level = start[1]
    ax.bar(0, start[1], color="#7fa7cf")
    for i, delta in enumerate(steps.values(), start=1):
        ax.bar(i, delta, bottom=level, color="#2e7d32" if delta >= 0 else "#c62828")
        ax.annotate(
            f"{delta:+.2f}",
            (i, level + max(delta, 0)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
        level += delta
    ax.bar(len(labels) - 1, end[1], color="#1f4e79")
    for i, value in ((0, start[1]), (len(labels) - 1, end[1])):
        ax.annotate(
            f"{value:.2f}",
            (i, value),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    levels = np.cumsum([start[1], *steps.values()])
    ax.set_ylim(min(0.0, levels.min(), end[1]), 1.12 * max(levels.max(), end[1]))  # from zero
    ax.set_xticks(range(len(labels)), labels)
    return finish(fig, ax, text)


def response_panels(
    weekly: pd.DataFrame,
    curves: pd.DataFrame,
    curve,
    text: ChartText,
    colors: dict[str, str] | None = None,
) -> Chart:
    """One panel per channel: weekly revenue against spend (each panel's axes labelled with
    the chart's x and y), the fitted curve (dashed when the fit is too poor to act on) and the
    current spend."""
    rows = curves.reset_index(drop=True)
    columns = min(2, len(rows))
    fig, axes = plt.subplots(
        int(np.ceil(len(rows) / columns)),
        columns,
        figsize=(10, 3.6 * np.ceil(len(rows) / columns)),
        squeeze=False,
    )
    for ax, row in zip(axes.ravel(), rows.itertuples(), strict=False):
        points = weekly[weekly["channel"] == row.channel]
        ax.scatter(
            points["spend"],
            points["revenue"],
            s=10,
            alpha=0.6,
            color=(colors or {}).get(row.channel),
        )
        grid = np.linspace(0, points["spend"].max() * 1.3, 100)
        if np.isfinite(row.r2):
            ax.plot(
                grid,
                curve(grid, row.top, row.half, row.shape),
                color="#c62828",
                linestyle="-" if row.usable else "--",
            )
        ax.axvline(row.current_spend, color="#555", linewidth=1)
        ax.set_title(f"{row.channel} (R² {row.r2:.2f})", fontsize=10, loc="left")
        count_axis(ax.xaxis, text.locale, currency=True)
        count_axis(ax.yaxis, text.locale, currency=True)
        ax.set_xlabel(text.x)
        ax.set_ylabel(text.y)
    for ax in axes.ravel()[len(rows) :]:
        ax.set_visible(False)
    fig.suptitle(text.title, x=0.01, ha="left", fontweight="bold")
    return Chart(fig, text.title)
