"""The charts' house style: theme, fonts, period colours, axis formats (compact numbers,
currency, percentages), and the finished chart: titled, labelled, rendered once to PNG.

Fonts: the CJK font comes with the install (Noto Sans CJK SC from the `mplfonts` package,
OFL-licensed) and is registered here, so Chinese names draw on a machine without a CJK font
of its own; a character that no font has is a ChartError naming the chart, never a box.
"""

from __future__ import annotations

import base64
import io
import warnings
from datetime import date
from functools import cache
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import mplfonts
import pandas as pd
import seaborn as sns
from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, PercentFormatter

from helpers.core.errors import ChartError
from helpers.render.formats import compact, tick_scale
from helpers.render.locale import ChartText, Locale

PALETTE = "deep"
PERIOD_COLORS = {"current": "#1f4e79", "previous": "#7fa7cf", "year_ago": "#c9c9c9"}
CATEGORY_PALETTE = "tab10"
LATIN_FONT = "DejaVu Sans"  # matplotlib's own
CJK_FONT_FILE = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
DPI = 200  # rendered at twice the size a page shows: sharp on high-density screens and paper
SHOWN_DPI = 100
MISSING_GLYPH = "missing from font"


@cache
def cjk_font() -> str:
    """Register the bundled CJK font with matplotlib; its family name."""
    font_manager.fontManager.addfont(str(CJK_FONT_FILE))
    return font_manager.FontProperties(fname=CJK_FONT_FILE).get_name()


def use_report_style(locale: str = "en") -> None:
    """House style: white grid, readable fonts, compact PNGs that embed well in HTML.

    Each text falls back glyph by glyph along the font list: Latin text in DejaVu Sans and
    Chinese in Noto Sans CJK SC for English reports; Chinese reports use Noto Sans CJK SC
    throughout (its Latin and digits match its Chinese)."""
    fonts = [cjk_font(), LATIN_FONT] if locale.startswith("zh") else [LATIN_FONT, cjk_font()]
    sns.set_theme(style="whitegrid", palette=PALETTE, font_scale=0.95)
    matplotlib.rcParams.update(
        {
            "font.family": fonts,  # a list of families is what matplotlib falls back along
            "axes.unicode_minus": False,  # ASCII hyphen-minus: drawn by every font
            "figure.dpi": SHOWN_DPI,
            "savefig.dpi": DPI,
            "figure.figsize": (9, 4.2),
            "axes.titleweight": "bold",
            "axes.titlesize": 12,
            "figure.autolayout": True,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


class Chart:
    """A finished chart: its PNG (rendered once, whatever matplotlib's backend) with an alt
    text saying what it shows, displayed by Jupyter and nbconvert as an image."""

    def __init__(self, figure: Figure, title: str, alt: str | None = None):
        self.figure, self.title, self.alt = figure, title, alt or title
        self.png = _render_png(figure, title)

    def _repr_mimebundle_(self, **_formats):
        width = round(self.figure.get_figwidth() * SHOWN_DPI)
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.title}
        return data, {"image/png": {"width": width, "alt": self.alt}}


def _render_png(figure: Figure, title: str) -> bytes:
    """The figure as PNG; ChartError when a character has no glyph in any font."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    missing = sorted({str(w.message) for w in caught if MISSING_GLYPH in str(w.message)})
    if missing:
        raise ChartError(f"chart {title!r} has characters no installed font draws: {missing[0]}")
    for warning in caught:  # anything else is the caller's to see
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return buffer.getvalue()


class TickFormatter(Formatter):
    """Tick labels in one unit for the whole axis (5K, 10K, 15K; 0.5, 1.0, 1.5), with the
    decimals its tick step needs; optionally as amounts."""

    def __init__(self, locale: Locale, currency: bool = False):
        self.locale, self.prefix = locale, locale.currency if currency else ""

    def __call__(self, x, _pos=None) -> str:
        return self.format_ticks([x])[0]

    def format_ticks(self, values) -> list[str]:
        scale = tick_scale(list(values), self.locale.code)
        return [f"{self.prefix}{compact(v, self.locale.code, scale)}" for v in values]


def category_colors(names: list[str]) -> dict[str, str]:
    """A colour per name (a channel) by its place in the full list, so a channel has one
    colour on every page that gets the same list."""
    colors = sns.color_palette(CATEGORY_PALETTE, len(names)).as_hex()
    return dict(zip(names, colors, strict=True))


def month_axis(axis, locale: Locale, months: int = 2) -> None:
    """A date axis ticked every `months` months, each labelled as the locale writes a month
    (Feb 2025, 2025年2月): no crowded ISO dates."""
    axis.set_major_locator(mdates.MonthLocator(interval=months))
    axis.set_major_formatter(FuncFormatter(lambda v, _: locale.month(mdates.num2date(v))))


def count_axis(axis, locale: Locale, currency: bool = False) -> None:
    """Format an axis as compact numbers in one unit (12K, 14K; 1.2万), optionally amounts."""
    axis.set_major_formatter(TickFormatter(locale, currency))


def rate_axis(axis, decimals: int = 1) -> None:
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def finish(fig: Figure, ax, text: ChartText, alt: str | None = None) -> Chart:
    """Title and axis labels on, rendered: the chart a notebook displays (`alt` says what it
    shows, for readers who cannot see it; the title when there is no more to say)."""
    ax.set_title(text.title, loc="left")
    ax.set_xlabel(text.x)
    ax.set_ylabel(text.y)
    return Chart(fig, text.title, alt)


VALUE_UNITS = {
    "count": "count",
    "currency": "currency",
    "rate": "rate",
    "number": "ratio",
    "pp": "pp",
}


def category_alt(text: ChartText, names: pd.Series, values: pd.Series, value_kind: str) -> str:
    """Alt text of a chart of categories: its title, the highest and the lowest."""
    data = pd.Series(values.to_numpy(), index=names.astype(str).to_numpy()).dropna()
    if data.empty:
        return text.title
    unit, top, bottom = VALUE_UNITS.get(value_kind, "ratio"), data.idxmax(), data.idxmin()
    return text.locale.text(
        "charts.alt.categories",
        title=text.title,
        top=top,
        top_value=text.locale.value(data[top], unit),
        bottom=bottom,
        bottom_value=text.locale.value(data[bottom], unit),
    )


def series_alt(text: ChartText, xs: pd.Series, latest: pd.Series, value_kind: str) -> str:
    """Alt text of a chart over time: its title, its span, and the latest value of its three
    largest series."""
    unit = VALUE_UNITS.get(value_kind, "ratio")
    top = latest.dropna().sort_values(ascending=False).head(3)
    return text.locale.text(
        "charts.alt.series",
        title=text.title,
        start=_point(xs.min(), text.locale),
        end=_point(xs.max(), text.locale),
        latest=[f"{name} {text.locale.value(value, unit)}" for name, value in top.items()],
    )


def _point(x, locale: Locale) -> str:
    return locale.day(x) if isinstance(x, pd.Timestamp | date) else str(x)


def value_axis(axis, value_kind: str, locale: Locale) -> None:
    if value_kind == "rate":
        rate_axis(axis)
    elif value_kind == "number":
        axis.set_major_formatter(TickFormatter(locale))
    else:
        count_axis(axis, locale, currency=value_kind == "currency")
