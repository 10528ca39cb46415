"""Words from the locale's catalogue: findings as sentences, notes and definitions.

Catalogues are YAML files in `locales/` (one per locale, `en.yaml` first); their texts are
Jinja templates over a finding's figures, with the filters below for numbers in the report's
formats. A missing figure or text is an error, never an empty sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml
from jinja2 import Environment, StrictUndefined, Template, meta

from helpers.render.formats import compact, fmt_change, fmt_value
from helpers.sections.findings import Finding

LOCALES = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"


@cache
def catalogue(locale: str = DEFAULT_LOCALE) -> dict:
    """The locale's texts, by section and key."""
    path = LOCALES / f"{locale}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in LOCALES.glob("*.yaml"))
        raise ValueError(f"no text catalogue for locale {locale!r}; known: {', '.join(known)}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _entry(locale: str, key: str):
    node = catalogue(locale)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no text {key!r} in the {locale} catalogue")
        node = node[part]
    return node


@cache
def _environment(locale: str, currency: str) -> Environment:
    env = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
    words = catalogue(locale)["words"]

    def changes(by_basis: dict, unit: str) -> str:
        shown = [(b, v) for b, v in by_basis.items() if v is not None]
        if not shown:
            return words["nothing_to_compare"]
        return words["and"].join(f"{fmt_change(v, unit)} {words['basis'][b]}" for b, v in shown)

    env.filters.update(
        value=lambda x, unit: fmt_value(x, unit, currency),
        change=fmt_change,
        changes=changes,
        money=lambda x, decimals=0: f"{'-' if x < 0 else ''}{currency}{abs(x):,.{decimals}f}",
        amount=lambda x: fmt_value(x, "currency", currency),
        pct=lambda x, decimals=0: f"{x:.{decimals}%}",
        fmt=lambda x, spec: format(x, spec),
        compact=compact,
        listing=lambda items: words["list"].join(map(str, items)),
        parameters=lambda params: words["list"].join(f"{k} = {v:.3g}" for k, v in params.items()),
    )
    env.globals["words"] = words
    env.globals["kpi_label"] = lambda key, **fields: render(
        f"kpis.{key}", locale, currency, **fields
    )
    return env


@cache
def _template(locale: str, currency: str, key: str) -> tuple[Template, frozenset[str]]:
    """The compiled text and the figures it needs."""
    env = _environment(locale, currency)
    source = _entry(locale, key)
    if not isinstance(source, str):
        raise KeyError(f"{key!r} in the {locale} catalogue has variants: {', '.join(source)}")
    needed = meta.find_undeclared_variables(env.parse(source)) - env.globals.keys()
    return env.from_string(source), frozenset(needed)


def render(key: str, locale: str = DEFAULT_LOCALE, currency: str = "¥", /, **figures) -> str:
    """The catalogue text `key` (dotted) filled with `figures` (which may use any name)."""
    template, needed = _template(locale, currency, key)
    missing = needed - figures.keys()
    if missing:
        raise KeyError(f"text {key!r} needs the figure(s) {', '.join(sorted(missing))}")
    return template.render(**figures).strip()


def section_title(name: str, locale: str = DEFAULT_LOCALE) -> str:
    """A report section's title, as its page, heading and index card show it."""
    return render(f"sections.{name}.title", locale)


def kpi_label(record: dict, locale: str = DEFAULT_LOCALE) -> str:
    """A KPI record's label: the catalogue's `kpis.<key>`, filled with the record's details."""
    return render(f"kpis.{record['key']}", locale, **record)


def labelled(kpis: dict[str, dict], locale: str = DEFAULT_LOCALE) -> dict[str, dict]:
    """KPI records with their labels, as metrics.json publishes them."""
    return {name: {**record, "label": kpi_label(record, locale)} for name, record in kpis.items()}


def sentence(finding: Finding, locale: str = DEFAULT_LOCALE, currency: str = "¥") -> str:
    """One finding in the locale's words."""
    key = f"findings.{finding.kind}"
    if finding.variant is not None:
        key += f".{finding.variant}"
    return render(key, locale, currency, **finding.figures)


def sentences(
    findings: Iterable[Finding], locale: str = DEFAULT_LOCALE, currency: str = "¥"
) -> list[str]:
    """Every finding in the locale's words, in order."""
    return [sentence(f, locale, currency) for f in findings]
