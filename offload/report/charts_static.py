"""The charts without a time axis: percentile spectrum, completion CDF, delivery ledger, cost,
and the whole-run overview. Each compares the designs on the same axes, one colour per
design (``style.design_colours``)."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, PercentFormatter

from offload.analysis import numbers
from offload.analysis.comparison import ScenarioAnalysis
from offload.analysis.cost import cost_figures, is_rig
from offload.analysis.percentiles import SPECTRUM
from offload.analysis.uncertainty import TAIL_SAMPLES
from offload.report import style
from offload.rundir.manifest import PhaseRecord
from offload.rundir.summary import Summary

NINES_TICKS = (50, 75, 90, 95, 99, 99.9, 99.99)
#: a percentile is drawn only when at least this many requests lie beyond it (the report's
#: one support rule): p99 needs 1,000 requests, p99.9 10,000; above it the "percentile" is
#: just the slowest few requests
BEYOND_MIN = TAIL_SAMPLES


def supported_percentile(count: int) -> float | None:
    """The highest percentile a sample of ``count`` requests supports (``BEYOND_MIN``
    requests beyond it), or None when even the median does not qualify."""
    if count <= 0:
        return None
    highest = 100.0 * (1 - BEYOND_MIN / count)
    return highest if highest >= SPECTRUM[0] else None


def _nines(percentile: Any) -> Any:
    """Position on the "nines" axis: p90 → 1, p99 → 2, p99.9 → 3."""
    return -np.log10(1 - np.asarray(percentile, dtype=float) / 100)


def _per_design(label: str, values: dict[str, str]) -> str:
    """``signups: 130 each`` when every design has the same, else ``signups: sync 130, …``
    wrapped to a panel's width (five designs would run into the next panel)."""
    if len(values) > 1 and len(set(values.values())) == 1:
        return f"{label}: {next(iter(values.values()))} each"
    listed = ", ".join(f"{name} {value}" for name, value in values.items())
    return textwrap.fill(f"{label}: {listed}", width=48)


def latency_spectrum(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
    """Signup latency at p50 … p99.99 per phase, on a log "nines" axis (HDR percentiles)."""
    phases = analysis.data.phases or [PhaseRecord(name="overall", start_s=0.0, end_s=0.0)]
    cols = min(len(phases), 3)
    rows = math.ceil(len(phases) / cols)
    fig, axes = style.figure(rows, cols, height=3.4, sharex=True, sharey=True)
    table = analysis.tables["spectrum"]
    signup = table[table["endpoint"] == "signup"]
    drawn_to = float(SPECTRUM[0])
    for ax, phase in zip(axes, phases, strict=False):
        inside = signup[signup["phase"] == phase.name]
        counts: dict[str, int] = {}
        cut: dict[str, str] = {}
        for name in analysis.data.designs:
            rows_ = inside[inside["design"] == name].sort_values("percentile")
            if rows_.empty:
                continue
            count = int(rows_["count"].iloc[0])
            highest = supported_percentile(count)
            counts[name] = count
            rows_ = rows_[rows_["percentile"] <= (highest or 0) + 1e-9]
            if rows_.empty:
                cut[name] = "too few for any percentile"
                continue
            drawn_to = max(drawn_to, float(rows_["percentile"].iloc[-1]))
            if rows_["percentile"].iloc[-1] < SPECTRUM[-1]:
                cut[name] = f"to p{rows_['percentile'].iloc[-1]:g}"
            ax.plot(
                _nines(rows_["percentile"]),
                rows_["latency_ms"],
                color=colours[name],
                marker="o",
                ms=3.5,
                label=name,
            )
        lines = [phase.name]
        if analysis.phase_labels.get(phase.name):
            lines.append(analysis.phase_labels[phase.name])
        if counts:
            lines.append(_per_design("signups", {n: f"{c:,}" for n, c in counts.items()}))
        if cut:
            lines.append(_per_design("drawn", cut))
        ax.set_title("\n".join(lines), loc="left", fontsize=9, fontweight="normal")
        if not ax.lines:
            style.no_data(
                ax,
                f"too few signups for a spectrum (at least {2 * BEYOND_MIN} per design)"
                if counts
                else "no signups in this phase",
            )
            continue
        style.log_ms_axis(ax)
        ax.xaxis.set_major_locator(FixedLocator(_nines(NINES_TICKS)))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: f"p{100 - 100 * 10 ** (-x):.4g}")
        )
    for ax in axes[: len(phases)]:
        # the axis ends a little past the highest percentile drawn in any panel: no room for
        # percentiles this sample cannot support
        ax.set_xlim(_nines(SPECTRUM[0]) - 0.15, _nines(drawn_to) + 0.3)
        ax.set_xlabel("percentile (log 'nines' scale)")
    for ax in axes[len(phases) :]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("signup response latency")
    style.legend_outside(axes[min(cols, len(phases)) - 1])
    fig.suptitle(
        "Signup latency percentile spectrum per phase (HDR histograms, as far as the sample goes)"
    )
    fig.text(
        0.0,
        -0.01,
        f"Each curve stops at the highest percentile with at least {BEYOND_MIN} signups beyond "
        f"it (p99 needs {BEYOND_MIN * 100:,} signups, p99.9 {BEYOND_MIN * 1000:,}); higher "
        "percentiles of a smaller sample are only its slowest few requests and are not drawn.",
        ha="left",
        va="top",
        fontsize=8.5,
        color="#555555",
        wrap=True,
    )
    return fig


