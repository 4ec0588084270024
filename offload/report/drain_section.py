"""The scenario page's "Drain rate" section: how fast each queue-backed design's workers
drained while a backlog stood, beside the capacity model's ceiling, and what bounded it.

Every figure is ``summary.json``'s ``drain_rate`` (:mod:`offload.analysis.drain`); a design
whose backlog never stood above ``workers × prefetch`` is listed with no figure, never 0.
"""

from __future__ import annotations

from offload.analysis import numbers
from offload.analysis.comparison import ScenarioAnalysis
from offload.report.document import Block, BulletList, Heading, Paragraph, Table
from offload.rundir.summary import DrainRate

NOTE = (
    "Emails the provider accepted per second while more jobs were unfinished than workers × "
    "prefetch (jobs were waiting for a worker, so the workers set the pace; counted from the "
    "job events, or the 1 Hz backlog samples without them, and from the first delivery of "
    "each stretch), beside the capacity model's ceiling workers × "
    "prefetch ÷ the provider's configured latency. By Little's law the rate is the calls at "
    "the provider at once ÷ its time per call: *at the provider* says how full the workers' "
    "windows were there, *provider time* whether the provider itself slowed. Cores: what each "
    'part used in those seconds. docs/performance.md ("Drain rate") defines the bound.'
)


def _row(name: str, figure: DrainRate | None) -> list[str]:
    if figure is None:
        return [name, "no figure: no backlog stood above workers × prefetch", *["–"] * 5]
    ceiling = figure.ceiling_jobs_per_s
    reached = f"; {numbers.pct(figure.jobs_per_s / ceiling)} reached" if ceiling else ""
    return [
        name,
        numbers.rate(figure.jobs_per_s),
        f"{numbers.count(figure.delivered)} in {numbers.seconds(figure.standing_s)}",
        f"{numbers.rate(ceiling)} ({figure.slots} ÷ {numbers.ms(figure.provider_ms)}{reached})",
        f"{figure.provider_in_flight:.1f} of {figure.slots}",
        f"{numbers.ms(figure.provider_measured_ms)} (set {numbers.ms(figure.provider_ms)})",
        f"**{figure.bound}**",
    ]


def drain_blocks(analysis: ScenarioAnalysis) -> list[Block]:
    """The section, or nothing when the scenario has no queue-backed design."""
    queued = {
        name: design.summary.drain_rate
        for name, design in analysis.data.designs.items()
        if design.uses_queue
    }
    if not queued:
        return []
    header = [
        "design",
        "drain rate",
        "delivered while the backlog stood",
        "ceiling (slots ÷ latency)",
        "at the provider at once",
        "provider time per call",
        "bound",
    ]
    reasons = []
    for name, figure in queued.items():
        if figure is None:
            continue
        cores = ", ".join(
            f"{part} {used:.2f}"
            for part, used in sorted(figure.cpu_cores.items(), key=lambda item: -item[1])
        )
        machine = (
            f"; machine {numbers.pct(figure.machine_busy_share)} busy of {figure.cores} cores"
            if figure.machine_busy_share is not None
            else ""
        )
        reasons.append(
            f"{name} — {figure.bound}: {figure.bound_reason}. Cores used: {cores or '–'}{machine}."
        )
    blocks: list[Block] = [
        Heading(3, "Drain rate"),
        Table(header, [_row(n, f) for n, f in queued.items()], ["l"] + ["r"] * 5 + ["l"]),
        Paragraph(NOTE),
    ]
    if reasons:
        blocks.append(BulletList(reasons))
    return blocks
