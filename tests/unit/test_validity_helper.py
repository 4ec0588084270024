"""The tests' rule for a real run refused only for a busy machine: accepted with a warning
when every reason is a busy machine, refused for any other reason."""

from __future__ import annotations

import pytest

from tests.factories.rundirs import make_summary
from tests.factories.validity import assert_measured, busy_machine_only


def _busy(summary: dict, design: str) -> None:
    summary["valid"] = False
    summary["designs"][design]["generator"]["lag_cause"] = "machine"
    summary["invalid_reasons"].append(
        f"{design}: the machine was busy: other processes used 1.2 % of the CPU (steal 11.8 %)"
    )


def test_a_run_refused_only_for_a_busy_machine_is_measured_with_a_warning():
    summary = make_summary()
    _busy(summary, "sync")
    assert busy_machine_only(summary)
    with pytest.warns(UserWarning, match="machine was busy"):
        assert_measured(summary)


def test_any_other_reason_fails_the_test():
    summary = make_summary(valid=False)  # a saturated generator
    _busy(summary, "sync")
    assert not busy_machine_only(summary)
    with pytest.raises(AssertionError, match="saturated"):
        assert_measured(summary)


def test_a_busy_reason_whose_generator_does_not_say_so_is_not_accepted():
    summary = make_summary()
    _busy(summary, "sync")
    summary["designs"]["sync"]["generator"]["lag_cause"] = "generator"
    with pytest.raises(AssertionError):
        assert_measured(summary)


def test_a_valid_run_passes_without_a_warning(recwarn):
    assert_measured(make_summary())
    assert not recwarn.list
