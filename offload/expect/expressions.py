"""The gate's expression language: relations between figures of one run, parsed, never eval'd.

Expectations are written by scenario authors and run in CI, so the language is deliberately
small: numbers, summary.json paths, ``+ - * /``, unary minus, parentheses, one comparison per
clause (``< <= > >= == !=``), ``and`` / ``or`` / ``not`` and three functions (``min``, ``max``,
``abs``). :mod:`offload.expect.tokens` splits the text, the recursive-descent parser below builds
a tree of :mod:`offload.expect.nodes`, and evaluating it walks the tree with a ``lookup`` for
paths. Nothing is ever handed to Python's ``eval``, and the language has no strings,
attributes, subscripts or calls other than the three functions, so an expectation cannot
execute code.

Grammar (lowest precedence first)::

    condition  := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | atom
    atom       := NUMBER | PATH | FUNCTION "(" sum ("," sum)* ")" | "(" condition ")"

A bare figure is a valid *metric* (:func:`parse_metric`, for baseline policies) but not a valid
*expectation* (:func:`parse_expectation`): an expectation must compare.

A path is dotted names (``async.signup.p95``, ``designs.sync.emails.lost``), with an optional
phase selector after the endpoint (``sync.bystander[slow-downstream].error_rate``). Names may
contain dashes, because phase and design names do: write spaces around a minus sign. Which
summary.json figure a path names is :mod:`offload.expect.paths`' job.
"""

from __future__ import annotations

from collections.abc import Callable

from offload.expect.nodes import (
    FUNCTIONS,
    Arithmetic,
    Call,
    Compare,
    EvaluationError,
    Expression,
    Logical,
    Negate,
    Node,
    Not,
    Number,
    Path,
    format_number,
)
from offload.expect.tokens import COMPARISONS, ExpressionError, Token, tokenize

#: the two endpoints after which a phase selector ``[phase]`` may stand (summary schema 1)
ENDPOINTS = ("signup", "bystander")
KEYWORDS = ("and", "or", "not")

__all__ = [
    "ENDPOINTS",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "Path",
    "format_number",
    "parse_expectation",
    "parse_metric",
    "tokenize",
]


def parse_expectation(text: str) -> Expression:
    """Parse one ``expect:`` entry; it must be a condition (a comparison, or several joined).

    Independent of any run, so the scenario loader can reject a malformed expectation when the
    scenario is read. A bare figure (``async.emails.lost``) is refused: say what it must be.
    """
    expression = _Parser(text).parse()
    if not expression.is_condition:
        raise ExpressionError(
            "an expectation must compare figures, e.g. 'async.emails.lost == 0' or "
            "'async.signup.p95 < sync.signup.p95'",
            text,
            len(text.rstrip()),
        )
    return expression


