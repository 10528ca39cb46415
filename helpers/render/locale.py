"""How a report speaks: the language of its catalogue and its currency, in one value that
tables, charts, notes and pages take, so that no caller picks words or formats itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from helpers.core.errors import Reason
from helpers.core.periods import Quarter
from helpers.render import text
from helpers.render.catalogue import DEFAULT_LOCALE, entry
from helpers.render.formats import (
    Scale,
    compact,
    day_label,
    fmt_change,
    fmt_value,
    month_label,
    period_label,
    scale_for,
)
from helpers.sections.findings import Finding


@dataclass(frozen=True)
class ChartText:
    """What a chart says (title, axis labels, and named parts such as legend entries or bar
    labels) and the locale its numbers are written in."""

    title: str
    x: str
    y: str
    locale: Locale
    parts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Locale:
    """A report's language (a catalogue in render/locales/), currency symbol, and the grain
    of its period ("quarter", or "year", whose words come from render/locales/year/)."""

    code: str = DEFAULT_LOCALE
    currency: str = "¥"
    grain: str = "quarter"

    @property
    def texts(self) -> str:
        """The catalogue the words come from: the language, with the year's words over it
        in a year report ("en@year", as POSIX writes a locale's variant)."""
        return self.code if self.grain == "quarter" else f"{self.code}@{self.grain}"

    def text(self, key: str, /, **figures) -> str:
        """The catalogue text at `key`, filled with `figures`."""
        return text.render(key, self.texts, self.currency, **figures)

    def lookup(self, key: str):
        """The raw catalogue node at `key` (a mapping of words, or a text)."""
        return entry(self.texts, key)

    def value(self, value: float | None, unit: str, scale: Scale | None = None) -> str:
        """A value by its unit; counts and amounts in `scale` when shown in a group."""
        return fmt_value(value, unit, self.currency, self.texts, scale)

    def scale(self, values: Iterable[float | None]) -> Scale:
        """One compact unit for numbers shown together (scale_for)."""
        return scale_for(values, self.texts)

    def change(self, change: float | None, unit: str) -> str:
        return fmt_change(change, unit, self.texts)

    def compact(self, value: float) -> str:
        return compact(value, self.texts)

    def quarter(self, label: str) -> str:
        """A quarter's or a year's label as the locale writes it."""
        return period_label(label, self.texts)

    def month(self, when) -> str:
        return month_label(when, self.texts)

    def day(self, when) -> str:
        return day_label(when, self.texts)

    def period(self, start: pd.Timestamp, grain: str) -> str:
        """The month or quarter starting at `start`, by `grain` ("month" or "quarter")."""
        return self.month(start) if grain == "month" else self.quarter(Quarter.of(start))

    def term(self, group: str, code: str) -> str:
        """A category code from the analysis (an RFM segment, a CLV tier) in words."""
        return self.text(f"terms.{group}.{code}")

    def terms(self, group: str, codes: pd.Series) -> pd.Series:
        """Each code of a column in words (unknown codes are an error, never shown raw)."""
        words = {code: self.term(group, code) for code in pd.unique(codes.dropna())}
        return codes.map(words)

    def reason(self, why: Reason | str | None) -> str:
        """Why something is not there, in words."""
        return text.worded(why, self.texts, self.currency)

    def plain(self, value):
        """`value` with every Reason in it worded: ready for JSON."""
        if isinstance(value, Reason):
            return self.reason(value)
        if isinstance(value, dict):
            return {key: self.plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.plain(item) for item in value]
        return value

    def sentences(self, findings: Iterable[Finding]) -> list[str]:
        return text.sentences(findings, self.texts, self.currency)

    def chart(self, key: str, /, **figures) -> ChartText:
        """A chart's words from `charts.<key>`: title, x and y (either axis may be left out
        for none), and `parts` (legend entries, bar labels) where it has them."""
        words = entry(self.texts, f"charts.{key}")
        axes = {
            part: self.text(f"charts.{key}.{part}", **figures) if part in words else ""
            for part in ("title", "x", "y")
        }
        parts = {
            name: self.text(f"charts.{key}.parts.{name}", **figures)
            for name in words.get("parts", {})
        }
        return ChartText(axes["title"], axes["x"], axes["y"], self, parts)
