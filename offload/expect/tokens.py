"""The expression language's tokens: numbers, paths (with phase selectors), operators.

The tokenizer is where anything the language does not know is refused — strings, ``#``,
``&&``, units after numbers, names starting with ``_`` — with a message that points at the
offending character. See :mod:`offload.expect.expressions` for the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from offload.errors import GateFailed

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")


class ExpressionError(GateFailed, ValueError):
    """An expression that is not valid; the message quotes it with a caret under the problem.

    Also a ``ValueError``, so a pydantic validator that calls :func:`parse_expectation` turns
    it into an ordinary validation error of the scenario's ``expect`` field.
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(f"{reason}\n    {text}\n    {' ' * position}^")


@dataclass(frozen=True)
class Token:
    kind: str  # number, path, op, lparen, rparen, comma, end
    text: str
    start: int
    end: int
    value: float = 0.0
    segments: tuple[str, ...] = ()
    phase: str | None = None
    phase_index: int = -1  # index of the segment the selector follows


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_FIRST = re.compile(r"[A-Za-z_]")
_SEGMENT_AFTER_DOT = re.compile(r"[A-Za-z0-9_]")
_SEGMENT_CHAR = re.compile(r"[A-Za-z0-9_]")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; anything the language does not know is an error here."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char.isdigit() or (char == "." and text[i + 1 : i + 2].isdigit()):
            tokens.append(_number(text, i))
            i = tokens[-1].end
        elif _FIRST.match(char):
            tokens.append(_path(text, i))
            i = tokens[-1].end
        elif text.startswith(COMPARISONS[:4], i):
            tokens.append(Token("op", text[i : i + 2], i, i + 2))
            i += 2
        elif char in "<>+-*/":
            tokens.append(Token("op", char, i, i + 1))
            i += 1
        elif char in "(),":
            kind = {"(": "lparen", ")": "rparen", ",": "comma"}[char]
            tokens.append(Token(kind, char, i, i + 1))
            i += 1
        elif char == "=":
            raise ExpressionError("'=' is not a comparison: write '==' for equality", text, i)
        elif char == "!":
            raise ExpressionError("'!' is not an operator: write 'not' or '!='", text, i)
        elif char in "'\"":
            raise ExpressionError("strings are not part of the language", text, i)
        elif char == "&" or char == "|":
            word = "and" if char == "&" else "or"
            raise ExpressionError(f"{char!r} is not an operator: write '{word}'", text, i)
        else:
            raise ExpressionError(f"unexpected character {char!r}", text, i)
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def _number(text: str, start: int) -> Token:
    match = _NUMBER.match(text, start)
    assert match is not None  # the caller saw a digit
    end = match.end()
    if end < len(text) and (_FIRST.match(text[end]) or text[end] == "."):
        raise ExpressionError(
            "a number must stand alone: no units (latencies are in ms, durations in s)",
            text,
            end,
        )
    return Token("number", match.group(), start, end, value=float(match.group()))


def _path(text: str, start: int) -> Token:
    """A dotted path; a ``[phase]`` selector may follow a segment."""
    segments: list[str] = []
    phase: str | None = None
    phase_index = -1
    i = start
    first = True
    while True:
        seg_start = i
        pattern = _FIRST if first else _SEGMENT_AFTER_DOT
        if i >= len(text) or not pattern.match(text[i]):
            raise ExpressionError("expected a name after '.'", text, i)
        i += 1
        while i < len(text) and (
            _SEGMENT_CHAR.match(text[i])
            or (text[i] == "-" and i + 1 < len(text) and _SEGMENT_CHAR.match(text[i + 1]))
        ):
            i += 1
        segment = text[seg_start:i]
        if segment.startswith("_"):
            raise ExpressionError("names cannot start with '_'", text, seg_start)
        segments.append(segment)
        first = False
        if i < len(text) and text[i] == "[":
            if phase is not None:
                raise ExpressionError("only one phase selector per path", text, i)
            close = text.find("]", i)
            if close == -1:
                raise ExpressionError("unclosed phase selector: expected ']'", text, i)
            phase = text[i + 1 : close].strip()
            if not phase or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", phase):
                raise ExpressionError(
                    "a phase selector holds one phase name, e.g. [slow-downstream]", text, i + 1
                )
            phase_index = len(segments) - 1
            i = close + 1
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        break
    return Token(
        "path",
        text[start:i],
        start,
        i,
        segments=tuple(segments),
        phase=phase,
        phase_index=phase_index,
    )
