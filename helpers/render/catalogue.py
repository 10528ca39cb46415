"""The per-locale text catalogues: one YAML file per locale in `locales/`, read once.

Every locale has the same keys (a test compares them); what a reader sees is looked up here
by a dotted key, never written into the code. A variant ("en@year": the words of a year
report) is the locale's catalogue with the texts of `locales/<variant>/<locale>.yaml` over it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LOCALES = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"


def known_locales() -> list[str]:
    """The locales that have a catalogue, e.g. ['en', 'zh-CN']."""
    return sorted(path.stem for path in LOCALES.glob("*.yaml"))


@cache
def catalogue(locale: str = DEFAULT_LOCALE) -> dict:
    """The locale's texts, by section and key (with its variant's over them, if named)."""
    code, _, variant = locale.partition("@")
    path = LOCALES / f"{code}.yaml"
    if not path.exists():
        raise ValueError(
            f"no text catalogue for locale {code!r}; known: {', '.join(known_locales())}"
        )
    texts = yaml.safe_load(path.read_text(encoding="utf-8"))
    if variant:
        texts = _over(texts, yaml.safe_load((LOCALES / variant / path.name).read_text("utf-8")))
    return texts


def _over(base: dict, variant: dict) -> dict:
    """`base` with the texts of `variant` in place of its own, key by key."""
    merged = dict(base)
    for key, value in variant.items():
        merged[key] = _over(base[key], value) if isinstance(value, dict) else value
    return merged


def entry(locale: str, key: str):
    """The catalogue node at a dotted key (a text, or a mapping of texts)."""
    node = catalogue(locale)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no text {key!r} in the {locale} catalogue")
        node = node[part]
    return node
