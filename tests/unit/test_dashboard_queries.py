"""The shipped Grafana dashboard, and the checks that keep its queries honest.

The live check (tests/integration/test_dashboard_metrics.py) compares the names the
dashboard's queries read with what the running components expose; these tests show that the
name reader finds metric names and nothing else, that a misspelled or wrongly suffixed name is
caught, and that the dashboard is one Grafana can import and covers every metric the designs
define.
"""

from __future__ import annotations

import copy
import json

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

import targets.common.metrics  # noqa: F401  (defines the designs' metrics in REGISTRY)
from tests.factories.grafana import (
    SHIPPED_DASHBOARD,
    dashboard_queries,
    exposed_names,
    missing_metrics,
)
from tests.factories.promql import PromQLError, metric_names

pytestmark = pytest.mark.unit


@pytest.fixture
def dashboard() -> dict:
    return json.loads(SHIPPED_DASHBOARD.read_text())


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "histogram_quantile(0.99, sum by (job, route, le) "
            '(rate(http_seconds_bucket{job=~"$job", route="/users"}[$__rate_interval])))',
            {"http_seconds_bucket"},
        ),
        ("sum without (instance) (up_total offset 5m) > bool 1e3", {"up_total"}),
        (
            "a_total / on (job) group_left (route) b_info * ignoring(x) c unless d and e or f",
            {"a_total", "b_info", "c", "d", "e", "f"},
        ),
        ("max_over_time(rate(jobs_total[5m])[30m:1m]) + Inf - NaN", {"jobs_total"}),
        ('sum(rate(x_total{outcome=~"delivered|by"}[1h30m])) by (outcome)', {"x_total"}),
        ('label_replace(y, "dst", "$1", "src", "(.*)") # a comment naming z', {"y"}),
        ("sum(rate(ns:recorded_rule:rate5m[${interval}]))", {"ns:recorded_rule:rate5m"}),
        ("vector(1) + scalar(time())", set()),
    ],
)
def test_only_metric_names_are_read(expr: str, names: set[str]):
    assert metric_names(expr) == names


@pytest.mark.parametrize("expr", ["sum(rate(x[5m])", "x{job='a'", "rate(x[5m)]"])
def test_unbalanced_brackets_are_an_error_not_a_shorter_list(expr: str):
    with pytest.raises(PromQLError):
        metric_names(expr)


def _exposition() -> set[str]:
    """What a real prometheus_client process exposes for one counter and one histogram."""
    registry = CollectorRegistry()
    Counter("demo_jobs", "jobs", ["outcome"], registry=registry).labels("delivered").inc()
    Histogram("demo_seconds", "latency", registry=registry).observe(0.1)
    return exposed_names(generate_latest(registry).decode())


def _one_query(expr: str) -> dict:
    return {"panels": [{"title": "p", "targets": [{"refId": "A", "expr": expr}]}]}


def test_names_are_checked_with_the_suffixes_a_scrape_shows():
    exposed = _exposition()
    good = "sum(rate(demo_jobs_total[1m])) + histogram_quantile(0.5, rate(demo_seconds_bucket[1m]))"
    assert missing_metrics(_one_query(good), exposed) == {}
    assert missing_metrics(_one_query(good + " / rate(demo_seconds_count[1m])"), exposed) == {}
    # a counter's family name and a histogram's bare name select nothing in Prometheus
    assert missing_metrics(_one_query("rate(demo_jobs[1m])"), exposed) == {
        "panel 'p' A": {"demo_jobs"}
    }
    assert missing_metrics(_one_query("rate(demo_seconds[1m])"), exposed) == {
        "panel 'p' A": {"demo_seconds"}
    }


def test_a_misspelled_name_in_the_dashboard_is_caught(dashboard: dict):
    exposed = {name for _, expr in dashboard_queries(dashboard) for name in metric_names(expr)}
    assert missing_metrics(dashboard, exposed) == {}

    broken = copy.deepcopy(dashboard)
    target = next(
        t
        for panel in broken["panels"]
        for t in panel.get("targets", [])
        if "offload_jobs_total" in t["expr"]
    )
    target["expr"] = target["expr"].replace("offload_jobs_total", "offload_job_total")
    assert missing_metrics(broken, exposed) == {"panel 'Jobs by outcome' A": {"offload_job_total"}}


def test_a_variable_query_the_check_cannot_read_is_refused(dashboard: dict):
    variable = next(v for v in dashboard["templating"]["list"] if v["type"] == "query")
    variable["query"] = {"query": "metrics(offload_.*)"}
    with pytest.raises(ValueError, match="cannot read the query"):
        dashboard_queries(dashboard)


def test_the_dashboard_imports_into_grafana_with_its_datasource_as_a_variable(dashboard: dict):
    assert dashboard["schemaVersion"] >= 36  # Grafana 9.x/10 dashboards
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def _defined_metrics() -> dict[str, set[str]]:
    """Family name -> the sample names a query may read, of every metric the designs define."""
    readable = {
        "counter": {"_total"},
        "histogram": {"_bucket", "_count", "_sum"},
        "gauge": {""},
    }
    return {
        family.name: {family.name + suffix for suffix in readable[family.type]}
        for family in REGISTRY.collect()
        if family.name.startswith("offload_")
    }


def test_every_metric_the_designs_expose_has_a_panel(dashboard: dict):
    read = {name for _, expr in dashboard_queries(dashboard) for name in metric_names(expr)}
    defined = _defined_metrics()
    assert len(defined) == 13  # targets/common/metrics.py
    unread = sorted(family for family, names in defined.items() if not names & read)
    assert unread == []
