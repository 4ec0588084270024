"""The expression tree: nodes that evaluate themselves over a lookup of figures.

Evaluation is a walk over these nodes — arithmetic, comparisons, ``and``/``or``/``not`` and
three functions — with every path resolved by the caller's ``lookup``; no Python is compiled
or evaluated from the expression's text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from offload.errors import GateFailed

FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    # name: (function, fewest arguments, most arguments)
    "min": (min, 1, None),
    "max": (max, 1, None),
    "abs": (abs, 1, 1),
}


class EvaluationError(GateFailed):
    """An expression that parsed but cannot be computed on this run (e.g. division by zero)."""


#: a path's value: the figure, or an exception from :mod:`offload.expect.paths`
Lookup = Callable[["Path"], float]


@dataclass(frozen=True)
class Node:
    start: int
    end: int

    #: "number" or "condition"
    type = "number"

    def evaluate(self, lookup: Lookup) -> float | bool:
        raise NotImplementedError

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True)
class Number(Node):
    value: float

    def evaluate(self, lookup: Lookup) -> float:
        return self.value


@dataclass(frozen=True)
class Path(Node):
    text: str
    segments: tuple[str, ...]
    phase: str | None = None
    phase_index: int = -1

    def evaluate(self, lookup: Lookup) -> float:
        return lookup(self)


@dataclass(frozen=True)
class Negate(Node):
    operand: Node

    def evaluate(self, lookup: Lookup) -> float:
        return -_number_value(self.operand.evaluate(lookup))

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Arithmetic(Node):
    op: str
    left: Node
    right: Node
    right_text: str = ""

    def evaluate(self, lookup: Lookup) -> float:
        left = _number_value(self.left.evaluate(lookup))
        right = _number_value(self.right.evaluate(lookup))
        if self.op == "+":
            return left + right
        if self.op == "-":
            return left - right
        if self.op == "*":
            return left * right
        if right == 0:
            raise EvaluationError(f"division by zero: {self.right_text} is 0")
        return left / right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]

    def evaluate(self, lookup: Lookup) -> float:
        function = FUNCTIONS[self.name][0]
        values = [_number_value(arg.evaluate(lookup)) for arg in self.args]
        return float(function(*values)) if self.name == "abs" else float(function(values))

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class Compare(Node):
    op: str
    left: Node
    right: Node
    type = "condition"

    def evaluate(self, lookup: Lookup) -> bool:
        left = _number_value(self.left.evaluate(lookup))
        right = _number_value(self.right.evaluate(lookup))
        return _COMPARE[self.op](left, right)

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Logical(Node):
    op: str  # "and" or "or"
    operands: tuple[Node, ...]
    type = "condition"

    def evaluate(self, lookup: Lookup) -> bool:
        # every operand is evaluated (no short-circuit): a missing figure anywhere must surface
        values = [bool(operand.evaluate(lookup)) for operand in self.operands]
        return all(values) if self.op == "and" else any(values)

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True)
class Not(Node):
    operand: Node
    type = "condition"

    def evaluate(self, lookup: Lookup) -> bool:
        return not self.operand.evaluate(lookup)

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _number_value(value: float | bool) -> float:
    if isinstance(value, bool):  # the parser's type check makes this unreachable
        raise EvaluationError("a condition was used as a number")
    return value


# -- expressions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text and its tree."""

    text: str
    root: Node

    @property
    def is_condition(self) -> bool:
        return self.root.type == "condition"

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(node for node in self.root.walk() if isinstance(node, Path))

    def evaluate(self, lookup: Lookup) -> float | bool:
        return self.root.evaluate(lookup)

    def explain(self, lookup: Lookup) -> str:
        """The comparisons with their figures filled in, e.g. ``12.3 < 0.1 × 154 (15.4)``."""
        return _explain(self.root, lookup)

    def source(self, node: Node) -> str:
        return self.text[node.start : node.end].strip()

    def __str__(self) -> str:
        return self.text


def _explain(node: Node, lookup: Lookup) -> str:
    if isinstance(node, Compare):
        left = format_number(_number_value(node.left.evaluate(lookup)))
        right = format_number(_number_value(node.right.evaluate(lookup)))
        return f"{left} {node.op} {right}"
    if isinstance(node, Logical):
        return f" {node.op} ".join(_explain(operand, lookup) for operand in node.operands)
    if isinstance(node, Not):
        return f"not ({_explain(node.operand, lookup)})"
    return format_number(_number_value(node.evaluate(lookup)))


def format_number(value: float) -> str:
    """Figures as people read them: ``4``, ``0.25``, ``153.2``, ``1.2e+04``."""
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
