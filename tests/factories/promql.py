"""The metric names a PromQL expression reads, for checking a dashboard against real scrapes.

A small tokenizer rather than a PromQL parser: it only has to tell a metric name from the
other identifiers an expression holds — function names (followed by ``(``, or by ``by`` or
``without`` for an aggregation), label names (inside ``{...}`` matchers and the lists after
``by``, ``without``, ``on``, ``ignoring``, ``group_left``, ``group_right``), keywords and
binary operators (``and``, ``offset``, ``bool`` ...), durations and subqueries inside
``[...]``, string literals, numbers and Grafana's ``$variables``. What is left is a metric
name. Unbalanced brackets are an error, never a silently shorter list.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<comment>\#[^\n]*)
    | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])
    | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:ms|[smhdwy])*)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<open>[({\[])
    | (?P<close>[)}\]])
    | (?P<other>.)
    """,
    re.VERBOSE,
)
_CLOSING = {"(": ")", "{": "}", "[": "]"}
#: identifiers that are PromQL words, never metrics (``inf``/``nan`` are numbers)
KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
)
#: keywords whose parenthesised list names labels, not series
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

#: what may stand between an aggregation operator and its ``(``
_AGGREGATION_CLAUSES = frozenset({"by", "without"})


class PromQLError(ValueError):
    """An expression the tokenizer cannot read (unbalanced brackets)."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    return [
        (match.lastgroup or "other", match.group())
        for match in _TOKEN.finditer(expr)
        if match.lastgroup not in ("space", "comment")
    ]


def metric_names(expr: str) -> set[str]:
    """Every metric name ``expr`` selects, as a scrape shows it (``..._bucket``, ``..._total``)."""
    tokens = _tokens(expr)
    names: set[str] = set()
    #: open brackets: (character, whether identifiers directly inside are label names)
    stack: list[tuple[str, bool]] = []
    for i, (kind, text) in enumerate(tokens):
        in_labels = bool(stack) and stack[-1][1]
        if kind == "open":
            previous = tokens[i - 1][1].lower() if i else ""
            labels = text in "{[" or (text == "(" and previous in _LABEL_LISTS) or in_labels
            stack.append((text, labels))
        elif kind == "close":
            if not stack or _CLOSING[stack[-1][0]] != text:
                raise PromQLError(f"unbalanced {text!r} at token {i} of {expr!r}")
            stack.pop()
        elif kind == "ident" and not in_labels:
            following = tokens[i + 1][1].lower() if i + 1 < len(tokens) else ""
            # a function call, or an aggregation written ``sum by (labels) (...)``
            called = following == "(" or following in _AGGREGATION_CLAUSES
            if not called and text.lower() not in KEYWORDS:
                names.add(text)
    if stack:
        raise PromQLError(f"unclosed {stack[-1][0]!r} in {expr!r}")
    return names
