"""The gate's result as one JSON document, for scripts and CI steps (``offload gate --json``).

It is the same :class:`GateReport` the table, gate.md and junit.xml are written from, dumped
by pydantic from the dataclasses themselves (one model, no second spelling of the fields),
plus the status and exit code it adds up to. A gate refused before it produced a report prints
an ``ERROR`` document with the reason, so a consumer always gets a document on stdout.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from offload.gate.checks import GateReport

_REPORT = TypeAdapter(GateReport)


def gate_json(report: GateReport) -> str:
    document = {
        "status": report.status,
        "exit_code": report.exit_code,
        **_REPORT.dump_python(report, mode="json"),
    }
    return json.dumps(document, indent=2)


def refused_json(reason: str, exit_code: int) -> str:
    """The document of a gate that could not run: unusable input, no report."""
    return json.dumps({"status": "ERROR", "exit_code": exit_code, "error": reason}, indent=2)
