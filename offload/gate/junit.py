"""junit.xml: one test case per check, the format every CI system's test view reads.

``testsuites`` → one ``testsuite`` per scenario → one ``testcase`` per check
(``classname="offload.<scenario>"``, ``name`` = the check as written). A failed check carries a
``failure`` (an ``error`` when its input was unusable) whose ``message`` is the one-line reason
and whose body holds every repeat's figures. tests/data/junit.xsd is the schema it is tested
against.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from offload.gate.checks import CheckResult, GateReport, Verdict

FAILURE_TYPES = {"expect": "expectation", "baseline": "regression", "ab": "regression"}


def render_junit(report: GateReport, *, refusal: str | None = None) -> str:
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    hostname = socket.gethostname()
    suites = ET.Element("testsuites", name="offload gate")
    by_scenario: dict[str, list[CheckResult]] = {}
    for check in report.checks:
        by_scenario.setdefault(check.scenario, []).append(check)
    if refusal is not None:
        by_scenario = {"gate": [_refusal_check(refusal)]}
    for scenario, checks in by_scenario.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=scenario,
            tests=str(len(checks)),
            failures=str(sum(c.verdict is Verdict.FAIL for c in checks)),
            errors=str(sum(c.verdict is Verdict.ERROR for c in checks)),
            skipped="0",
            time=_seconds(sum(c.seconds for c in checks)),
            timestamp=timestamp,
            hostname=hostname,
        )
        for check in checks:
            _testcase(suite, check)
    all_checks = [c for checks in by_scenario.values() for c in checks]
    suites.set("tests", str(len(all_checks)))
    suites.set("failures", str(sum(c.verdict is Verdict.FAIL for c in all_checks)))
    suites.set("errors", str(sum(c.verdict is Verdict.ERROR for c in all_checks)))
    suites.set("time", _seconds(sum(c.seconds for c in all_checks)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def write_junit(report: GateReport, path: Path, *, refusal: str | None = None) -> Path:
    path.write_text(render_junit(report, refusal=refusal) + "\n", encoding="utf-8")
    return path


def _testcase(suite: ET.Element, check: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"offload.{check.scenario}",
        name=check.name,
        time=_seconds(check.seconds),
    )
    if check.verdict is Verdict.FAIL:
        failure = ET.SubElement(
            case, "failure", message=check.message, type=FAILURE_TYPES[check.kind]
        )
        failure.text = _body(check)
    elif check.verdict is Verdict.ERROR:
        error = ET.SubElement(case, "error", message=check.message, type="unusable-input")
        error.text = _body(check)
    out = [f"{label}: {text}" for label, text in _figures(check) if text]
    if out:
        ET.SubElement(case, "system-out").text = "\n".join(out)


def _figures(check: CheckResult) -> list[tuple[str, str]]:
    return [("value", check.value), ("baseline", check.baseline), ("change", check.change)]


def _body(check: CheckResult) -> str:
    pairs = "\n".join(
        f"pair {row.pair} ({row.order}): base {row.base}, candidate {row.candidate}, "
        f"difference {row.difference}"
        for row in check.pairs
    )
    return "\n".join(part for part in (check.message, check.details, pairs) if part)


def _refusal_check(refusal: str) -> CheckResult:
    return CheckResult(
        scenario="gate",
        kind="expect",
        name="the gate's input is usable",
        verdict=Verdict.ERROR,
        message=refusal.splitlines()[0] if refusal else "unusable input",
        details=refusal,
    )


def _seconds(value: float) -> str:
    return f"{value:.3f}"
