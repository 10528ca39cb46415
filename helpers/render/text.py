"""Words from the locale's catalogue: findings as sentences, notes and definitions.

Catalogues are YAML files in `locales/` (one per locale, `en.yaml` first); their texts are
Jinja templates over a finding's figures, with the filters below for numbers in the report's
formats. A missing figure or text is an error, never an empty sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from jinja2 import Environment, StrictUndefined, Template, meta

from helpers.core.errors import Reason
from helpers.render.catalogue import DEFAULT_LOCALE, catalogue, entry
from helpers.render.formats import (
    COMPACT_FROM,
    compact,
    fmt_change,
    fmt_value,
    period_label,
)
from helpers.sections.findings import Finding

SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ"}  # model parameters, as papers write them


@cache
def _environment(locale: str, currency: str) -> Environment:
    env = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
    words = catalogue(locale)["words"]

    def changes(by_basis: dict, unit: str) -> str:
        shown = [(b, v) for b, v in by_basis.items() if v is not None]
        if not shown:
            return words["nothing_to_compare"]
        return words["and"].join(
            words["change_on_basis"].format(
                change=fmt_change(v, unit, locale), basis=words["basis"][b]
            )
            for b, v in shown
        )

    env.filters.update(
        value=lambda x, unit: fmt_value(x, unit, currency, locale),
        change=lambda x, unit: fmt_change(x, unit, locale),
        changes=changes,
        money=lambda x, decimals=0: f"{'-' if x < 0 else ''}{currency}{abs(x):,.{decimals}f}",
        amount=lambda x: sentence_amount(x, currency, locale),
        pct=lambda x, decimals=0: f"{x:.{decimals}%}",
        fmt=lambda x, spec: format(x, spec),
        compact=lambda x: compact(x, locale),
        quarter=lambda label: period_label(label, locale),
        term=lambda code, group: render(f"terms.{group}.{code}", locale, currency),
        reason=lambda why: worded(why, locale, currency),
        listing=lambda items: words["list"].join(map(str, items)),
        parameters=lambda params: words["list"].join(
            f"{SYMBOLS.get(k, k)} = {v:.3g}" for k, v in params.items()
        ),
    )
    env.globals["words"] = words
    env.globals["currency"] = currency
    env.globals["kpi_label"] = lambda key, **fields: render(
        f"kpis.{key}", locale, currency, **fields
    )
    return env


@cache
def _template(locale: str, currency: str, key: str) -> tuple[Template, frozenset[str]]:
    """The compiled text and the figures it needs."""
    env = _environment(locale, currency)
    source = entry(locale, key)
    if not isinstance(source, str):
        raise KeyError(f"{key!r} in the {locale} catalogue has variants: {', '.join(source)}")
    needed = meta.find_undeclared_variables(env.parse(source)) - env.globals.keys()
    return env.from_string(source), frozenset(needed)


def sentence_amount(value: float, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """An amount in running text: compact from 10,000 (¥15.5K), whole units from 100 (¥6,315:
    cents on a budget shift are noise), cents below (¥2.74 a session)."""
    if 100 <= abs(value) < COMPACT_FROM:
        return f"{'-' if value < 0 else ''}{currency}{abs(value):,.0f}"
    return fmt_value(value, "currency", currency, locale)


def figures(key: str, locale: str = DEFAULT_LOCALE) -> frozenset[str]:
    """The names of the figures the text at `key` uses."""
    return _template(locale, "¥", key)[1]


def render(key: str, locale: str = DEFAULT_LOCALE, currency: str = "¥", /, **figures) -> str:
    """The catalogue text `key` (dotted) filled with `figures` (which may use any name)."""
    template, needed = _template(locale, currency, key)
    missing = needed - figures.keys()
    if missing:
        raise KeyError(f"text {key!r} needs the figure(s) {', '.join(sorted(missing))}")
    return template.render(**figures).strip()


def worded(reason: Reason | str | None, locale: str = DEFAULT_LOCALE, currency: str = "¥") -> str:
    """Why something is not there, in the locale's words (`reasons.<code>`); text that is
    already words (a skipped section's reason) is passed through, None is empty."""
    if reason is None or isinstance(reason, str):
        return reason or ""
    return render(f"reasons.{reason.code}", locale, currency, **reason.figures)


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
