"""A Grafana dashboard's queries, and the metric names they read that a scrape does not show.

A dashboard as Grafana exports it (``docs/grafana/*.json``): panels may sit inside collapsed
rows (``panels`` of a row), and a query variable's ``label_values(SELECTOR, label)`` or
``query_result(EXPR)`` reads series too. A variable query of another form is refused, so a
query the checks cannot read is never silently left unchecked.

The names a scrape shows are its samples' names, as PromQL sees them: a counter ``offload_jobs``
is ``offload_jobs_total``, a histogram is ``..._bucket``, ``..._count`` and ``..._sum`` (its
bare name selects nothing), so a query is checked against exactly what Prometheus would store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.factories.promql import metric_names

#: the dashboard docs/observability.md ships
SHIPPED_DASHBOARD = (
    Path(__file__).resolve().parents[2] / "docs" / "grafana" / "offload-reference-designs.json"
)

_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*\w+\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\(\s*(?P<selector>.+)\)\s*$", re.S)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every query: ``panel "<title>" <refId>`` or ``variable <name>``."""
    queries = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            where = f"panel {panel.get('title')!r} {target.get('refId')}"
            if not target.get("expr"):
                raise ValueError(f"{where}: no PromQL expression (expr)")
            queries.append((where, target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text) or _QUERY_RESULT.match(text)
        if match is None:
            raise ValueError(
                f"variable {variable.get('name')!r}: cannot read the query {text!r} "
                "(expected label_values(SELECTOR, label) or query_result(EXPR))"
            )
        queries.append((f"variable {variable.get('name')}", match["selector"]))
    return queries


def exposed_names(exposition: str) -> set[str]:
    """The sample names of one ``GET /metrics`` answer (Prometheus text format)."""
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def missing_metrics(dashboard: dict[str, Any], exposed: set[str]) -> dict[str, set[str]]:
    """``where -> names`` of every query that reads a metric name not in ``exposed``."""
    missing = {}
    for where, expr in dashboard_queries(dashboard):
        unknown = metric_names(expr) - exposed
        if unknown:
            missing[where] = unknown
    return missing