def completion_cdf(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
    """CDF of end-to-end completion (signup scheduled → email accepted) against the
    response latency the client saw, per design."""
    fig, (ax,) = style.figure(height=4.2)
    table = analysis.tables["completion"]
    for name in analysis.data.designs:
        for measure, ls, label in (
            ("end_to_end", "-", "email completed end to end"),
            ("response", "--", "response to the client"),
        ):
            values = np.sort(
                table[(table["design"] == name) & (table["measure"] == measure)]["ms"].to_numpy()
            )
            values = values[values > 0]
            if not len(values):
                continue
            y = np.arange(1, len(values) + 1) / len(values)
            if len(values) > 2000:  # keep the SVG small; the shape is unchanged
                keep = np.unique(np.linspace(0, len(values) - 1, 2000).astype(int))
                values, y = values[keep], y[keep]
            ax.step(
                values,
                y,
                where="post",
                color=colours[name],
                ls=ls,
                lw=1.8 if measure == "end_to_end" else 1.3,
                label=f"{name}: {label}",
            )
    if not ax.lines:
        style.no_data(ax, "no completed signups")
        return fig
    style.log_ms_axis(ax, axis="x")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    for level in (0.5, 0.95):
        ax.axhline(level, color="#BBBBBB", lw=0.8, zorder=1)
        ax.text(
            1.0,
            level,
            f" p{level * 100:g}",
            transform=ax.get_yaxis_transform(),
            va="center",
            ha="left",
            fontsize=8,
            color="#666666",
        )
    ax.set_xlabel("time from the scheduled signup (log scale)")
    ax.set_ylabel("share of signups finished")
    style.panel_title(ax, "Solid: welcome email accepted by the provider. Dashed: HTTP response.")
    style.legend_outside(ax, bbox_to_anchor=(1.06, 1.0))
    fig.suptitle("End-to-end completion vs response latency (cumulative distribution)")
    return fig


LEDGER_PROBLEMS = (
    ("emails", "lost", "lost (never delivered)"),
    ("emails", "duplicates", "delivered more than once"),
    ("emails", "dead_lettered", "dead-lettered"),
    ("emails", "pending", "still pending after drain"),
    ("emails", "orphaned", "email for a user not stored"),
    ("consistency", "stored_but_failed", "client saw failure, user stored"),
    ("consistency", "acknowledged_but_missing", "client saw 2xx, user missing"),
)


def delivery_ledger(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
    """Per design: emails delivered exactly once out of those owed, and every way it went
    wrong (each count labelled, zeros included)."""
    names = list(analysis.data.designs)
    # every design gets a bar in each of the six problem rows: taller with more designs
    height = 3.8 + 0.45 * max(0, len(names) - 2)
    fig, (left, right) = style.figure(
        1, 2, height=height, sharex=False, gridspec_kw={"width_ratios": [1, 1.6]}
    )
    if not names:
        style.no_data(left)
        style.no_data(right)
        return fig
    y = np.arange(len(names))
    for i, name in enumerate(names):
        emails = analysis.data.designs[name].summary.emails
        if emails is None:  # the tables were not exported: no bar, and say so
            left.text(0, i, f"  {analysis.data.designs[name].summary.no_ledger}", va="center")
            continue
        owed, delivered = emails.owed, emails.delivered
        left.barh(i, owed, color="white", edgecolor=colours[name], lw=1.2, height=0.6)
        left.barh(i, delivered, color=colours[name], height=0.6, label=f"{name}")
        left.text(max(owed, delivered), i, f"  {delivered:,} of {owed:,}", va="center", fontsize=9)
    left.set_yticks(y, names)
    left.invert_yaxis()
    left.set_xlabel("users (each owes one welcome email)")
    left.margins(x=0.35)
    style.panel_title(left, "Delivered exactly once (filled) of owed (outline)")

    bar = 0.8 / len(names)
    labels = [label for _, _, label in LEDGER_PROBLEMS]
    top = 0
    for j, name in enumerate(names):
        summary = analysis.data.designs[name].summary
        if summary.emails is None or summary.consistency is None:
            continue  # no ledger: no bars (the left panel says why)
        blocks = {"emails": summary.emails.to_json(), "consistency": summary.consistency.to_json()}
        counts = [int(blocks[block].get(key) or 0) for block, key, _ in LEDGER_PROBLEMS]
        top = max(top, *counts)
        positions = np.arange(len(labels)) + (j - (len(names) - 1) / 2) * bar
        right.barh(positions, counts, height=bar * 0.95, color=colours[name], label=name)
        for pos, value in zip(positions, counts, strict=True):
            right.text(value, pos, f" {value:,}", va="center", fontsize=8)
    right.set_yticks(np.arange(len(labels)), labels)
    right.invert_yaxis()
    right.set_xlim(0, max(1, top) * 1.25)
    if top == 0:
        right.text(
            0.55,
            0.5,
            "every count is 0:\nnothing lost, duplicated or inconsistent",
            transform=right.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="#555555",
        )
    right.set_xlabel("users")
    style.panel_title(right, "What went wrong (0 everywhere is the goal)")
    style.legend_outside(right)
    fig.suptitle("Delivery ledger per design, from the provider's own log after the drain")
    return fig


def cost(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
    """CPU seconds and peak RSS per component, and CPU per 1,000 successful signups."""
    fig = plt.figure(figsize=(11, 7.0), layout="constrained")
    axes = fig.subplot_mosaic([["cpu", "rss"], ["per", "per"]], height_ratios=[2.3, 1])
    cpu_ax, rss_ax, per_ax = axes["cpu"], axes["rss"], axes["per"]
    rows = []
    for name, design in analysis.data.designs.items():
        for component, use in design.summary.resources.items():
            rows.append((name, component, use.cpu_s, use.peak_rss_mb))
    if not rows:
        for ax in (cpu_ax, rss_ax, per_ax):
            style.no_data(ax, "no resource samples")
        return fig
    rows.sort(key=lambda r: (list(analysis.data.designs).index(r[0]), is_rig(r[1]), r[1]))
    labels = [f"{d} · {c}" + (" (test rig)" if is_rig(c) else "") for d, c, _, _ in rows]
    y = np.arange(len(rows))
    for ax, values, unit, title in (
        (cpu_ax, [cpu for _, _, cpu, _ in rows], "CPU seconds", "CPU used during the run"),
        (rss_ax, [rss for _, _, _, rss in rows], "MB", "Peak resident memory (RSS)"),
    ):
        bars = ax.barh(y, values, color=[colours[r[0]] for r in rows], height=0.7)
        for bar, row in zip(bars, rows, strict=True):
            if is_rig(row[1]):
                bar.set_alpha(0.35)
                bar.set_hatch("//")
        for pos, value in enumerate(values):
            ax.text(value, pos, f" {value:,.1f}", va="center", fontsize=8)
        ax.set_xlim(0, max(values) * 1.22 or 1)
        ax.set_xlabel(unit)
        ax.set_title(title, loc="left", fontsize=10.5)
        ax.invert_yaxis()
    cpu_ax.set_yticks(y, labels)
    rss_ax.set_yticks(y, [""] * len(y))
    names = list(analysis.data.designs)
    per = [cost_figures(analysis.data.designs[n].summary) for n in names]
    values = [p.cpu_per_1000_signups or 0.0 for p in per]
    per_ax.barh(np.arange(len(names)), values, color=[colours[n] for n in names], height=0.6)
    for pos, figures in enumerate(per):
        broker = ", broker included" if figures.broker_included else ""
        text = (
            f" {numbers.seconds(figures.cpu_per_1000_signups)}  "
            f"({numbers.seconds(figures.cpu_own_s)} over {figures.ok_signups:,} "
            f"successful signups{broker})"
        )
        per_ax.text(values[pos], pos, text, va="center", fontsize=8.5)
    per_ax.set_yticks(np.arange(len(names)), names)
    per_ax.invert_yaxis()
    per_ax.set_xlim(0, max(values or [1]) * 2.4 or 1)
    per_ax.set_xlabel("CPU seconds per 1,000 successful signups (design's own components)")
    per_ax.set_title(
        "CPU per 1,000 successful signups (provider and generator excluded)",
        loc="left",
        fontsize=10.5,
    )
    fig.suptitle("Cost: CPU and memory per component (hatched: test rig, not the design)")
    return fig


def _signup_p95(summary: Summary, design: str) -> float | None:
    figures = summary.designs.get(design)
    return figures.signup.overall.latency_ms.p95 if figures else None


def _e2e_p95(summary: Summary, design: str) -> float | None:
    figures = summary.designs.get(design)
    return figures.e2e_ms.p95 if figures else None


OVERVIEW_MARKERS = ("o", "s", "D", "^", "v", "P")


def run_overview(analyses: list[ScenarioAnalysis], colours: dict[str, str]) -> Figure:
    """Per scenario, each design's signup response p95 and email end-to-end p95, as dots on
    a log axis: a bar on a log axis starts at an arbitrary base, so its length says nothing;
    a dot's position is the value itself."""
    scenarios = [a.data.folder for a in analyses]
    fig, (left, right) = style.figure(
        1, 2, height=max(2.6, 0.55 * len(scenarios) + 1.0), sharex=False, sharey=True
    )
    names = list(colours)
    step = 0.5 / max(1, len(names))
    y = np.arange(len(scenarios))
    for ax, read, title in (
        (left, _signup_p95, "Signup response p95 (the client waits)"),
        (right, _e2e_p95, "Welcome email end-to-end p95 (the job is done)"),
    ):
        for j, name in enumerate(names):
            values = [read(a.data.summary, name) for a in analyses]
            positions = y + (j - (len(names) - 1) / 2) * step
            shown = [(p, v) for p, v in zip(positions, values, strict=True) if v]
            if not shown:
                continue
            ax.plot(
                [v for _, v in shown],
                [p for p, _ in shown],
                ls="none",
                marker=OVERVIEW_MARKERS[j % len(OVERVIEW_MARKERS)],
                ms=7,
                color=colours[name],
                label=name,
            )
            for pos, value in shown:
                ax.annotate(
                    numbers.ms(value),
                    (value, pos),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7.5,
                )
        if ax.lines:
            style.log_ms_axis(ax, axis="x")
            ax.margins(x=0.25)
        else:
            style.no_data(ax, "no figures")
        ax.set_yticks(y, scenarios)
        ax.set_ylim(len(scenarios) - 0.5, -0.5)
        ax.set_xlabel("p95 (log scale)")
        style.panel_title(ax, title)
    style.legend_outside(right)
    fig.suptitle("Every scenario at a glance: how long the client waits vs when the email is done")
    return fig


__all__ = ["completion_cdf", "cost", "delivery_ledger", "latency_spectrum", "run_overview"]
