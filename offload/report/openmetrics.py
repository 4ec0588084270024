"""A run's summaries as OpenMetrics text, for the tools teams already watch (Prometheus,
Grafana, VictoriaMetrics all ingest it: ``promtool tsdb create-blocks-from openmetrics``).

Every sample is read from the scenario folders' ``summary.json`` — the same figures the report
shows — and labelled with what locates it: ``scenario``, ``repeat``, ``design``, and where it
applies ``endpoint`` (signup, bystander), ``phase`` (``overall`` or a timeline phase) and
``component`` (a process of the run). A figure the summary does not have (a percentile the
sample cannot support, one that reached the client timeout and so is only a lower bound, a
ledger a design has none of) is left out rather than written as a zero: absence means "not
measured", never "nothing happened". prometheus_client writes the text, so names, escaping
and the ``# EOF`` terminator follow the format exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from offload.rundir.summary import DesignSummary, EndpointStats, Percentiles, Summary, WindowStats

#: the percentiles exported, by summary key → label value
_PERCENTILES = {"p50": "0.5", "p90": "0.9", "p95": "0.95", "p99": "0.99", "p99_9": "0.999"}
#: the request outcomes exported, by WindowStats field
_OUTCOMES = ("ok", "errors", "connection_errors", "timeouts", "dropped")
#: the ledger's states, by EmailLedger field
_LEDGER = (
    "owed",
    "delivered",
    "lost",
    "duplicates",
    "dead_lettered",
    "pending",
    "orphaned",
    "duplicate_attempts",
)
_ENDPOINT_LABELS = ["scenario", "repeat", "design", "endpoint", "phase"]


@dataclass
class _Families:
    """One metric family per exported name, filled design by design."""

    requests: CounterMetricFamily
    latency: GaugeMetricFamily
    offered: GaugeMetricFamily
    goodput: GaugeMetricFamily
    error_ratio: GaugeMetricFamily
    emails: GaugeMetricFamily
    e2e: GaugeMetricFamily
    cpu: CounterMetricFamily
    rss: GaugeMetricFamily
    valid: GaugeMetricFamily

    @classmethod
    def new(cls) -> _Families:
        return cls(
            requests=CounterMetricFamily(
                "offload_requests",
                "Requests of the measured part by outcome (warm-up excluded)",
                labels=[*_ENDPOINT_LABELS, "outcome"],
            ),
            latency=GaugeMetricFamily(
                "offload_request_latency_seconds",
                "Latency from each request's scheduled time, by percentile",
                labels=[*_ENDPOINT_LABELS, "percentile"],
                unit="seconds",
            ),
            offered=GaugeMetricFamily(
                "offload_offered_requests_per_second",
                "Requests/s the schedule offered",
                labels=_ENDPOINT_LABELS,
            ),
            goodput=GaugeMetricFamily(
                "offload_goodput_requests_per_second",
                "Successful answers/s",
                labels=_ENDPOINT_LABELS,
            ),
            error_ratio=GaugeMetricFamily(
                "offload_error_ratio",
                "Share of requests without a successful answer",
                labels=_ENDPOINT_LABELS,
            ),
            emails=GaugeMetricFamily(
                "offload_emails",
                "The welcome-email ledger: signups owed an email and what became of them",
                labels=["scenario", "repeat", "design", "state"],
            ),
            e2e=GaugeMetricFamily(
                "offload_email_end_to_end_seconds",
                "Signup scheduled to welcome email accepted by the provider, by percentile",
                labels=["scenario", "repeat", "design", "percentile"],
                unit="seconds",
            ),
            cpu=CounterMetricFamily(
                "offload_cpu_seconds",
                "CPU time of each process of the run",
                labels=["scenario", "repeat", "design", "component"],
                unit="seconds",
            ),
            rss=GaugeMetricFamily(
                "offload_peak_rss_bytes",
                "Peak resident memory of each process of the run",
                labels=["scenario", "repeat", "design", "component"],
                unit="bytes",
            ),
            valid=GaugeMetricFamily(
                "offload_run_valid",
                "1 when the scenario's run is valid, 0 when a validity check failed",
                labels=["scenario", "repeat"],
            ),
        )

    def all(self) -> list[Metric]:
        return [
            self.valid,
            self.requests,
            self.latency,
            self.offered,
            self.goodput,
            self.error_ratio,
            self.emails,
            self.e2e,
            self.cpu,
            self.rss,
        ]


class SummaryCollector(Collector):
    """A prometheus_client collector over finished summaries (read once, never re-measured)."""

    def __init__(self, summaries: Sequence[Summary]) -> None:
        self._summaries = list(summaries)

    def collect(self) -> Iterator[Metric]:
        families = _Families.new()
        for summary in self._summaries:
            run = [summary.scenario, str(summary.repeat)]
            families.valid.add_metric(run, 1.0 if summary.valid else 0.0)
            for name, design in summary.designs.items():
                _add_design(families, [*run, name], design)
        yield from families.all()


def openmetrics_text(summaries: Iterable[Summary]) -> str:
    """The summaries as one OpenMetrics exposition (ends with ``# EOF``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SummaryCollector(list(summaries)))
    text: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return text.decode()


def _add_design(families: _Families, labels: list[str], design: DesignSummary) -> None:
    for endpoint, stats in (("signup", design.signup), ("bystander", design.bystander)):
        for phase, window in _windows(stats):
            _add_window(families, [*labels, endpoint, phase], window)
    if design.emails is not None:
        for state in _LEDGER:
            families.emails.add_metric([*labels, state], float(getattr(design.emails, state)))
    for key, value in _percentile_seconds(design.e2e_ms):
        families.e2e.add_metric([*labels, key], value)
    for component, use in design.resources.items():
        families.cpu.add_metric([*labels, component], use.cpu_s)
        families.rss.add_metric([*labels, component], use.peak_rss_mb * 2**20)


def _windows(stats: EndpointStats) -> Iterator[tuple[str, WindowStats]]:
    yield "overall", stats.overall
    yield from stats.phases.items()


def _add_window(families: _Families, labels: list[str], window: WindowStats) -> None:
    for outcome in _OUTCOMES:
        families.requests.add_metric([*labels, outcome], float(getattr(window, outcome)))
    for key, value in _percentile_seconds(window.latency_ms):
        families.latency.add_metric([*labels, key], value)
    families.offered.add_metric(labels, window.offered_rate)
    families.goodput.add_metric(labels, window.goodput)
    if window.error_rate is not None:
        families.error_ratio.add_metric(labels, window.error_rate)


def _percentile_seconds(figures: Percentiles) -> Iterator[tuple[str, float]]:
    """(label, seconds) for each percentile the sample supports and that is a latency."""
    for key, label in _PERCENTILES.items():
        value = figures.value(key)
        if value is None or key in figures.unavailable or key in figures.at_timeout:
            continue
        yield label, value / 1000
