"""Headings of the parts of a section page, with the ids its table of contents links to."""

from __future__ import annotations

import html
import re

PART_HEADING = re.compile(r'<h2 id="([^"]+)">(.*?)</h2>')


def part_heading(part: str, title: str) -> str:
    """The heading of part `part` of a section page (HTML, which Markdown passes through)."""
    return f'<h2 id="{html.escape(part)}">{html.escape(title)}</h2>'


def parts_in(markdown: str) -> list[dict]:
    """The parts headed in a Markdown text: their ids and titles, in order."""
    return [{"id": i, "title": html.unescape(t)} for i, t in PART_HEADING.findall(markdown)]
