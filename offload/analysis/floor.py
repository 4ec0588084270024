"""The sentence every report puts next to its latency figures: the harness's own floor.

One place writes it, so the scenario page, the run page and the terminal say the same. A run
without a floor says so and why (skipped, failed, recorded before offload measured it) rather
than saying nothing: the reader must know the resolution of the figures they compare.
"""

from __future__ import annotations

from offload.analysis import numbers
from offload.rundir.floor import GeneratorFloor

#: what a run without ``floor`` in its files was: recorded before the bench measured it
OLDER_RUN = "this run was recorded before offload bench measured it"


def floor_figures(floor: GeneratorFloor) -> str:
    """``p50 0.31 ms, p99 0.92 ms from the scheduled time; client CPU 0.84 ms/request``."""
    scheduled = floor.latency_from_scheduled
    cpu = floor.cpu_ms_per_request
    return (
        f"p50 {numbers.ms(scheduled.p50_ms)}, p99 {numbers.ms(scheduled.p99_ms)} from the "
        "scheduled time; client CPU " + (numbers.DASH if cpu is None else f"{cpu:.2f} ms/request")
    )


def floor_sentence(
    floor: GeneratorFloor | None, not_measured: str | None, *, brief: bool = False
) -> str:
    """The report's line on the floor: the figures and how they were measured, or why there
    are none; ``brief``: the figures only, for a second mention on the same page."""
    if floor is None:
        reason = f"**Measurement floor not measured** ({not_measured or OLDER_RUN})"
        if brief:
            return reason + "."
        return (
            f"{reason}: the figures include the harness's own share (typically around a "
            "millisecond), and the verdicts cannot tell a difference of that size from the "
            "harness's noise."
        )
    if brief:
        return (
            f"**Measurement floor on this machine: {floor_figures(floor)}** (the generator "
            f"alone at {floor.rate:g}/s against an instant server, before the designs ran)."
        )
    sent = floor.latency_from_sent
    failed = f", {floor.failed:,} failed" if floor.failed else ""
    return (
        f"**Measurement floor on this machine: {floor_figures(floor)}** — one generator "
        f"process alone at {floor.rate:g}/s for {floor.duration_s:g} s ({floor.requests:,} "
        f"requests{failed}) against a server on loopback that answers at once, before the "
        f"designs ran (from the send: p50 {numbers.ms(sent.p50_ms)}, p99 "
        f"{numbers.ms(sent.p99_ms)}). Every latency here includes about this much of the "
        f"harness's own; the verdicts count a difference of medians at or below the floor's "
        f"p50, and of tail percentiles at or below {_threshold(floor)}, as no difference."
    )


def _threshold(floor: GeneratorFloor) -> str:
    """Which figure of the floor the verdicts use, and why when it is not the p99."""
    resolution = floor.resolution_ms
    if floor.p99_supported or resolution == floor.latency_from_scheduled.p99_ms:
        return "the floor's p99"
    return (
        f"the floor's slowest request ({numbers.ms(resolution)}: its {floor.requests:,} "
        "requests are too few to support a p99)"
    )
