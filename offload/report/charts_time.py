"""The time charts: every design on the same axes, fault phases shaded and named on top.

Each function takes the scenario's analysis and returns a matplotlib figure; saving, and a
"no data" panel when a series is empty, are the caller's and ``style``'s business. Series
come from :mod:`offload.analysis.tables` (``design_series``), the same numbers as
``tables/timeseries.csv``.

Every time chart of a scenario spans the same x range (``TimeContext.x_range``: t=0 to the
last drain end), so a reader can hold one chart against another; and everything about a
request is binned by the second it was *scheduled* in, so a spike in failures lines up with
the latency of the same users rather than arriving a timeout later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
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
    def x_max(self) -> float:
        """The right edge shared by every time chart: the load's end, or the last design's
        drain end when the queue chart needs longer, rounded up to a whole second."""
        ends = [d.drain_end_s for d in self.data.designs.values() if d.drain_end_s is not None]
        return float(math.ceil(max([self.duration, *ends]) + 0.5))

    def frame(self, axes: list[Axes]) -> None:
        """The shared x range on every panel, and the load's end marked where it is not the
        right edge."""
        for ax in axes:
            ax.set_xlim(0, self.x_max)
            if self.x_max > self.duration + 0.5:
                style.mark_time(ax, self.duration, "load ends", label=ax is axes[0])
        self.shade(axes, self.x_max)

    @cached_property
    def series(self) -> dict[str, pd.DataFrame]:
        return {
            name: design_series(design, self.duration) for name, design in self.data.designs.items()
        }

    @cached_property
    def outcomes(self) -> dict[str, pd.DataFrame]:
        """Per design: signups scheduled, 2xx and failed per class, per scheduled second."""
        return {
            name: outcomes_by_scheduled_second(design.stream("signup"), self.duration)
            for name, design in self.data.designs.items()
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
    return column in frame and bool(frame[column].notna().any())


def outcomes_by_scheduled_second(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Per second of the schedule: requests scheduled (``offered``), those answered 2xx
    (``ok``) and those failed, one column per error class, whenever the outcome arrived."""
    seconds = pd.Index(range(max(1, math.ceil(duration_s))), name="t_s")
    second = np.floor(requests["offset"].astype(float)).astype(int)
    frame = pd.DataFrame(index=seconds)
    frame["offered"] = requests.groupby(second).size().reindex(seconds).fillna(0).astype(float)
    for outcome in ("", *ERROR_CLASSES):
        chosen = requests["error_class"] == outcome
        counts = requests[chosen].groupby(second[chosen]).size()
        frame[outcome or "ok"] = counts.reindex(seconds).fillna(0.0).astype(float)
    return frame


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
    timeout_note = _client_timeout_line(ax, ctx)
    style.log_ms_axis(ax)
    ax.set_ylabel("response latency (log scale)")
    ax.set_xlabel(TIME_LABEL + ", by scheduled time")
    ctx.frame([ax])
    title = "POST /users, measured from the scheduled send time"
    style.panel_title(ax, "\n".join(filter(None, [title, timeout_note])), above_labels=True)
    style.legend_outside(ax)
    fig.suptitle("Signup response latency over time: p50 and p99 per second")
    return fig


