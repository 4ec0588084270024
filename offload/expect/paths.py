"""Which summary.json figure a path names, and what to say when it names none.

Two spellings reach the same figure: the full dotted path of the public contract
(``designs.async.signup.overall.latency_ms.p95``, see reports/README.md) and a shorthand that
reads like the scenario's question (``async.signup.p95``). The shorthand rules:

==========================================  ==================================================
``<design>.<endpoint>.<pXX|max>``           ``designs.<design>.<endpoint>.overall.latency_ms.<pXX>``
``<design>.<endpoint>.service.<pXX|max>``   ``... .overall.service_ms.<pXX>``
``<design>.<endpoint>.<field>``             ``... .overall.<field>`` (count, ok, error_rate, ...)
``<design>.<endpoint>[<phase>]. ...``       ``... .phases.<phase>. ...`` instead of ``overall``
``<design>.e2e.<pXX|max>``                  ``designs.<design>.e2e_ms.<pXX>``
``<design>.<anything else>``                ``designs.<design>.<anything else>``
==========================================  ==================================================

A path that names nothing is a mistake in the gate's input (exit 2) and the message offers the
nearest valid paths of that summary; a path that names a figure without a value (``null``) is a
failed check, because an expectation about a missing figure must not silently pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from offload.errors import GateFailed
from offload.expect.expressions import ENDPOINTS, Expression, Path

LATENCY_STATS = ("p50", "p90", "p95", "p99", "p99_9", "max")
WINDOWS = ("overall", "phases")


class UnknownPath(GateFailed):
    """A path that names no figure of the summary; the message lists the nearest valid ones."""

    def __init__(self, message: str, *, path: str, suggestions: list[str]) -> None:
        self.path = path
        self.suggestions = suggestions
        super().__init__(message)


class MissingValue(GateFailed):
    """A path that names a figure the summary has no value for (``null``)."""

    def __init__(self, path: str, full: str) -> None:
        self.path = path
        self.full = full
        shown = path if path == full else f"{path} ({full})"
        super().__init__(f"no value for {shown} in this run")


def full_path(path: Path) -> tuple[str, ...]:
    """The summary.json keys a path (full or shorthand) stands for."""
    segments = path.segments
    if segments[0] == "designs":
        return segments
    design, rest = segments[0], segments[1:]
    if not rest:
        return ("designs", design)
    head, tail = rest[0], rest[1:]
    if head in ENDPOINTS:
        if path.phase is None and tail and tail[0] in WINDOWS:
            return ("designs", design, head, *tail)
        window = ("phases", path.phase) if path.phase is not None else ("overall",)
        if len(tail) == 1 and _is_stat(tail[0]):
            tail = ("latency_ms", tail[0])
        elif len(tail) == 2 and tail[0] == "service" and _is_stat(tail[1]):
            tail = ("service_ms", tail[1])
        return ("designs", design, head, *window, *tail)
    if head == "e2e" and len(tail) == 1 and _is_stat(tail[0]):
        return ("designs", design, "e2e_ms", tail[0])
    return ("designs", design, *rest)


def _is_stat(name: str) -> bool:
    """A latency statistic, or something spelt like one (p96), so that a typo is reported
    against the latency figures it was meant for."""
    return name in LATENCY_STATS or re.fullmatch(r"p\d+(_\d+)?", name) is not None


def shorthand(full: tuple[str, ...]) -> str:
    """The shortest spelling of a full path (the inverse of :func:`full_path`)."""
    if len(full) < 3 or full[0] != "designs":
        return ".".join(full)
    design, rest = full[1], full[2:]
    if rest[0] in ENDPOINTS and len(rest) >= 3 and rest[1] in WINDOWS:
        endpoint = rest[0]
        if rest[1] == "overall":
            prefix, tail = endpoint, rest[2:]
        elif len(rest) >= 4:
            prefix, tail = f"{endpoint}[{rest[2]}]", rest[3:]
        else:
            return ".".join(full)
        if len(tail) == 2 and tail[0] == "latency_ms" and tail[1] in LATENCY_STATS:
            tail = (tail[1],)
        elif len(tail) == 2 and tail[0] == "service_ms" and tail[1] in LATENCY_STATS:
            tail = ("service", tail[1])
        return ".".join((design, prefix, *tail))
    if len(rest) == 2 and rest[0] == "e2e_ms" and rest[1] in LATENCY_STATS:
        return f"{design}.e2e.{rest[1]}"
    return ".".join((design, *rest))


def shortened(expression: Expression) -> str:
    """The expression with every path in its shortest spelling, for tables."""
    text = expression.text
    for path in sorted(expression.paths, key=lambda p: p.start, reverse=True):
        text = text[: path.start] + shorthand(full_path(path)) + text[path.end :]
    return text


def figure_paths(summary: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """Every full path under ``designs`` that ends at a figure (a number, a flag or null)."""

    def walk(node: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if isinstance(node, Mapping):
            for key, child in node.items():
                yield from walk(child, (*prefix, str(key)))
        elif node is None or isinstance(node, int | float | bool):
            yield prefix

    yield from walk(summary.get("designs") or {}, ("designs",))


def lookup(summary: Mapping[str, Any], path: Path) -> float:
    """The figure ``path`` names in ``summary``, as a float (flags are 1 or 0)."""
    full = full_path(path)
    node: Any = summary
    for depth, key in enumerate(full):
        if node is None and depth > 2:
            # a group of figures without a value (the ledger of a run whose tables could not
            # be exported): every figure in it has none either
            raise MissingValue(path.text, ".".join(full))
        if not isinstance(node, Mapping) or key not in node:
            raise _unknown(summary, path, full, depth)
        node = node[key]
    if node is None:
        raise MissingValue(path.text, ".".join(full))
    if isinstance(node, bool):
        return 1.0 if node else 0.0
    if isinstance(node, int | float):
        return float(node)
    if isinstance(node, Mapping):
        children = [shorthand((*full, str(key))) for key in node][:8]
        raise UnknownPath(
            f"path {path.text!r} names a group of figures, not one figure; "
            f"add one of its fields: {', '.join(children)}",
            path=path.text,
            suggestions=children,
        )
    what = f"the text {node!r}" if isinstance(node, str) else f"a {type(node).__name__}"
    raise UnknownPath(
        f"path {path.text!r} names {what}, not a number",
        path=path.text,
        suggestions=[],
    )


def suggest(summary: Mapping[str, Any], written: str, full: tuple[str, ...]) -> list[str]:
    """The valid paths nearest to what was written (shorthand and full spellings)."""
    figures = list(figure_paths(summary))
    candidates = {shorthand(f): f for f in figures}
    candidates.update({".".join(f): f for f in figures})
    near = difflib.get_close_matches(written, list(candidates), n=5, cutoff=0.6)
    near += difflib.get_close_matches(".".join(full), list(candidates), n=5, cutoff=0.6)
    unique: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for text in near:
        figure = candidates[text]
        if figure not in seen:
            seen.add(figure)
            unique.append(shorthand(figure) if "designs." not in written else ".".join(figure))
    return unique[:5]


def _unknown(
    summary: Mapping[str, Any], path: Path, full: tuple[str, ...], depth: int
) -> UnknownPath:
    designs = list((summary.get("designs") or {}).keys())
    resolved = ".".join(full)
    spelled = path.text if resolved == path.text else f"{path.text!r} ({resolved})"
    if depth <= 1 and len(full) > 1:
        near = difflib.get_close_matches(full[1], designs, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        return UnknownPath(
            f"unknown path {spelled}: this run has no design {full[1]!r} "
            f"(designs: {', '.join(designs) or 'none'}){hint}",
            path=path.text,
            suggestions=near,
        )
    suggestions = suggest(summary, path.text, full)
    message = f"unknown path {spelled}"
    if suggestions:
        message += "; nearest valid paths: " + ", ".join(suggestions)
    else:
        message += f"; no figure near it (e.g. {', '.join(_examples(summary))})"
    if "-" in path.text and path.phase is None:
        message += " (if you meant subtraction, put spaces around '-')"
    return UnknownPath(message, path=path.text, suggestions=suggestions)


def _examples(summary: Mapping[str, Any]) -> list[str]:
    return [shorthand(f) for f in figure_paths(summary)][:3]
