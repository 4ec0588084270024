"""Render a report document as GitHub-flavoured Markdown; images are linked relative to the
report file, so the folder can be moved or committed as a whole."""

from __future__ import annotations

import os
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

_ALERTS = {"invalid": "CAUTION", "warning": "WARNING"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _caption(text: str) -> str:
    """A chart's caption in emphasis. HTML tags, not ``*…*``: an asterisk in the caption
    (``GET /users/*``, ``p99 *``) would end ``*…*`` early or leave a marker as text; inside
    ``<em>`` the caption is read like any other paragraph, as the HTML report reads it."""
    return "<em>" + text.replace("\n", " ") + "</em>"  # a blank line would end the <em>


def _link(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def render_block(block: Block, base: Path) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, BulletList):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        align = block.align or ["l"] * len(block.header)
        lines = [
            "| " + " | ".join(_cell(h) for h in block.header) + " |",
            "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
        ]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        text = f"![{block.alt}]({_link(block.path, base)})"
        if block.svg is not None:
            text += f"  \n[SVG for slides]({_link(block.svg, base)})"
        if block.caption:
            text += f"\n\n{_caption(block.caption)}"
        return text
    if isinstance(block, Banner):
        alert = _ALERTS.get(block.level, "WARNING")
        lines = [f"> [!{alert}]", f"> **{block.title}**"]
        lines += [f"> - {_cell(item)}" for item in block.items]
        return "\n".join(lines)
    if isinstance(block, Details):
        inner = "\n\n".join(render_block(b, base) for b in block.blocks)
        return f"<details>\n<summary>{block.summary}</summary>\n\n{inner}\n\n</details>"
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    raise TypeError(f"unknown block {block!r}")


def render_markdown(blocks: list[Block], report_path: Path) -> str:
    """The document as Markdown, image links relative to ``report_path``'s folder."""
    base = report_path.parent
    return "\n\n".join(render_block(b, base) for b in blocks) + "\n"
