"""A report as a list of blocks, written once and rendered twice: Markdown for GitHub and one
self-contained HTML file. Keeping both renderers on one model keeps the two files identical in
content.

Text in blocks may use four inline marks, and only these: ``**bold**``, ``*emphasis*``,
```code``` and ``[text](relative/link)``; the HTML renderer turns every one into markup, so
no marker is ever shown as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str

    @property
    def anchor(self) -> str:
        return slug(self.text)


@dataclass
class Paragraph:
    text: str


@dataclass
class BulletList:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    #: "l" or "r" per column (numbers right-aligned); default all left
    align: list[str] | None = None
    #: a cell equal to one of these words gets that status colour in HTML
    status_column: int | None = None


@dataclass
class Image:
    """A chart: ``path`` is the PNG on disk; Markdown links it relative to the report."""

    path: Path
    alt: str
    caption: str = ""
    svg: Path | None = None


@dataclass
class Banner:
    """A visible warning at the top: ``level`` is ``invalid`` (red) or ``warning`` (amber)."""

    level: str
    title: str
    items: list[str] = field(default_factory=list)


@dataclass
class Details:
    """A collapsible section (the manifest)."""

    summary: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Code:
    text: str
    language: str = ""


Block = Heading | Paragraph | BulletList | Table | Image | Banner | Details | Code


def slug(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to dashes."""
    lowered = re.sub(r"[^\w\- ]", "", text.lower())
    return lowered.strip().replace(" ", "-")
