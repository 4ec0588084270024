"""Whether a real run measured what a test checks.

A run on a shared 2-core machine can be refused by the bench's own noise rule: another tenant
(steal, other processes) held the CPU and the load generator fell behind its schedule. That is
an honest verdict about the latency figures, and a test of latency must fail on it. A test of
something else — spans linked under one trace id, counters that agree with the records, emails
delivered once — is still judged on records that are complete; it only says, as a warning,
that the run's latencies would not stand.
"""

from __future__ import annotations

import warnings
from typing import Any

BUSY = "the machine was busy"


def busy_machine_only(summary: dict[str, Any]) -> bool:
    """The run is invalid, and every reason is a design whose generator fell behind because
    other processes or steal took the machine (``generator.lag_cause == "machine"``)."""
    designs = summary["designs"]
    reasons = summary["invalid_reasons"]
    if summary["valid"] or not reasons:
        return False
    return all(
        any(
            reason.startswith(f"{name}: {BUSY}")
            and (design.get("generator") or {}).get("lag_cause") == "machine"
            for name, design in designs.items()
        )
        for reason in reasons
    )


def assert_measured(summary: dict[str, Any], output: str = "") -> None:
    """The run is valid, or invalid only because the machine was busy (then a warning says so);
    any other reason — lost emails, a saturated generator, a crash — fails the test."""
    if summary["valid"]:
        return
    assert busy_machine_only(summary), "\n".join(summary["invalid_reasons"]) + "\n" + output
    warnings.warn(
        "the run's latencies would not stand (the machine was busy); what this test checks "
        "does not depend on them: " + "; ".join(summary["invalid_reasons"]),
        stacklevel=2,
    )
