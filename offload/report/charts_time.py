"""The time charts: every design on the same axes, fault phases shaded and named on top.

Each function takes the scenario's analysis and returns a matplotlib figure; saving, and a
"no data" panel when a series is empty, are the caller's and ``style``'s business. Series
come from :mod:`offload.analysis.tables` (``design_series``), the same numbers as
``tables/timeseries.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from offload.analysis.comparison import ScenarioAnalysis
from offload.analysis.scenario_data import ScenarioData
from offload.analysis.tables import design_series
from offload.analysis.timeseries import ERROR_CLASSES, backlog_recovery, queue_series
from offload.report import style
from offload.rundir.manifest import PhaseRecord

TIME_LABEL = "seconds since t=0 (start of the measured load)"
CLASS_STYLES = {
    "timeout": "-",
    "http_5xx": "--",
    "connection": ":",
    "http_4xx": "-.",
    "dropped": (0, (1, 1)),
}
CLASS_NAMES = {
    "timeout": "client timeouts",
    "http_5xx": "5xx answers",
    "connection": "connection errors",
    "http_4xx": "4xx answers",
    "dropped": "dropped (never sent)",
}


@dataclass
class TimeContext:
    """What every time chart of one scenario shares."""

    analysis: ScenarioAnalysis
    colours: dict[str, str]

    @property
    def data(self) -> ScenarioData:
        return self.analysis.data

    @property
    def phases(self) -> list[PhaseRecord]:
        return self.data.phases

    @property
    def duration(self) -> float:
        return self.data.duration_s

    @cached_property
    def series(self) -> dict[str, pd.DataFrame]:
        return {
            name: design_series(design, self.duration) for name, design in self.data.designs.items()
        }

    def shade(self, axes: list[Axes], x_max: float | None = None) -> None:
        for i, ax in enumerate(axes):
            style.shade_phases(
                ax,
                self.phases,
                self.analysis.disturbed,
                label=i == 0,
                x_max=x_max,
                labels=self.analysis.phase_labels,
            )

    @property
    def client_timeout_s(self) -> float | None:
        client = self.data.scenario.client
        return client.timeout if client else None


def _has(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and frame[column].notna().any()


def latency_over_time(ctx: TimeContext) -> Figure:
    """Signup response latency per second (p50 solid, p99 dashed), log scale."""
    fig, (ax,) = style.figure(height=4.0)
    drawn = False
    for name, series in ctx.series.items():
        colour = ctx.colours[name]
        if _has(series, "signup_p50_ms"):
            ax.plot(series.index + 0.5, series["signup_p50_ms"], color=colour, label=f"{name} p50")
            ax.plot(
                series.index + 0.5,
                series["signup_p99_ms"],
                color=colour,
                ls="--",
                lw=1.2,
                label=f"{name} p99",
            )
            drawn = True
    if not drawn:
        style.no_data(ax, "no measured signups")
        return fig
    style.log_ms_axis(ax)
    _client_timeout_line(ax, ctx)
    ax.set_xlim(0, ctx.duration)
    ax.set_ylabel("response latency (log scale)")
    ax.set_xlabel(TIME_LABEL + ", by scheduled time")
    ctx.shade([ax])
    style.panel_title(ax, "POST /users, measured from the scheduled send time", above_labels=True)
    style.legend_outside(ax)
    fig.suptitle("Signup response latency over time: p50 and p99 per second")
    return fig


def throughput_and_errors(ctx: TimeContext) -> Figure:
    """Offered signups vs 2xx answers per second; failed signups per second by class."""
    fig, (top, bottom) = style.figure(2, height=3.0)
    x_max = ctx.duration
    offered = {
        n: s["signup_offered_per_s"]
        for n, s in ctx.series.items()
        if _has(s, "signup_offered_per_s")
    }
    same = len({tuple(o.dropna()) for o in offered.values()}) == 1
    for name, series in offered.items():
        colour, label = (
            ("#555555", "offered (same schedule for every design)")
            if same
            else (ctx.colours[name], f"{name} offered")
        )
        top.plot(
            series.index + 0.5, series, color=colour, lw=1.2, ls=(0, (4, 2)), label=label, zorder=3
        )
        if same:
            break
    for name, series in ctx.series.items():
        if _has(series, "signup_goodput_per_s"):
            top.plot(
                series.index + 0.5,
                series["signup_goodput_per_s"],
                color=ctx.colours[name],
                label=f"{name} goodput (2xx)",
            )
            x_max = max(x_max, float(series.index.max()) + 1)
    if not top.lines:
        style.no_data(top, "no measured signups")
    top.set_ylabel("signups per second")
    top.set_ylim(bottom=0)
    style.panel_title(
        top, "Offered (scheduled) vs goodput (2xx answers, by answer time)", above_labels=True
    )
    failed_any = False
    for name, series in ctx.series.items():
        colour = ctx.colours[name]
        for error_class in ERROR_CLASSES:
            column = f"signup_{error_class}_per_s"
            if _has(series, column) and series[column].sum() > 0:
                bottom.plot(
                    series.index + 0.5,
                    series[column],
                    color=colour,
                    ls=CLASS_STYLES[error_class],
                    label=f"{name} {CLASS_NAMES[error_class]}",
                )
                failed_any = True
                x_max = max(x_max, float(series.index.max()) + 1)
        if not any(
            _has(series, f"signup_{c}_per_s") and series[f"signup_{c}_per_s"].sum() > 0
            for c in ERROR_CLASSES
        ):
            bottom.plot([], [], color=colour, label=f"{name}: no failed signups")
    if not failed_any:
        bottom.text(
            0.5,
            0.5,
            "no failed signups in any design",
            transform=bottom.transAxes,
            ha="center",
            va="center",
            color="#777777",
        )
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("failed signups per second")
    bottom.set_xlabel(TIME_LABEL + ", by the time the client learnt the outcome")
    style.panel_title(bottom, "Errors and timeouts (each class separately)")
    for ax in (top, bottom):
        ax.set_xlim(0, x_max)
        style.mark_time(ax, ctx.duration, "load ends", label=ax is top)
    ctx.shade([top, bottom], x_max)
    style.legend_outside(top)
    style.legend_outside(bottom)
    fig.suptitle("Signup throughput: offered rate vs goodput, and failures over time")
    return fig


def bystanders(ctx: TimeContext) -> Figure:
    """Latency and error rate of the unrelated GET endpoints served by the same processes."""
    fig, (top, bottom) = style.figure(2, height=3.0)
    for name, series in ctx.series.items():
        colour = ctx.colours[name]
        if _has(series, "bystander_p50_ms"):
            top.plot(
                series.index + 0.5, series["bystander_p50_ms"], color=colour, label=f"{name} p50"
            )
            top.plot(
                series.index + 0.5,
                series["bystander_p99_ms"],
                color=colour,
                ls="--",
                lw=1.2,
                label=f"{name} p99",
            )
        if _has(series, "bystander_error_rate"):
            bottom.plot(
                series.index + 0.5,
                series["bystander_error_rate"] * 100,
                color=colour,
                label=f"{name}",
            )
    if top.lines:
        style.log_ms_axis(top)
        _client_timeout_line(top, ctx)
    else:
        style.no_data(top, "no bystander requests in this scenario")
    if not bottom.lines:
        style.no_data(bottom, "no bystander requests in this scenario")
    top.set_ylabel("latency (log scale)")
    bottom.set_ylabel("failed requests (%)")
    bottom.set_ylim(-2, 102)
    bottom.set_xlabel(TIME_LABEL + ", by scheduled time")
    style.panel_title(
        top, "GET /users/{id} and GET /healthz latency, p50 and p99 per second", above_labels=True
    )
    style.panel_title(bottom, "Share of bystander requests that failed or timed out")
    for ax in (top, bottom):
        ax.set_xlim(0, ctx.duration)
    ctx.shade([top, bottom])
    style.legend_outside(top)
    style.legend_outside(bottom)
    fig.suptitle("Cascading failure: unrelated endpoints on the same servers")
    return fig


def queue_internals(ctx: TimeContext) -> Figure:
    """Backlog, worker throughput, retries and dead letters; load end and drain end marked."""
    fig, (top, middle, bottom) = style.figure(3, height=2.6)
    queued = [d for d in ctx.data.designs.values() if d.uses_queue]
    ends = [d.drain_end_s for d in queued if d.drain_end_s is not None]
    x_max = max([ctx.duration, *ends]) + 1
    notes = []
    for design in queued:
        colour, queue = ctx.colours[design.name], queue_series(design.queues)
        queue = queue[queue["t_s"] >= 0] if not queue.empty else queue
        if queue.empty:
            continue
        top.plot(
            queue["t_s"],
            queue["backlog"],
            color=colour,
            label=f"{design.name} backlog (unfinished jobs)",
        )
        top.plot(
            queue["t_s"],
            queue["ready"],
            color=colour,
            ls="--",
            lw=1.1,
            label=f"{design.name} ready in work + retry queues",
        )
        if _has(queue, "dead") and queue["dead"].max() > 0:
            top.plot(
                queue["t_s"],
                queue["dead"],
                color=colour,
                ls=":",
                lw=1.4,
                label=f"{design.name} in dead-letter queue",
            )
        notes.append(_recovery_note(ctx, design.name, queue))
    if not top.lines:
        style.no_data(top, "no queue-backed design in this scenario")
    top.set_ylabel("jobs")
    top.set_ylim(bottom=0)
    title = "Backlog: jobs accepted but not yet delivered or dead-lettered"
    notes = [n for n in notes if n]
    if len(notes) > 2:
        notes = ["time back to the healthy backlog per design: see the Queue table"]
    style.panel_title(top, "\n".join([title, *notes]), above_labels=True)

    first = next(iter(ctx.series.values()), None)
    if first is not None and _has(first, "signup_offered_per_s"):
        middle.plot(
            first.index + 0.5,
            first["signup_offered_per_s"],
            color="#999999",
            lw=1.0,
            ls=(0, (4, 2)),
            label="signups offered",
        )
    for name, series in ctx.series.items():
        if _has(series, "emails_delivered_per_s"):
            design = ctx.data.designs[name]
            how = "workers" if design.uses_queue else "sent inline"
            middle.plot(
                series.index + 0.5,
                series["emails_delivered_per_s"],
                color=ctx.colours[name],
                label=f"{name} emails accepted ({how})",
            )
    middle.set_ylabel("emails per second")
    middle.set_ylim(bottom=0)
    style.panel_title(middle, "Email throughput: the provider's accepted emails per second")

    quiet = []
    for design in queued:
        series = ctx.series[design.name]
        colour = ctx.colours[design.name]
        retries = series.get("retries_per_s")
        dead = series.get("dead_lettered_per_s")
        if retries is not None and retries.sum() > 0:
            bottom.plot(
                series.index + 0.5, retries, color=colour, label=f"{design.name} retries scheduled"
            )
        if dead is not None and dead.sum() > 0:
            bottom.plot(
                series.index + 0.5,
                dead,
                color=colour,
                ls="--",
                label=f"{design.name} dead-lettered",
            )
        if (retries is None or retries.sum() == 0) and (dead is None or dead.sum() == 0):
            quiet.append(design.name)
    if not queued:
        style.no_data(bottom, "no queue-backed design in this scenario")
    elif quiet:
        bottom.text(
            0.5,
            0.5,
            f"{', '.join(quiet)}: no retries and no dead letters",
            transform=bottom.transAxes,
            ha="center",
            va="center",
            color="#555555",
        )
        if not bottom.lines:
            bottom.set_ylim(0, 1)
    bottom.set_ylabel("jobs per second")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel(TIME_LABEL)
    style.panel_title(bottom, "Retries and dead letters per second")

    for ax in (top, middle, bottom):
        ax.set_xlim(0, x_max)
        style.mark_time(ax, ctx.duration, "load ends", label=ax is top)
        for design in queued:
            style.mark_time(
                ax,
                design.drain_end_s,
                f"{design.name} drain ends",
                label=ax is top and len(queued) == 1,
            )
    ctx.shade([top, middle, bottom], x_max)
    for ax in (top, middle, bottom):
        style.legend_outside(ax)
    fig.suptitle("Async internals: backlog, worker throughput, retries and dead letters")
    return fig


def _recovery_note(ctx: TimeContext, name: str, queue: pd.DataFrame) -> str:
    """``async: back to its healthy level (≤ 3) 3.2 s after the shaded phase ended``."""
    recovery = backlog_recovery(queue, ctx.phases, ctx.analysis.disturbed)
    if recovery is None:
        return ""
    level, seconds = recovery
    if seconds is None:
        return f"{name}: backlog not back to its healthy level (≤ {level:.0f}) in the recording"
    return (
        f"{name}: back to its healthy level (≤ {level:.0f}) {seconds:.1f} s after the fault "
        "(last shaded phase) ended"
    )


def _client_timeout_line(ax: Axes, ctx: TimeContext) -> None:
    """A dotted line at the client timeout: the ceiling every latency chart can hit."""
    timeout = ctx.client_timeout_s
    if timeout:
        ax.axhline(
            timeout * 1000,
            color=style.MARKER_LINE,
            ls=":",
            lw=1,
            label=f"client timeout ({style.ms_label(timeout * 1000)})",
        )


__all__ = [
    "TimeContext",
    "bystanders",
    "latency_over_time",
    "queue_internals",
    "throughput_and_errors",
]