def throughput_and_errors(ctx: TimeContext) -> Figure:
    """Per scheduled second: signups offered, those answered 2xx, and those failed by class."""
    fig, (top, bottom) = style.figure(2, height=3.0)
    outcomes = {n: o for n, o in ctx.outcomes.items() if o["offered"].sum() > 0}
    same = len({tuple(o["offered"]) for o in outcomes.values()}) == 1
    for name, frame in outcomes.items():
        colour, label = (
            ("#555555", "offered (same schedule for every design)")
            if same
            else (ctx.colours[name], f"{name} offered")
        )
        x = frame.index + 0.5
        top.plot(x, frame["offered"], color=colour, lw=1.2, ls=(0, (4, 2)), label=label, zorder=3)
        if same:
            break
    for name, frame in outcomes.items():
        top.plot(
            frame.index + 0.5, frame["ok"], color=ctx.colours[name], label=f"{name} goodput (2xx)"
        )
    if not top.lines:
        style.no_data(top, "no measured signups")
    top.set_ylabel("signups per second")
    top.set_ylim(bottom=0)
    style.panel_title(
        top,
        "Signups scheduled per second (offered) and how many of them got a 2xx (goodput)",
        above_labels=True,
    )
    quiet = []
    for name, frame in outcomes.items():
        failing = [c for c in ERROR_CLASSES if frame[c].sum() > 0]
        for error_class in failing:
            bottom.plot(
                frame.index + 0.5,
                frame[error_class],
                color=ctx.colours[name],
                ls=CLASS_STYLES[error_class],
                label=f"{name} {CLASS_NAMES[error_class]}",
            )
        if not failing:
            quiet.append(name)
            bottom.plot([], [], color=ctx.colours[name], label=f"{name}: no failed signups")
    if outcomes and len(quiet) == len(outcomes):
        _centred_note(bottom, "no failed signups in any design")
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("failed signups per second")
    bottom.set_xlabel(TIME_LABEL + ", by scheduled time")
    style.panel_title(
        bottom, "Of the signups scheduled in each second, those that failed, by class"
    )
    ctx.frame([top, bottom])
    style.legend_outside(top)
    style.legend_outside(bottom)
    fig.suptitle("Signup throughput: offered rate vs goodput, and failures over time")
    return fig


def bystanders(ctx: TimeContext) -> Figure:
    """Latency and error share of the unrelated GET endpoints served by the same processes."""
    fig, (top, bottom) = style.figure(2, height=3.0)
    flat: list[str] = []
    peak_share = 0.0
    drawn = [n for n, s in ctx.series.items() if _has(s, "bystander_error_rate")]
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
        if name in drawn:
            share = series["bystander_error_rate"] * 100
            peak_share = max(peak_share, float(share.max()))
            if share.fillna(0).eq(0).all():
                flat.append(name)
            # identical series (both 0 %) must both stay visible: a thicker line underneath,
            # a thinner dashed one with markers on top
            order = drawn.index(name)
            bottom.plot(
                series.index + 0.5,
                share,
                color=colour,
                lw=3.2 - 1.6 * order / max(1, len(drawn) - 1),
                ls="-" if order == 0 else (0, (4, 2)),
                marker=None if order == 0 else "o",
                ms=3,
                zorder=3 + order,
                label=f"{name}" + (": 0 % throughout" if name in flat else ""),
            )
    timeout_note = ""
    if top.lines:
        timeout_note = _client_timeout_line(top, ctx)
        style.log_ms_axis(top)
    else:
        style.no_data(top, "no bystander requests in this scenario")
    if not bottom.lines:
        style.no_data(bottom, "no bystander requests in this scenario")
    elif len(flat) == len(drawn):
        _centred_note(bottom, "no bystander request failed in any design (every line is at 0 %)")
    top.set_ylabel("latency (log scale)")
    bottom.set_ylabel("failed requests (%)")
    # the axis fits the data, with room to see a few percent; 100 % only when it is reached
    bottom.set_ylim(-0.05 * max(5.0, peak_share * 1.15), min(102.0, max(5.0, peak_share * 1.15)))
    bottom.set_xlabel(TIME_LABEL + ", by scheduled time")
    title = "GET /users/{id} and GET /healthz latency, p50 and p99 per second"
    style.panel_title(top, "\n".join(filter(None, [title, timeout_note])), above_labels=True)
    style.panel_title(bottom, "Share of bystander requests that failed or timed out")
    ctx.frame([top, bottom])
    style.legend_outside(top)
    style.legend_outside(bottom)
    fig.suptitle("Cascading failure: unrelated endpoints on the same servers")
    return fig


