"""One look for every chart: colour-blind-safe design colours, readable type, phases shaded.

Colours are Okabe–Ito, one per known design, declared once in :data:`FIXED`: a design keeps
its colour in every chart of every report (sync orange, async blue, …), so a reader learns them
once. Any other name (a variant such as ``async-w4``, a user's own target) takes the next
colour of :data:`FALLBACK` in name order — a palette that shares no colour with ``FIXED``, so
a variant never looks like a known design.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory

from offload.rundir.manifest import PhaseRecord

#: Okabe–Ito (yellow left out: unreadable on white). The sync family is warm, the
#: queue-backed and event-loop designs cool.
FIXED: dict[str, str] = {
    "sync": "#E69F00",  # orange
    "sync-threads": "#D55E00",  # vermillion
    "inline-async": "#CC79A7",  # reddish purple
    "background": "#009E73",  # bluish green
    "outbox": "#56B4E9",  # sky blue
    "async": "#0072B2",  # blue
}
#: for every other design name, in name order: black, then Paul Tol's "muted" colours that
#: are far from every Okabe–Ito colour above, then greys; cycled past its end
FALLBACK = (
    "#000000",
    "#882255",
    "#117733",
    "#332288",
    "#999933",
    "#AA4499",
    "#44AA99",
    "#DDCC77",
    "#777777",
    "#BBBBBB",
)
FAULT_SHADE = "#F4D6CF"
PHASE_LINE = "#8C8C8C"
MARKER_LINE = "#444444"

#: readable at 100 % zoom in a browser and projected on a slide
#: keyed by Any: matplotlib types rc keys as a Literal union that a plain str never matches
RC: dict[Any, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",
    "svg.hashsalt": "offload",
    "savefig.dpi": 110,
}


def design_colours(names: Iterable[str]) -> dict[str, str]:
    """The colour of every design of a run: a known design's own (:data:`FIXED`), the others
    the :data:`FALLBACK` colours in name order (the same names always get the same colours)."""
    listed = list(dict.fromkeys(names))
    colours = {name: FIXED[name] for name in listed if name in FIXED}
    others = sorted(name for name in listed if name not in FIXED)
    for i, name in enumerate(others):
        colours[name] = FALLBACK[i % len(FALLBACK)]
    return {name: colours[name] for name in listed}


def figure(
    rows: int = 1,
    cols: int = 1,
    *,
    height: float = 3.2,
    width: float = 11.0,
    sharex: bool = True,
    **kwargs: Any,
) -> tuple[Figure, list[Axes]]:
    """A figure of ``rows × cols`` panels (flat list of axes), in the report's style."""
    with plt.rc_context(RC):
        fig, axes = plt.subplots(
            rows,
            cols,
            figsize=(width, height * rows + 0.9),
            sharex=sharex,
            squeeze=False,
            layout="constrained",
            **kwargs,
        )
    return fig, [ax for row in axes for ax in row]


def ms_label(value: float, _pos: object = None) -> str:
    if value <= 0 or not math.isfinite(value):
        return ""
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms"


#: a log axis spans at least this ratio, so that it carries at least two labelled ticks
MIN_LOG_SPAN = 5.0


def log_ms_axis(ax: Axes, axis: str = "y") -> None:
    """A log scale in milliseconds labelled ``1 ms``, ``3 ms``, ``10 ms`` … ``1 s``, ``3 s``
    (decades only when the data spans more than four of them)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if low > 0 and high / low < MIN_LOG_SPAN:  # nearly constant data: show its neighbourhood
        middle = math.sqrt(low * high)
        low, high = middle / math.sqrt(MIN_LOG_SPAN), middle * math.sqrt(MIN_LOG_SPAN)
        (ax.set_ylim if axis == "y" else ax.set_xlim)(low, high)
    decades = math.log10(high / low) if low > 0 and high > low else 3
    majors = (1.0, 2.0, 5.0) if decades <= 1.6 else (1.0, 3.0) if decades <= 4.5 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=majors))
    target.set_major_formatter(FuncFormatter(ms_label))
    minors = [m for m in (2.0, 3.0, 4.0, 5.0, 7.0) if m not in majors]
    target.set_minor_locator(LogLocator(base=10, subs=minors))
    target.set_minor_formatter(NullFormatter())


def shade_phases(
    ax: Axes,
    phases: list[PhaseRecord],
    disturbed: set[str],
    *,
    label: bool = True,
    x_max: float | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """Shade the disturbed phases, line every boundary and (top panel) name every phase with
    the provider's behaviour in it, above the plot where it never covers data."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    span = max((x_max or 0), max((p.end_s for p in phases), default=1.0)) or 1.0
    for phase in phases:
        start, end = phase.start_s, phase.end_s
        if phase.name in disturbed:
            ax.axvspan(start, end, color=FAULT_SHADE, alpha=0.7, zorder=0, lw=0)
        if start > 0:
            ax.axvline(start, color=PHASE_LINE, lw=0.8, ls="--", zorder=1)
        if label:
            wide = (end - start) / span > 0.14
            detail = (labels or {}).get(phase.name, phase.provider)
            text = phase.name + (f"\n{detail}" if wide and detail else "")
            ax.text(
                (start + end) / 2,
                1.02,
                text,
                transform=trans,
                ha="center",
                va="bottom",
                fontsize=8.5,
                color="#333333",
                clip_on=False,
                fontweight="bold" if phase.name in disturbed else "normal",
            )


def mark_time(ax: Axes, x: float | None, text: str, *, label: bool = True) -> None:
    """A vertical marker (load end, drain end) with its name along the line."""
    if x is None or not math.isfinite(x):
        return
    ax.axvline(x, color=MARKER_LINE, lw=1.0, ls=":", zorder=2)
    if label:
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.text(
            x,
            0.97,
            f" {text}",
            transform=trans,
            rotation=90,
            ha="right",
            va="top",
            fontsize=8,
            color=MARKER_LINE,
        )


def legend_outside(ax: Axes, **kwargs: Any) -> None:
    """The legend to the right of the panel, so it never covers a line."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        options = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
        ax.legend(handles, labels, **{**options, **kwargs})


def no_data(ax: Axes, message: str = "no data") -> None:
    """An empty panel that says why it is empty (the chart file is still produced)."""
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color="#777777",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def panel_title(ax: Axes, text: str, *, above_labels: bool = False) -> None:
    ax.set_title(text, loc="left", pad=30 if above_labels else 6, fontsize=10.5)


#: the files of one chart: PNG for pages, SVG for slides
CHART_SUFFIXES = (".png", ".svg")


def save(fig: Figure, base: Path) -> list[Path]:
    """Write ``base.png`` (for pages) and ``base.svg`` (for slides); close the figure."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context(RC):
        for suffix in CHART_SUFFIXES:
            path = base.with_suffix(suffix)
            # no creator/date metadata: it names a URL and makes files differ run to run
            metadata = {"Date": None, "Creator": None} if suffix == ".svg" else {"Software": None}
            fig.savefig(path, bbox_inches="tight", pad_inches=0.15, metadata=metadata)
            paths.append(path)
    plt.close(fig)
    return paths


def remove(base: Path) -> None:
    """Delete the files :func:`save` writes for ``base``, if any: a chart no longer drawn must
    not stay beside a page that was written again without it."""
    for suffix in CHART_SUFFIXES:
        base.with_suffix(suffix).unlink(missing_ok=True)
