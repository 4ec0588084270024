"""The sweep page's charts: each design's latency-throughput curve per provider latency, and
the crossover map. Drawn in the report's style (its colours, fonts and file pair).

A cell that is invalid — its generator or the machine fell behind the schedule — is drawn
hollow and left out of the line, never as the system's figure; on the map it is hatched.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from offload.analysis import numbers
from offload.report import style
from offload.sweep.analysis import INVALID, NO_CLEAR, NO_FIGURE
from offload.sweep.rundir import CellFigures, Percentile, SweepSummary
from offload.units import format_duration

TIE_GREY = "#D9D9D9"


def _rate_axis(ax: Axes, rates: list[float], searched: list[float]) -> None:
    """The grid's rates labelled; the search's rates ticked without a label (they crowd)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(rates))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator([r for r in searched if r not in rates]))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _cells(summary: SweepSummary, design: str, latency: float) -> list[CellFigures]:
    return sorted(
        (c for c in summary.cells if c.design == design and c.latency_s == latency),
        key=lambda c: c.rate,
    )


def _draw_curve(ax: Axes, err_ax: Axes, cells: list[CellFigures], colour: str) -> None:
    """p99 (solid, with its interval) and p50 (dashed) of the valid cells; invalid hollow."""
    valid = [c for c in cells if c.valid and c.slo_figure.value is not None]
    for key, line in (("p99", "-"), ("p50", "--")):
        points: list[tuple[float, float, Percentile]] = []
        for cell in valid:
            point = cell.slo_figure if key == "p99" else cell.latency.get("p50")
            if point is not None and point.value is not None:
                points.append((cell.rate, point.value, point))
        if not points:
            continue
        ax.plot(
            [r for r, _, _ in points],
            [v for _, v, _ in points],
            line,
            color=colour,
            lw=1.6,
            zorder=3,
        )
        for rate, value, point in points:
            marker = "o" if point.key in ("p99", "p50") else "^"
            ax.plot(rate, value, marker, color=colour, ms=5, zorder=4)
            if point.ci is not None:
                ax.vlines(rate, point.ci.low, point.ci.high, color=colour, lw=1.0)
    for cell in cells:
        if not cell.valid and cell.slo_figure.value is not None:
            ax.plot(cell.rate, cell.slo_figure.value, "o", mfc="none", mec=colour, ms=8, mew=1.5)
    err_points = [(c.rate, c.error_rate) for c in valid if c.error_rate is not None]
    if err_points:
        err_ax.plot(
            [r for r, _ in err_points], [e * 100 for _, e in err_points], "o-", color=colour, ms=4
        )
        for cell in valid:
            if cell.error_rate_ci is not None:
                err_ax.vlines(
                    cell.rate,
                    cell.error_rate_ci.low * 100,
                    cell.error_rate_ci.high * 100,
                    color=colour,
                    lw=1.0,
                )
    for cell in cells:
        if not cell.valid and cell.error_rate is not None:
            err_ax.plot(cell.rate, cell.error_rate * 100, "o", mfc="none", mec=colour, ms=8)


def _draw_confirm_beside(ax: Axes, cells: list[CellFigures], colour: str) -> None:
    """The bare confirm p99 the probe measured beside each valid cell's load: the accept
    path's floor at that rate, where the idle probe's flat line is not."""
    points = [
        (c.rate, c.broker_confirm_p99_ms) for c in cells if c.valid and c.broker_confirm_p99_ms
    ]
    if points:
        ax.plot(
            [r for r, _ in points], [v for _, v in points], ":", marker="x", color=colour, lw=1.0
        )


def curves(summary: SweepSummary, colours: dict[str, str]) -> Figure:
    """One column per provider latency: signup latency on top, failed share below."""
    latencies = summary.latencies_s
    fig, axes = style.figure(2, len(latencies), height=3.0, width=4.2 * len(latencies) + 2)
    rates = summary.rates
    searched = sorted({c.rate for c in summary.cells})
    for column, latency in enumerate(latencies):
        ax, err_ax = axes[column], axes[len(latencies) + column]
        for design in summary.designs:
            _draw_curve(ax, err_ax, _cells(summary, design, latency), colours[design])
            _draw_confirm_beside(ax, _cells(summary, design, latency), colours[design])
            knee = summary.knees.get(design, {}).get(format_duration(latency))
            if knee is not None:
                ax.axvline(knee.rate, color=colours[design], ls=":", lw=1.2, zorder=2)
                ax.annotate(
                    f"knee {knee.rate:g}/s",
                    (knee.rate, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    ha="right",
                    va="top",
                    fontsize=8,
                    color=colours[design],
                )
        ax.axhline(summary.slo_p99_ms, color="#444444", lw=1.0, ls="-.", zorder=1)
        if summary.broker_confirm_p99_ms:  # measured when a design of the sweep uses it
            ax.axhline(
                summary.broker_confirm_p99_ms, color=style.FIXED["async"], lw=1.0, ls=(0, (1, 2))
            )
        err_ax.axhline(summary.slo_errors * 100, color="#444444", lw=1.0, ls="-.")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(style.ms_label))
        _rate_axis(ax, rates, searched)
        _rate_axis(err_ax, rates, searched)
        style.panel_title(ax, f"provider {format_duration(latency)}")
        err_ax.set_xlabel("offered signups/s")
        if column == 0:
            ax.set_ylabel("signup latency")
            err_ax.set_ylabel("failed signups (%)")
    handles = [Line2D([], [], color=colours[d], marker="o", label=d) for d in summary.designs]
    handles += [
        Line2D([], [], color="#555555", ls="-", label="p99 (bar: 95 % interval)"),
        Line2D([], [], color="#555555", ls="--", label="p50"),
        Line2D([], [], color="#555555", ls="", marker="^", label="slowest (< 1,000 signups)"),
        Line2D([], [], color="#555555", ls="", marker="o", mfc="none", ms=8, label="invalid cell"),
        Line2D([], [], color="#444444", ls="-.", label="SLO"),
    ]
    if summary.broker_confirm_p99_ms:
        handles.append(
            Line2D(
                [],
                [],
                color=style.FIXED["async"],
                ls=(0, (1, 2)),
                label="broker confirm p99 (idle)",
            )
        )
    if any(c.broker_confirm_p99_ms for c in summary.cells):
        handles.append(
            Line2D([], [], color="#555555", ls=":", marker="x", label="confirm p99 beside the load")
        )
    fig.legend(handles=handles, loc="outside right upper")
    return fig