def parse_metric(text: str) -> Expression:
    """Parse a baseline metric: a figure or arithmetic over figures (no comparison)."""
    expression = _Parser(text).parse()
    if expression.is_condition:
        raise ExpressionError(
            "a metric is a figure or arithmetic over figures, not a comparison",
            text,
            0,
        )
    return expression


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        if not text.strip():
            raise ExpressionError("empty expression", text, 0)
        self.tokens = tokenize(text)
        self.index = 0

    # helpers
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.current
        return token.kind == "path" and token.segments == (word,) and token.phase is None

    def error(self, reason: str, token: Token | None = None) -> ExpressionError:
        return ExpressionError(reason, self.text, (token or self.current).start)

    def expect_number(self, node: Node, what: str) -> Node:
        if node.type != "number":
            raise ExpressionError(
                f"{what} needs a number here, not a condition", self.text, node.start
            )
        return node

    def expect_condition(self, node: Node, what: str) -> Node:
        if node.type != "condition":
            raise ExpressionError(
                f"{what} needs a condition (a comparison) here, not a number",
                self.text,
                node.start,
            )
        return node

    # grammar
    def parse(self) -> Expression:
        root = self.condition()
        if self.current.kind != "end":
            token = self.current
            if token.kind == "op" and token.text in COMPARISONS:
                raise self.error("one comparison per clause: join comparisons with 'and'")
            if token.kind == "rparen":
                raise self.error("unbalanced ')': no '(' to close")
            raise self.error(f"expected an operator or the end, found {_describe(token)}")
        return Expression(self.text, root)

    def condition(self) -> Node:
        return self._logical("or", self.and_expr)

    def and_expr(self) -> Node:
        return self._logical("and", self.not_expr)

    def _logical(self, word: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        operands = [first]
        while self.is_word(word):
            self.expect_condition(operands[-1], f"'{word}'")
            token = self.advance()
            if self.current.kind == "end":
                raise self.error(f"'{word}' needs a condition after it")
            operands.append(self.expect_condition(operand(), f"'{word}'"))
            del token
        if len(operands) == 1:
            return first
        return Logical(first.start, operands[-1].end, word, tuple(operands))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            token = self.advance()
            if self.current.kind == "end":
                raise self.error("'not' needs a condition after it")
            operand = self.expect_condition(self.not_expr(), "'not'")
            return Not(token.start, operand.end, operand)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        token = self.current
        if token.kind == "op" and token.text in COMPARISONS:
            self.expect_number(left, f"'{token.text}'")
            self.advance()
            if self.current.kind == "end":
                raise self.error(f"'{token.text}' needs a figure after it")
            right = self.expect_number(self.sum(), f"'{token.text}'")
            return Compare(left.start, right.end, token.text, left, right)
        return left

    def sum(self) -> Node:
        node = self.product()
        while self.current.kind == "op" and self.current.text in "+-":
            op = self.advance()
            self.expect_number(node, f"'{op.text}'")
            right = self.expect_number(self.product(), f"'{op.text}'")
            node = Arithmetic(node.start, right.end, op.text, node, right)
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.current.kind == "op" and self.current.text in "*/":
            op = self.advance()
            self.expect_number(node, f"'{op.text}'")
            right = self.expect_number(self.unary(), f"'{op.text}'")
            right_text = self.text[right.start : right.end].strip()
            node = Arithmetic(node.start, right.end, op.text, node, right, right_text)
        return node

    def unary(self) -> Node:
        token = self.current
        if token.kind == "op" and token.text in "+-":
            self.advance()
            operand = self.expect_number(self.unary(), f"unary '{token.text}'")
            if token.text == "+":
                return operand
            return Negate(token.start, operand.end, operand)
        return self.atom()

    def atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return Number(token.start, token.end, token.value)
        if token.kind == "lparen":
            self.advance()
            inner = self.condition()
            if self.current.kind != "rparen":
                if self.current.kind == "end":
                    raise ExpressionError("unbalanced '(': missing ')'", self.text, token.start)
                raise self.error(f"expected ')', found {_describe(self.current)}")
            close = self.advance()
            return _with_span(inner, token.start, close.end)
        if token.kind == "path":
            return self.path_or_call()
        if token.kind == "end":
            previous = self.tokens[self.index - 1] if self.index else token
            if previous.kind == "op":
                raise self.error(f"'{previous.text}' needs a figure after it", previous)
            raise self.error("the expression ends too early")
        raise self.error(f"expected a number, a path or '(', found {_describe(token)}")

    def path_or_call(self) -> Node:
        token = self.advance()
        single = len(token.segments) == 1 and token.phase is None
        name = token.segments[0]
        if self.current.kind == "lparen":
            if not single or name not in FUNCTIONS:
                known = ", ".join(FUNCTIONS)
                raise self.error(f"unknown function {token.text!r} (known: {known})", token)
            return self.call(token)
        if single and name in KEYWORDS:
            raise self.error(f"'{name}' cannot stand here", token)
        if single and name in FUNCTIONS:
            raise self.error(f"'{name}' is a function: write {name}(a, b)", token)
        if single:
            raise self.error(
                f"{token.text!r} is not a path: write design.endpoint.figure "
                "(e.g. async.signup.p95) or a full summary.json path (designs.async....)",
                token,
            )
        _check_selector(token, self.text)
        return Path(
            token.start, token.end, token.text, token.segments, token.phase, token.phase_index
        )

    def call(self, name: Token) -> Node:
        self.advance()  # "("
        args: list[Node] = []
        if self.current.kind == "rparen":
            raise self.error(f"{name.text}() needs at least one argument")
        while True:
            if self.current.kind == "end":
                raise ExpressionError("unbalanced '(': missing ')'", self.text, name.end)
            args.append(self.expect_number(self.condition(), f"{name.text}()"))
            if self.current.kind == "comma":
                self.advance()
                continue
            if self.current.kind == "rparen":
                close = self.advance()
                break
            if self.current.kind == "end":
                raise ExpressionError("unbalanced '(': missing ')'", self.text, name.end)
            raise self.error(f"expected ',' or ')', found {_describe(self.current)}")
        _, fewest, most = FUNCTIONS[name.text]
        if len(args) < fewest or (most is not None and len(args) > most):
            count = f"exactly {fewest}" if fewest == most else f"at least {fewest}"
            raise ExpressionError(
                f"{name.text}() takes {count} argument(s), got {len(args)}", self.text, name.start
            )
        return Call(name.start, close.end, name.text, tuple(args))


def _check_selector(token: Token, text: str) -> None:
    if token.phase is None:
        return
    at = text.find("[", token.start)
    if token.segments[0] == "designs":
        raise ExpressionError(
            "a full path names its phase as .phases.<name>; [phase] is for shorthands",
            text,
            at,
        )
    if token.phase_index != 1 or token.segments[1] not in ENDPOINTS:
        raise ExpressionError(
            "a phase selector goes right after the endpoint, e.g. sync.signup[slow].p95",
            text,
            at,
        )


def _with_span(node: Node, start: int, end: int) -> Node:
    """The same node, spanning its parentheses (for quoting it in messages)."""
    fields = {k: v for k, v in node.__dict__.items() if k not in ("start", "end")}
    return type(node)(start, end, **fields)


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end"
    return repr(token.text)
