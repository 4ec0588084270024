"""The scenario page's "Accept path against the bare broker" section.

A queue-backed design answers a signup once the broker confirmed its job, so the bare publish
with a confirm is the floor under its accept latency. Measured on an idle machine (``offload
probe broker``) that floor says little about a run at a high rate, where broker, API, workers
and generator share the cores; ``load.broker_probe_rate`` measures it beside the load instead,
and this section sets each design's signup latency against it. Every figure is
``summary.json``'s (``signup`` and ``broker_probe``).
"""

from __future__ import annotations

from offload.analysis import numbers
from offload.analysis.comparison import ScenarioAnalysis
from offload.report.document import Block, Heading, Paragraph, Table

NOTE = (
    "The probe is a process of its own that publishes persistent messages with publisher "
    "confirms to a quorum queue of its own on the design's broker, one in flight, paced at "
    "load.broker_probe_rate from t=0 through the measured part: the bare confirm as the load "
    "leaves the machine, with no HTTP, database or framework in the way. Its lateness says "
    "whether it kept its schedule (a late probe measured a busier machine than it was asked "
    "to). Signup latency is from the scheduled time, as everywhere in this report; × is the "
    'signup p99 ÷ the confirm p99. docs/performance.md ("The accept path against the broker") '
    "has the figures of this machine kind."
)


def accept_blocks(analysis: ScenarioAnalysis) -> list[Block]:
    """The section, or nothing when no design of the scenario ran the probe."""
    rows = []
    for name, design in analysis.data.designs.items():
        figures = design.summary.broker_probe
        if figures is None:
            continue
        probe = figures.paced
        signup = design.summary.signup.overall.latency_ms
        ratio = design.summary.accept_over_confirm_p99
        rows.append(
            [
                name,
                f"{numbers.ms(signup.p50)} / {numbers.ms(signup.p99)}",
                f"{numbers.ms(probe.confirm.p50_ms)} / {numbers.ms(probe.confirm.p99_ms)}",
                f"**{ratio:.1f}×**" if ratio is not None else "–",
                f"{numbers.count(probe.confirmed)} at {numbers.rate(probe.achieved_rate)} "
                f"from t=0 + {figures.started_after_t0_s:.1f} s",
                numbers.ms(probe.lateness.p99_ms),
            ]
        )
    if not rows:
        return []
    header = [
        "design",
        "signup p50 / p99",
        "bare confirm p50 / p99",
        "p99 ×",
        "probe publishes",
        "probe lateness p99",
    ]
    return [
        Heading(3, "Accept path against the bare broker"),
        Table(header, rows, ["l", "r", "r", "r", "r", "r"]),
        Paragraph(NOTE),
    ]