def crossover_map(summary: SweepSummary, colours: dict[str, str]) -> Figure:
    """Two grids of (rate × latency) cells: the winner on signup latency and on CPU."""
    rates, latencies = summary.rates, summary.latencies_s
    fig, axes = style.figure(
        1,
        2,
        height=0.9 * len(latencies) + 1.2,
        width=max(9.0, 1.7 * len(rates) * 2),
        sharex=False,
    )
    by_cell = {(c.rate, c.latency_s): c for c in summary.crossover}
    # an e2e p95 of a backlog that had not drained counts only what was delivered: a bound
    not_drained = {
        (c.design, c.rate, c.latency_s): c.drained is False
        for c in summary.cells
        if c.purpose == "grid"
    }
    for ax, which in zip(axes, ("latency", "cpu"), strict=True):
        for row, latency in enumerate(latencies):
            for column, rate in enumerate(rates):
                entry = by_cell.get((rate, latency))
                won = (
                    INVALID
                    if entry is None
                    else entry.p99_winner
                    if which == "latency"
                    else entry.cpu_winner
                )
                face = colours.get(won, TIE_GREY if won == NO_CLEAR else "white")
                invalid = won == INVALID
                ax.add_patch(
                    Rectangle(
                        (column, row),
                        1,
                        1,
                        facecolor=face,
                        edgecolor="#999999" if invalid else "white",
                        lw=0.8 if invalid else 2,
                        hatch="///" if invalid else None,
                        alpha=0.85,
                    )
                )
                text = {NO_CLEAR: "tie", INVALID: "invalid", NO_FIGURE: "no figure"}.get(won, won)
                if entry is not None and not invalid and which == "latency":
                    if entry.p99_key != "p99":
                        text += f"\n(on {entry.p99_key})"
                    for design, e2e in entry.e2e_p95_ms.items():
                        if e2e is not None and math.isfinite(e2e):
                            bound = "≥ " if not_drained.get((design, rate, latency)) else ""
                            text += f"\n{design} e2e p95 {bound}{numbers.ms(e2e)}"
                if entry is not None and not invalid and which == "cpu":
                    if entry.cpu_unanswered:
                        text += f"\n({', '.join(entry.cpu_unanswered)}: none answered)"
                    if entry.cpu_lower_bound:
                        text += f"\n({', '.join(entry.cpu_lower_bound)} ≥: not drained)"
                ax.text(column + 0.5, row + 0.5, text, ha="center", va="center", fontsize=7.5)
        ax.set_xlim(0, len(rates))
        ax.set_ylim(0, len(latencies))
        ax.set_xticks([i + 0.5 for i in range(len(rates))], [f"{r:g}/s" for r in rates])
        ax.set_yticks(
            [i + 0.5 for i in range(len(latencies))], [format_duration(v) for v in latencies]
        )
        ax.grid(False)
        ax.set_xlabel("offered signups/s")
        style.panel_title(ax, "signup latency" if which == "latency" else "CPU per signup")
    axes[0].set_ylabel("provider latency")
    handles = [Patch(facecolor=colours[d], label=f"{d} wins") for d in summary.designs]
    handles += [
        Patch(facecolor=TIE_GREY, label="no clear difference (intervals overlap)"),
        Patch(facecolor="white", edgecolor="#777777", hatch="///", label="invalid cell"),
        Patch(
            facecolor="white", edgecolor="#777777", label="no figure (under two designs answered)"
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig


def draw(
    summary: SweepSummary, colours: dict[str, str], directory: Path
) -> tuple[dict[str, Path], list[str]]:
    """Both charts as PNG (+ SVG); a chart that fails is a panel naming the error, and the
    error is returned for the page's banner."""
    files: dict[str, Path] = {}
    problems: list[str] = []
    for name, function in (("curves", curves), ("crossover", crossover_map)):
        if name == "crossover" and not summary.crossover:  # one design: nothing to compare
            style.remove(directory / name)  # nor one an earlier `--analyse` drew here
            continue
        with plt.rc_context(style.RC):
            try:
                fig = function(summary, colours)
            except Exception as exc:  # the page must still be written; the failure is shown
                problems.append(f"chart '{name}' could not be drawn: {exc}")
                fig, (ax,) = style.figure(height=2.5)
                style.no_data(ax, f"chart '{name}' could not be drawn: {exc}")
            files[name] = style.save(fig, directory / name)[0]
    return files, problems
