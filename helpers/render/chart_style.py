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
from functools import cache
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import mplfonts
import seaborn as sns
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from helpers.core.errors import ChartError
from helpers.render.locale import ChartText, Locale

PALETTE = "deep"
PERIOD_COLORS = {"current": "#1f4e79", "previous": "#7fa7cf", "year_ago": "#c9c9c9"}
LATIN_FONT = "DejaVu Sans"  # matplotlib's own
CJK_FONT_FILE = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
DPI = 150  # rendered at 1.5x the size a page shows, so charts stay sharp on modern screens
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
    """A finished chart: its PNG (rendered once, whatever matplotlib's backend) with the
    title as alt text, shown by Jupyter and nbconvert as an image."""

    def __init__(self, figure: Figure, title: str):
        self.figure, self.title = figure, title
        self.png = _render_png(figure, title)

    def _repr_mimebundle_(self, **_formats):
        width = round(self.figure.get_figwidth() * SHOWN_DPI)
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.title}
        return data, {"image/png": {"width": width, "alt": self.title}}


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


def count_axis(axis, locale: Locale, currency: bool = False) -> None:
    """Format an axis as compact numbers (12.3K; 1.2万), optionally as amounts."""
    prefix = locale.currency if currency else ""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{prefix}{locale.compact(v)}"))


def rate_axis(axis, decimals: int = 1) -> None:
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def finish(fig: Figure, ax, text: ChartText) -> Chart:
    """Title and axis labels on, rendered: the chart a notebook displays."""
    ax.set_title(text.title, loc="left")
    ax.set_xlabel(text.x)
    ax.set_ylabel(text.y)
    return Chart(fig, text.title)


def value_axis(axis, value_kind: str, locale: Locale) -> None:
    if value_kind == "rate":
        rate_axis(axis)
    elif value_kind == "number":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.2g}"))
    else:
        count_axis(axis, locale, currency=value_kind == "currency")