def _retry_series(ctx: TimeContext) -> dict[str, tuple[pd.Series | None, pd.Series | None]]:
    """Retries and dead letters per second of each queue-backed design that had any."""
    busy = {}
    for design in ctx.data.designs.values():
        if not design.uses_queue:
            continue
        series = ctx.series[design.name]
        retries, dead = series.get("retries_per_s"), series.get("dead_lettered_per_s")
        if any(s is not None and s.sum() > 0 for s in (retries, dead)):
            busy[design.name] = (retries, dead)
    return busy


def queue_internals(ctx: TimeContext) -> Figure:
    """Backlog, worker throughput, retries and dead letters; load end and drain end marked.
    The retries panel is drawn only when some design retried or dead-lettered a job; otherwise
    the backlog panel says so."""
    queued = [d for d in ctx.data.designs.values() if d.uses_queue]
    busy = _retry_series(ctx)
    fig, axes = style.figure(3 if busy else 2, height=2.6)
    top, middle = axes[0], axes[1]
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
    if queued and not busy:
        notes.append("no retries and no dead letters in any design")
    style.panel_title(top, "\n".join([title, *notes]), above_labels=True)

    first = next(iter(ctx.outcomes.values()), None)
    if first is not None and first["offered"].sum() > 0:
        middle.plot(
            first.index + 0.5,
            first["offered"],
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
    style.panel_title(
        middle, "Email throughput: the provider's accepted emails per second (by acceptance time)"
    )

    if busy:
        bottom = axes[2]
        for name, (retries, dead) in busy.items():
            series, colour = ctx.series[name], ctx.colours[name]
            if retries is not None and retries.sum() > 0:
                bottom.plot(
                    series.index + 0.5, retries, color=colour, label=f"{name} retries scheduled"
                )
            if dead is not None and dead.sum() > 0:
                bottom.plot(
                    series.index + 0.5, dead, color=colour, ls="--", label=f"{name} dead-lettered"
                )
        quiet = [d.name for d in queued if d.name not in busy]
        if quiet:
            for name in quiet:
                bottom.plot([], [], color=ctx.colours[name], label=f"{name}: none")
        bottom.set_ylabel("jobs per second")
        bottom.set_ylim(bottom=0)
        style.panel_title(bottom, "Retries and dead letters per second")
    axes[-1].set_xlabel(TIME_LABEL)

    ctx.frame(axes)
    for ax in axes:
        for design in queued:
            style.mark_time(
                ax,
                design.drain_end_s,
                f"{design.name} drain ends",
                label=ax is top and len(queued) == 1,
            )
        style.legend_outside(ax)
    fig.suptitle(
        "Async internals: backlog, worker throughput"
        + (", retries and dead letters" if busy else "")
    )
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


#: the timeout line is drawn when the data comes within this factor of it; further off, it
#: would only stretch a log axis over decades without data
TIMEOUT_NEAR = 3.0


def _client_timeout_line(ax: Axes, ctx: TimeContext) -> str:
    """A dotted line at the client timeout, the ceiling a latency can hit, when the data
    approaches it; otherwise the note to put in the panel title instead."""
    timeout = ctx.client_timeout_s
    if not timeout:
        return ""
    timeout_ms = timeout * 1000
    values = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    highest = max((float(np.nanmax(v)) for v in values if np.isfinite(v).any()), default=0.0)
    if highest * TIMEOUT_NEAR < timeout_ms:
        return f"client timeout {style.ms_label(timeout_ms)}: far above every value, not drawn"
    ax.axhline(
        timeout_ms,
        color=style.MARKER_LINE,
        ls=":",
        lw=1,
        label=f"client timeout ({style.ms_label(timeout_ms)})",
    )
    return ""


def _centred_note(ax: Axes, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#555555",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )


__all__ = [
    "TimeContext",
    "bystanders",
    "latency_over_time",
    "queue_internals",
    "throughput_and_errors",
]
