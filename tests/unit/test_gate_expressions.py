"""The expectation language: what it accepts, what it means, and what it refuses (safely)."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import offload.expect.expressions as expressions_module
import offload.expect.nodes as nodes_module
import offload.expect.tokens as tokens_module
from offload.errors import GateFailed
from offload.expect.paths import full_path, lookup
from offload.gate import (
    EvaluationError,
    ExpressionError,
    MissingValue,
    UnknownPath,
    evaluate_expectation,
    parse_expectation,
    parse_metric,
)
from offload.gate.checks import Verdict, check_expectations
from offload.gate.rundir import load_run_dir
from tests.factories.rundirs import make_manifest, make_summary, set_figure, write_run


@pytest.fixture
def summary():
    return make_summary()


def holds(text: str, summary) -> bool:
    return evaluate_expectation(text, summary)


# -- valid expressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "2 - 3 - 4 == -5",
        "8 / 4 / 2 == 1",
        "-2 * -3 == 6",
        "- (2 + 3) == -5",
        "+4 == 4",
        "10 / 4 == 2.5",
        "1e3 == 1000",
        "2.5E-1 == 0.25",
        ".5 == 0.5",
        "3. == 3",
        "1 < 2",
        "2 <= 2",
        "3 > 2",
        "2 >= 2",
        "2 != 3",
        "min(3, 1, 2) == 1",
        "max(3, 1, 2) == 3",
        "abs(-4) == 4",
        "abs(1 - 3) == 2",
        "not 1 > 2",
        "not not 1 < 2",
        "1 < 2 and 2 < 3",
        "1 > 2 or 2 < 3",
        "not 1 > 2 and 2 > 1",
        "1 < 2 or 1 > 2 and 3 > 4",  # and binds tighter than or
        "(1 > 2 or 2 > 1) and 3 > 2",
    ],
)
def test_arithmetic_comparisons_and_logic_evaluate_as_written(text, summary):
    assert holds(text, summary) is True


@pytest.mark.parametrize(
    "text",
    [
        "1 > 2",
        "2 < 2",
        "1 == 2",
        "1 != 1",
        "(1 < 2 or 1 > 2) and 3 > 4",
        "not (1 < 2)",
        "1 > 2 and 1 / 1 == 1",
    ],
)
def test_false_expressions_are_false(text, summary):
    assert holds(text, summary) is False


@pytest.mark.parametrize(
    ("shorthand", "full"),
    [
        ("async.signup.p95", "designs.async.signup.overall.latency_ms.p95"),
        ("sync.signup.p99_9", "designs.sync.signup.overall.latency_ms.p99_9"),
        ("sync.signup.max", "designs.sync.signup.overall.latency_ms.max"),
        ("async.signup.service.p50", "designs.async.signup.overall.service_ms.p50"),
        ("sync.bystander.error_rate", "designs.sync.bystander.overall.error_rate"),
        ("sync.signup.goodput", "designs.sync.signup.overall.goodput"),
        ("sync.signup.latency_ms.p90", "designs.sync.signup.overall.latency_ms.p90"),
        (
            "sync.bystander[slow-downstream].error_rate",
            "designs.sync.bystander.phases.slow-downstream.error_rate",
        ),
        (
            "sync.signup[slow-downstream].p95",
            "designs.sync.signup.phases.slow-downstream.latency_ms.p95",
        ),
        (
            "sync.signup[recovery].service.p99",
            "designs.sync.signup.phases.recovery.service_ms.p99",
        ),
        ("async.e2e.p95", "designs.async.e2e_ms.p95"),
        ("async.emails.lost", "designs.async.emails.lost"),
        ("async.queue.drain_seconds", "designs.async.queue.drain_seconds"),
        ("async.retries", "designs.async.retries"),
        ("async.dead_lettered", "designs.async.dead_lettered"),
        ("async.generator.lateness_ms.p99", "designs.async.generator.lateness_ms.p99"),
        ("async.resources.worker.cpu_s", "designs.async.resources.worker.cpu_s"),
        (
            "designs.async.signup.phases.slow-downstream.count",
            "designs.async.signup.phases.slow-downstream.count",
        ),
    ],
)
def test_shorthands_name_the_same_figure_as_the_full_path(shorthand, full, summary):
    path = parse_metric(shorthand).paths[0]
    assert ".".join(full_path(path)) == full
    expected = summary
    for key in full.split("."):
        expected = expected[key]
    assert lookup(summary, path) == float(expected)


def test_the_design_documents_examples_hold_on_a_slow_downstream_run(summary):
    assert holds("async.signup.p95 < 0.1 * sync.signup.p95", summary)
    assert holds("async.emails.lost == 0", summary)
    assert holds("sync.bystander[slow-downstream].error_rate > 0.02", summary)
    assert holds("designs.async.signup.overall.latency_ms.p95 < 100", summary)


def test_functions_take_figures(summary):
    assert holds("max(sync.signup.p50, async.signup.p50) == sync.signup.p50", summary)
    assert holds("min(sync.signup.p50, async.signup.p50) == async.signup.p50", summary)
    assert holds("abs(async.signup.p50 - sync.signup.p50) == 36", summary)


def test_phase_names_with_dashes_and_dashed_design_names_are_names(summary):
    summary["designs"]["my-api"] = summary["designs"]["async"]
    assert holds("my-api.signup[slow-downstream].p50 == async.signup[slow-downstream].p50", summary)


def test_a_path_to_text_is_not_a_figure(summary):
    with pytest.raises(
        UnknownPath, match=r"path 'async.kind' names the text 'async', not a number"
    ):
        evaluate_expectation("async.kind == 1", summary)


def test_flags_read_as_one_or_zero(summary):
    assert holds("async.queue.drained == 1", summary)
    assert holds("async.generator.saturated == 0", summary)


def test_parsing_needs_no_summary_and_lists_the_paths():
    expression = parse_expectation("async.signup.p95 < 0.1 * sync.signup[slow].p95")
    assert [p.text for p in expression.paths] == ["async.signup.p95", "sync.signup[slow].p95"]
    assert expression.paths[1].phase == "slow"


def test_explain_fills_in_the_figures(summary):
    expression = parse_expectation(
        "async.signup.p95 < 0.1 * sync.signup.p95 and async.emails.lost == 0"
    )
    text = expression.explain(lambda path: lookup(summary, path))
    assert text == "21 < 361.1 and 0 == 0"


# -- invalid expressions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("(async.signup.p95 < 1", "unbalanced '(': missing ')'", 0),
        ("async.signup.p95 < 1)", "unbalanced ')'", 20),
        ("max(async.signup.p95, 1", "unbalanced '(': missing ')'", 3),
        ("async.signup.p95 <", "'<' needs a figure after it", 18),
        ("async.signup.p95 < 1 +", "'+' needs a figure after it", 21),
        ("async.signup.p95 < 1 and", "'and' needs a condition after it", 24),
        ("not", "'not' needs a condition after it", 3),
        ("< 1", "expected a number, a path or '('", 0),
        ("async.signup.p95 < * 2", "expected a number, a path or '('", 19),
        ("foo(1) > 0", "unknown function 'foo' (known: min, max, abs)", 0),
        ("open('x') == 1", "strings are not part of the language", 5),
        ("abs(1, 2) > 0", "abs() takes exactly 1 argument(s), got 2", 0),
        ("min() > 0", "min() needs at least one argument", 4),
        ("async.emails.lost", "an expectation must compare figures", 17),
        ("1 + 2", "an expectation must compare figures", 5),
        ("1 < 2 < 3", "one comparison per clause", 6),
        ("async.signup.p95 = 1", "write '==' for equality", 17),
        ("async.signup.p95 < 10ms", "no units", 21),
        ("(1 < 2) + 1 > 0", "'+' needs a number here, not a condition", 0),
        ("1 and 2 > 1", "'and' needs a condition (a comparison) here, not a number", 0),
        ("not 2", "'not' needs a condition (a comparison) here, not a number", 4),
        ("max(1 < 2, 3) > 0", "max() needs a number here, not a condition", 4),
        ("async.emails[slow].lost == 0", "a phase selector goes right after the endpoint", 12),
        ("designs.sync.signup[slow].p95 > 0", "[phase] is for shorthands", 19),
        ("sync.signup[].p95 > 0", "a phase selector holds one phase name", 12),
        ("sync.signup[slow.p95 > 0", "unclosed phase selector", 11),
        ("async. signup > 0", "expected a name after '.'", 6),
        ("p95 < 1", "'p95' is not a path", 0),
        ("", "empty expression", 0),
        ("   ", "empty expression", 0),
        ("async.signup.p95 < 1 # comment", "unexpected character '#'", 21),
        ("async.signup.p95 < 1 && 1 > 0", "write 'and'", 21),
        ("async.signup.p95 < 1 || 1 > 0", "write 'or'", 21),
        ("!(1 < 2)", "write 'not' or '!='", 0),
        ("async.signup.p95 < 1 async.signup.p50 > 1", "expected an operator or the end", 21),
    ],
)
def test_invalid_expressions_say_what_and_where(text, reason, column):
    with pytest.raises(ExpressionError) as caught:
        parse_expectation(text)
    error = caught.value
    assert reason in error.reason
    assert error.position == column
    message = str(error)
    lines = message.splitlines()
    assert lines[1] == f"    {text}"
    assert lines[2] == "    " + " " * column + "^"


def test_an_expression_error_is_unusable_gate_input_and_a_value_error():
    with pytest.raises(ExpressionError) as caught:
        parse_expectation("1 <")
    assert isinstance(caught.value, GateFailed)
    assert isinstance(caught.value, ValueError)  # pydantic validators turn it into a field error
    assert caught.value.exit_code == 2


def test_a_metric_is_arithmetic_not_a_comparison():
    assert parse_metric("async.signup.p95 / sync.signup.p95").paths
    with pytest.raises(ExpressionError, match="not a comparison"):
        parse_metric("async.signup.p95 < 1")


# -- no code execution ---------------------------------------------------------------------

INJECTIONS = [
    "__import__('os').system('touch {marker}') == 0",
    "__import__ == 1",
    "async.__class__ == 1",
    "async.signup.__class__.__mro__ == 1",
    "async._private == 1",
    "lambda: 1",
    "(lambda x: x)(1) == 1",
    "eval('1') == 1",
    "exec('x=1') == 1",
    "getattr(async, 'signup') == 1",
    "open('{marker}', 'w') == 1",
    "[x for x in ()] == 1",
    "{{}} == 1",
    "async.signup.p95.real == 1",
    "1 if 1 else 2 == 1",
    "async.signup.p95 < 1; import os",
    "f'{{1}}' == 1",
    "`1` == 1",
    "async.signup.p95 @ 2 == 1",
    "2 ** 10 == 1024",
    "async.signup['p95'] == 1",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_python_is_never_executed(template, tmp_path: Path, monkeypatch, summary):
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    calls: list[str] = []
    real_import = builtins.__import__

    def watched_import(name, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", watched_import)
    with pytest.raises(GateFailed):
        evaluate_expectation(text, summary)
    monkeypatch.undo()
    assert not marker.exists()
    assert "os" not in calls and "subprocess" not in calls


@pytest.mark.parametrize("module", [expressions_module, nodes_module, tokens_module])
def test_the_language_is_interpreted_without_eval_exec_or_compile(module):
    tree = ast.parse(inspect.getsource(module))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "getattr", "__import__"}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "ast" not in imported


# -- paths that name nothing, figures without a value --------------------------------------


def test_an_unknown_path_names_itself_and_the_nearest_valid_paths(summary):
    with pytest.raises(UnknownPath) as caught:
        evaluate_expectation("async.signup.p96 < 100", summary)
    message = str(caught.value)
    assert (
        "unknown path 'async.signup.p96' (designs.async.signup.overall.latency_ms.p96)" in message
    )
    assert "nearest valid paths: " in message
    assert "async.signup.p95" in caught.value.suggestions
    assert caught.value.exit_code == 2


def test_a_misspelt_field_suggests_the_right_one(summary):
    with pytest.raises(UnknownPath) as caught:
        evaluate_expectation("async.emails.lsot == 0", summary)
    assert caught.value.suggestions[0] == "async.emails.lost"


def test_a_misspelt_full_path_suggests_full_paths(summary):
    with pytest.raises(UnknownPath) as caught:
        evaluate_expectation("designs.async.emails.lsot == 0", summary)
    assert "designs.async.emails.lost" in caught.value.suggestions


def test_an_unknown_phase_suggests_the_runs_phases(summary):
    with pytest.raises(UnknownPath) as caught:
        evaluate_expectation("sync.bystander[slow-downstrem].error_rate > 0.2", summary)
    assert "sync.bystander[slow-downstream].error_rate" in caught.value.suggestions


def test_an_unknown_design_lists_the_runs_designs(summary):
    with pytest.raises(
        UnknownPath, match=r"no design 'asnyc' \(designs: sync, async\); did you mean async"
    ):
        evaluate_expectation("asnyc.signup.p95 < 1", summary)


def test_a_path_to_a_group_lists_its_figures(summary):
    with pytest.raises(UnknownPath, match=r"names a group of figures.*async.signup.count"):
        evaluate_expectation("async.signup < 1", summary)


def test_a_dash_without_spaces_hints_at_subtraction(summary):
    with pytest.raises(UnknownPath, match=r"put spaces around '-'"):
        evaluate_expectation("sync.signup.p95-async.signup.p95 > 0", summary)
    assert evaluate_expectation("sync.signup.p95 - async.signup.p95 > 0", summary)


def test_a_null_figure_is_a_missing_value_not_a_pass(summary):
    set_figure(summary, "designs.async.queue.drain_seconds", None)
    with pytest.raises(MissingValue, match=r"no value for async.queue.drain_seconds"):
        evaluate_expectation("async.queue.drain_seconds < 30", summary)
    # every operand is evaluated: 'or' does not hide the missing figure
    with pytest.raises(MissingValue):
        evaluate_expectation("1 < 2 or async.queue.drain_seconds < 30", summary)
    with pytest.raises(MissingValue):
        evaluate_expectation("not async.queue.drain_seconds > 30", summary)


def test_division_by_zero_is_an_evaluation_error_naming_the_divisor(summary):
    set_figure(summary, "designs.async.emails.lost", 0)
    with pytest.raises(EvaluationError, match=r"division by zero: async.emails.lost is 0"):
        evaluate_expectation("1 / async.emails.lost > 0", summary)


# -- as checks of a run --------------------------------------------------------------------


def _checks(
    tmp_path: Path, expect: list[str], variant=None, repeats: int = 1, unit: str = "repeat"
):
    run_dir = write_run(
        tmp_path, manifest=make_manifest(expect=expect), variant=variant, repeats=repeats
    )
    return check_expectations(load_run_dir(run_dir).scenarios["slow-downstream"], unit=unit)


def test_a_null_figure_fails_its_check_with_a_clear_message(tmp_path: Path):
    def no_e2e(summary, k):
        set_figure(summary, "designs.async.e2e_ms.p95", None)

    [check] = _checks(tmp_path, ["async.e2e.p95 < 20000"], variant=no_e2e)
    assert check.verdict is Verdict.FAIL
    assert "no value for async.e2e.p95 (designs.async.e2e_ms.p95)" in check.message


def test_an_unknown_path_in_a_run_is_an_error_check_not_a_crash(tmp_path: Path):
    checks = _checks(tmp_path, ["async.signup.p96 < 100", "async.emails.lost == 0"])
    assert [c.verdict for c in checks] == [Verdict.ERROR, Verdict.PASS]
    assert "nearest valid paths" in checks[0].message


def test_a_malformed_expectation_in_a_manifest_is_an_error_check(tmp_path: Path):
    [check] = _checks(tmp_path, ["async.signup.p95 <"])
    assert check.verdict is Verdict.ERROR
    assert "needs a figure after it" in check.message


def test_an_expectation_must_hold_in_every_repeat(tmp_path: Path):
    def one_lost_email(summary, k):
        if k == 2:
            set_figure(summary, "designs.async.emails.lost", 1)

    [check] = _checks(tmp_path, ["async.emails.lost == 0"], variant=one_lost_email, repeats=3)
    assert check.verdict is Verdict.FAIL
    assert check.message == "expectation does not hold in r2 of 3 repeats: 1 == 0"
    assert check.details.splitlines()[1] == "r2: 1 == 0 → does not hold"


def test_the_ab_gate_names_the_pair_an_expectation_failed_in(tmp_path: Path):
    """The A/B gate checks the candidate's side of each pair: the reader looks for a pair."""

    def one_lost_email(summary, k):
        if k == 2:
            set_figure(summary, "designs.async.emails.lost", 1)

    [check] = _checks(
        tmp_path, ["async.emails.lost == 0"], variant=one_lost_email, repeats=3, unit="pair"
    )
    assert check.message == "expectation does not hold in p2 of 3 pairs: 1 == 0"


def test_a_passing_expectation_shows_its_figures(tmp_path: Path):
    [check] = _checks(tmp_path, ["async.signup.p95 < 0.1 * sync.signup.p95"], repeats=2)
    assert check.verdict is Verdict.PASS
    assert check.value == "21 < 361.1 (all 2 repeats)"
