"""Every chart of a scenario report, by file name, with the sentence that says how to read it.

``draw_charts`` writes ``charts/<name>.png`` and ``.svg`` for each; a chart that fails to draw
is replaced by a panel naming the error, so a report is always complete (and the failure is
listed in the report's warnings) — rendering never fails a bench.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from offload.analysis.comparison import ScenarioAnalysis
from offload.report import charts_scaling, charts_static, charts_time, style

log = logging.getLogger("offload.report")


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    how_to_read: str
    draw: Callable[[ScenarioAnalysis, dict[str, str]], Figure]
    #: whether the chart means anything for this scenario (most always do)
    applies: Callable[[ScenarioAnalysis], bool] = lambda _analysis: True


def _time(
    function: Callable[[charts_time.TimeContext], Figure],
) -> Callable[[ScenarioAnalysis, dict[str, str]], Figure]:
    def draw(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
        return function(charts_time.TimeContext(analysis, colours))

    return draw


CHARTS: tuple[Chart, ...] = (
    Chart(
        "latency",
        "Response latency over time",
        "Signup latency per second (solid p50, dashed p99) from the time each request was "
        "scheduled, on a log scale. Shaded bands are fault phases. A sync design rises to the "
        "client timeout when the provider slows; an async design should stay flat.",
        _time(charts_time.latency_over_time),
    ),
    Chart(
        "spectrum",
        "Latency percentile spectrum",
        "Signup latency at p50, p75, p90, p95, p99, p99.5, p99.9, p99.95 and p99.99 of each "
        "phase (HDR histograms), on a log 'nines' axis so the tail is as wide as the median. "
        "A curve stops at the highest percentile with at least 10 signups beyond it (p99 "
        "needs 1,000 signups in the phase, p99.9 10,000): above that a percentile is only the "
        "slowest few requests, so it is not drawn.",
        charts_static.latency_spectrum,
    ),
    Chart(
        "throughput",
        "Offered rate vs goodput, errors and timeouts",
        "Top: signups scheduled per second (dashed) and how many of them got a 2xx answer "
        "(solid), both by the second the signup was scheduled in; goodput below the offered "
        "rate is work the design could not finish. Bottom: the failed ones of each second by "
        "class (client timeouts, 5xx, connection errors, dropped), each class its own line "
        "style.",
        _time(charts_time.throughput_and_errors),
    ),
    Chart(
        "bystanders",
        "Cascading failure: bystander endpoints",
        "Latency (p50, p99) and error share of GET /users/{id} and GET /healthz — requests "
        "that never touch the provider, served by the same processes. If they slow down or "
        "fail during a fault, the fault has cascaded. The latency axis fits the data; the "
        "client timeout is drawn only when the data comes near it.",
        _time(charts_time.bystanders),
    ),
    Chart(
        "queue",
        "Async internals: backlog, throughput, retries, drain",
        "Top: unfinished jobs (backlog; with prefetch most are held by workers, not ready in "
        "the queue) and ready messages. Middle: emails the provider accepted per second "
        "against signups offered — the worker throughput (async) or inline sending rate "
        "(sync). Bottom, only when a job was retried or dead-lettered: retries and dead "
        "letters per second. Dotted lines mark the end of the load and of the drain.",
        _time(charts_time.queue_internals),
    ),
    Chart(
        "completion",
        "End-to-end completion vs response latency (CDF)",
        "For each design, the share of signups whose welcome email the provider had accepted "
        "(solid) and whose HTTP response had arrived (dashed) by a given time after the "
        "scheduled send. The gap between an async design's dashed and solid lines is the "
        "work it moved off the request path. Response curves include failures (a client "
        "timeout ends at the timeout); end-to-end curves count only signups that got a 2xx "
        "and whose email was accepted.",
        charts_static.completion_cdf,
    ),
    Chart(
        "ledger",
        "Delivery ledger",
        "For every user created: was the welcome email delivered exactly once? Left: "
        "delivered of owed. Right: each way it went wrong, from the provider's own log after "
        "the drain, plus signups whose client saw a failure although the user was stored.",
        charts_static.delivery_ledger,
    ),
    Chart(
        "cost",
        "Cost: CPU and memory",
        "CPU seconds and peak RSS of every component during the run (hatched: the provider "
        "and load generator, which are the test rig), and CPU per 1,000 successful signups "
        "of each design's own components (the broker counts for async).",
        charts_static.cost,
    ),
    Chart(
        "scaling",
        "Worker scaling: drain time and end-to-end p95",
        "Only for scenarios that run the queue-backed design with several worker counts. "
        "Left: seconds from the end of the load until the last job finished, measured (dots) "
        "and predicted by the capacity model (squares): the backlog the load left divided by "
        "workers × prefetch ÷ provider latency. Right: email end-to-end p95. Past the point "
        "where the workers keep up with arrivals, more workers buy nothing.",
        charts_scaling.worker_scaling,
        charts_scaling.applies,
    ),
)

OVERVIEW = Chart(
    "overview",
    "Every scenario at a glance",
    "Per scenario, each design's signup response p95 (how long the client waits) and email "
    "end-to-end p95 (when the job is done), one dot per design on a log scale.",
    lambda analysis, colours: Figure(),  # drawn by draw_overview
)


def _failed(name: str, error: Exception) -> Figure:
    fig, (ax,) = style.figure(height=2.5)
    style.no_data(ax, f"chart '{name}' could not be drawn: {type(error).__name__}: {error}")
    return fig


def draw_charts(
    analysis: ScenarioAnalysis, colours: dict[str, str], directory: Path
) -> tuple[dict[str, list[Path]], list[str]]:
    """Draw every chart into ``directory``; returns the files per chart and any failures."""
    files: dict[str, list[Path]] = {}
    problems: list[str] = []
    for chart in CHARTS:
        if not chart.applies(analysis):
            continue
        with plt.rc_context(style.RC):
            try:
                fig = chart.draw(analysis, colours)
            except Exception as exc:  # a report must still be produced; the failure is listed
                log.exception("chart %s of %s failed", chart.name, analysis.name)
                problems.append(f"chart '{chart.name}' could not be drawn: {exc}")
                fig = _failed(chart.name, exc)
            files[chart.name] = style.save(fig, directory / chart.name)
    return files, problems


def draw_overview(
    analyses: list[ScenarioAnalysis], colours: dict[str, str], directory: Path
) -> tuple[list[Path], list[str]]:
    with plt.rc_context(style.RC):
        try:
            fig = charts_static.run_overview(analyses, colours)
            problems = []
        except Exception as exc:
            log.exception("overview chart failed")
            fig = _failed(OVERVIEW.name, exc)
            problems = [f"chart 'overview' could not be drawn: {exc}"]
        return style.save(fig, directory / OVERVIEW.name), problems
