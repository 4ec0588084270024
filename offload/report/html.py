"""Render a report document as ONE self-contained HTML file: inline CSS, charts embedded as
base64 PNG, no script, no font or stylesheet to fetch, no http(s) reference anywhere — it opens
offline, from an e-mail attachment or a design-review wiki, and prints legibly.
"""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

from offload.report.document import (
    Banner,
    Block,
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    Table,
)

CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #d9d9de; --sync: #E69F00; --async: #0072B2; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: var(--ink); max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px;
       line-height: 1.5; font-size: 15px; }
h1 { font-size: 1.75em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.35em; margin-top: 2em; padding-bottom: 0.2em;
     border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.1em; margin-top: 1.6em; }
p, li { max-width: 75em; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em;
       background: #f3f3f5; padding: 0.05em 0.3em; border-radius: 3px; }
pre { background: #f6f6f8; padding: 12px; overflow-x: auto; font-size: 0.85em;
      border: 1px solid var(--rule); border-radius: 4px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 0.8em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid var(--rule); padding: 4px 9px; vertical-align: top; }
th { background: #f3f3f5; text-align: left; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.r { white-space: nowrap; }
td.r.wrap { white-space: normal; min-width: 8em; }
div.table { overflow-x: auto; max-width: 100%; }
tr:nth-child(even) td { background: #fafafb; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: var(--muted); font-size: 0.92em; margin-top: 0.4em; max-width: 75em; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 1em 0; border: 2px solid; }
.banner.invalid { background: #fdecea; border-color: #c62828; color: #7f1d1d; }
.banner.warning { background: #fff6e0; border-color: #e0a100; color: #5c4300; }
.banner strong { display: block; font-size: 1.08em; margin-bottom: 0.3em; }
.banner ul { margin: 0.2em 0 0 1.2em; padding: 0; }
.status-supported { color: #1b6e20; font-weight: bold; }
.status-contradicted { color: #b71c1c; font-weight: bold; }
.status-not-tested { color: var(--muted); }
.status-tie { color: var(--muted); }
details { margin: 1.5em 0; border: 1px solid var(--rule); border-radius: 6px; padding: 8px 14px; }
summary { cursor: pointer; font-weight: bold; }
nav.toc { font-size: 0.95em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  figure, table, .banner { page-break-inside: avoid; }
  table { font-size: 8.5pt; }
  td.r { white-space: normal; }
  th, td { padding: 3px 6px; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

_CODE = re.compile(r"`([^`]+)`")
_BOLD_EMPHASIS = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
#: ``*word*`` as in CommonMark: the asterisks hug the text and are not inside a word, so
#: ``2 * 3`` and ``a*b`` stay as they are
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
#: a code span's text is kept aside while the other marks are applied, so that ``a * b`` in
#: code is never read as emphasis; the placeholder cannot occur in escaped text
_HOLD = "\x00{}\x00"
_HELD = re.compile("\x00(\\d+)\x00")
_STATUS = {"supported", "contradicted", "not tested", "tie"}


def _safe(text: str) -> str:
    """Escaped text in which no ``http://`` or ``https://`` survives as a literal (a URL in
    an error message must not look like a network reference)."""
    escaped = html.escape(text, quote=True)
    return escaped.replace("http://", "http&#58;//").replace("https://", "https&#58;//")


def inline(text: str) -> str:
    """Escape, then apply the four inline marks (see ``document``): code first and held
    aside, then bold, emphasis and links, so no Markdown marker reaches the page as text."""
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(f"<code>{match.group(1)}</code>")
        return _HOLD.format(len(held) - 1)

    out = _CODE.sub(hold, _safe(text.replace("\x00", "")))
    out = _BOLD_EMPHASIS.sub(lambda m: f"<strong><em>{m.group(1)}</em></strong>", out)
    out = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", out)
    out = _EMPHASIS.sub(lambda m: f"<em>{m.group(1)}</em>", out)

    def link(match: re.Match[str]) -> str:
        label, href = match.group(1), match.group(2)
        if "&#58;//" in href or href.startswith(("//", "javascript")):
            return label  # never a network reference
        return f'<a href="{href}">{label}</a>'

    out = _LINK.sub(link, out)
    return _HELD.sub(lambda m: held[int(m.group(1))], out)


def _data_uri(path: Path) -> str | None:
    if not path.exists():
        return None
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def render_block(block: Block, base: Path | None = None) -> str:
    if isinstance(block, Heading):
        return f'<h{block.level} id="{block.anchor}">{inline(block.text)}</h{block.level}>'
    if isinstance(block, Paragraph):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, BulletList):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        uri = _data_uri(block.path)
        body = (
            f'<img src="{uri}" alt="{_safe(block.alt)}">'
            if uri
            else f"<p><em>chart missing: {_safe(block.path.name)}</em></p>"
        )
        caption = inline(block.caption) if block.caption else ""
        if block.svg is not None and base is not None and block.svg.exists():
            href = Path(os.path.relpath(block.svg, base)).as_posix()
            caption += f' <a href="{html.escape(href)}">SVG for slides</a>'
        caption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure>{body}{caption}</figure>"
    if isinstance(block, Banner):
        items = "".join(f"<li>{inline(i)}</li>" for i in block.items)
        return (
            f'<div class="banner {block.level}" role="alert"><strong>{inline(block.title)}'
            f"</strong>{f'<ul>{items}</ul>' if items else ''}</div>"
        )
    if isinstance(block, Details):
        inner = "\n".join(render_block(b, base) for b in block.blocks)
        return f"<details><summary>{inline(block.summary)}</summary>\n{inner}\n</details>"
    if isinstance(block, Code):
        return f"<pre><code>{_safe(block.text.rstrip())}</code></pre>"
    raise TypeError(f"unknown block {block!r}")


#: a number cell longer than this may wrap, between its parts, so that a table of long cells
#: (``≥ 5 s (timeout); 45.0% [41.0–49.0%] failed (in outage; …)``) fits the page
NOWRAP_CHARS = 24
#: where a long number cell may break: after ``; `` or ``, ``, and before `` (`` or the
#: interval's `` [``
_CELL_BREAK = re.compile(r"(?<=[;,]) | (?=[(\[])")


def _keep_figures_whole(text: str) -> str:
    """The cell with every other space made non-breaking, so a line ends only between its
    parts, never inside a figure such as ``7.0 ms [6.1–8.2 ms]``."""
    return " ".join(part.replace(" ", "\u00a0") for part in _CELL_BREAK.split(text))


def _table(block: Table) -> str:
    align = block.align or ["l"] * len(block.header)
    head = "".join(
        f'<th class="{a}">{inline(h)}</th>' for h, a in zip(block.header, align, strict=False)
    )
    rows = []
    for row in block.rows:
        cells = []
        for i, (cell, a) in enumerate(zip(row, align, strict=False)):
            classes = [a]
            if i == block.status_column and cell.strip("* ").lower() in _STATUS:
                classes.append("status-" + cell.strip("* ").lower().replace(" ", "-"))
            if a == "r":  # breaks only between a figure's parts (a printed page may need it)
                if len(cell) > NOWRAP_CHARS:
                    classes.append("wrap")
                cell = _keep_figures_whole(cell)
            cells.append(f'<td class="{" ".join(classes)}">{inline(cell)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="table">{table}</div>'  # a wide table scrolls itself, not the page


def render_html(blocks: list[Block], title: str, report_path: Path | None = None) -> str:
    """The document as one HTML page; links to files (SVGs, CSVs) are relative to
    ``report_path``'s folder, and nothing needs them to read the page."""
    base = report_path.parent if report_path is not None else None
    body = "\n".join(render_block(b, base) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_safe(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
