"""Worker scaling: drain time and end-to-end p95 against the number of queue workers.

Drawn for scenarios that run the same queue-backed target with several worker counts (for
example ``scenarios/worker-scaling.yaml``). Beside each measurement, the capacity model's
prediction: ``workers × prefetch ÷ provider latency`` emails per second drain the backlog the
load left behind (arrivals above that rate pile up), so the drain takes
``backlog ÷ capacity`` plus one provider call.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from offload.analysis import numbers
from offload.analysis.comparison import ScenarioAnalysis
from offload.analysis.phases import mean_signup_rate, provider_profile_at, scenario_model
from offload.report import style


@dataclass(frozen=True)
class ScalingPoint:
    design: str
    workers: int
    drain_s: float | None
    e2e_p95_ms: float | None
    predicted_drain_s: float | None
    capacity_per_s: float | None


def scaling_points(analysis: ScenarioAnalysis) -> list[ScalingPoint]:
    """One point per queue-backed design, ordered by worker count."""
    data = analysis.data
    scenario = scenario_model(data.scenario)
    points = []
    for name, design in data.designs.items():
        workers = design.config.workers
        if not design.uses_queue or workers is None:
            continue
        predicted = capacity = None
        if scenario is not None and workers > 0:
            latency = provider_profile_at(scenario, 0.0).latency
            timeout = design.config.provider_timeout_s or latency
            call = max(min(latency, timeout), 1e-3)
            capacity = workers * (design.config.prefetch or 1) / call
            arrivals = mean_signup_rate(scenario, 0.0, data.duration_s) * data.duration_s
            left = max(0.0, arrivals - capacity * data.duration_s)
            predicted = left / capacity + call
        points.append(
            ScalingPoint(
                design=name,
                workers=workers,
                drain_s=design.summary.queue.drain_seconds if design.summary.queue else None,
                e2e_p95_ms=design.summary.e2e_ms.p95,
                predicted_drain_s=predicted,
                capacity_per_s=capacity,
            )
        )
    return sorted(points, key=lambda p: p.workers)


def applies(analysis: ScenarioAnalysis) -> bool:
    """Only scenarios that compare worker counts get this chart."""
    return len({p.workers for p in scaling_points(analysis)}) >= 2


def worker_scaling(analysis: ScenarioAnalysis, colours: dict[str, str]) -> Figure:
    points = scaling_points(analysis)
    fig, (drain_ax, e2e_ax) = style.figure(1, 2, height=3.8, sharex=False)
    workers = [p.workers for p in points]
    for ax in (drain_ax, e2e_ax):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(workers))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        ax.set_xlabel("queue worker processes")
    measured = [(p.workers, p.drain_s) for p in points if p.drain_s is not None]
    drain_ax.plot(*zip(*measured, strict=True), "o-", color="#333333", label="measured")
    for p in points:
        if p.drain_s is not None:
            drain_ax.plot(p.workers, p.drain_s, "o", color=colours.get(p.design, "#333333"), ms=9)
            drain_ax.annotate(
                p.design,
                (p.workers, p.drain_s),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
    predicted = [(p.workers, p.predicted_drain_s) for p in points if p.predicted_drain_s]
    if predicted:
        drain_ax.plot(
            *zip(*predicted, strict=True),
            "s--",
            color="#999999",
            mfc="none",
            label="capacity model: backlog ÷ (workers × prefetch ÷ latency)",
        )
    drain_ax.set_ylabel("seconds from load end to last job done")
    drain_ax.set_ylim(bottom=0)
    style.panel_title(drain_ax, "Drain time after the load")
    drain_ax.legend(loc="upper right", fontsize=8)
    e2e = [(p.workers, p.e2e_p95_ms) for p in points if p.e2e_p95_ms is not None]
    if e2e:
        e2e_ax.plot(*zip(*e2e, strict=True), "o-", color="#333333")
        for p in points:
            if p.e2e_p95_ms is not None:
                e2e_ax.plot(
                    p.workers, p.e2e_p95_ms, "o", ms=9, color=colours.get(p.design, "#333333")
                )
                e2e_ax.annotate(
                    numbers.ms(p.e2e_p95_ms),
                    (p.workers, p.e2e_p95_ms),
                    textcoords="offset points",
                    xytext=(6, 6),
                    fontsize=8,
                )
        style.log_ms_axis(e2e_ax)
    else:
        style.no_data(e2e_ax, "no email was completed")
    e2e_ax.set_ylabel("email end-to-end p95")
    style.panel_title(e2e_ax, "End-to-end completion p95 (scheduled signup → email accepted)")
    fig.suptitle("Background work against the number of workers")
    return fig
