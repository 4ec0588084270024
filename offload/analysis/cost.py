"""What each design costs to run: CPU seconds and memory of its own components.

The provider and the load generator are the test rig, not part of either design, so they are
left out of a design's cost (and shown separately). The broker is part of the async design's
cost: it runs the queue that design needs. When the broker is the machine's shared RabbitMQ,
its CPU is that node's whole CPU during the run — the run had the node to itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from offload.rundir.summary import DesignSummary, Summary

#: components that are the test rig (provider, load generator), not the design under test:
#: their CPU is never the design's cost (reports and the gate alike)
RIG = ("provider", "generator")


def is_rig(component: str) -> bool:
    return component in RIG


@dataclass(frozen=True)
class Cost:
    """What one design cost to run, and what the load generator used beside it."""

    #: the design's own components (broker included), sorted
    components: list[str]
    broker_included: bool
    cpu_own_s: float
    peak_rss_own_mb: float
    ok_signups: int
    #: CPU seconds of the design's own components per 1,000 signups answered 2xx
    cpu_per_1000_signups: float | None
    generator_cpu_s: float | None
    generator_cpu_percent: float | None
    generator_saturated: bool


def cost_figures(design: DesignSummary) -> Cost:
    """CPU and memory of one design (an entry of ``summary.json`` ``designs``).

    ``cpu_per_1000_signups`` = CPU seconds of the design's own components (broker included)
    ÷ signups answered 2xx × 1,000; None when no signup succeeded.
    """
    own = {name: use for name, use in design.resources.items() if not is_rig(name)}
    cpu_own = sum(use.cpu_s for use in own.values())
    rss_own = sum(use.peak_rss_mb for use in own.values())
    ok = design.signup.overall.ok
    generator = design.generator
    return Cost(
        components=sorted(own),
        broker_included="broker" in own,
        cpu_own_s=round(cpu_own, 3),
        peak_rss_own_mb=round(rss_own, 1),
        ok_signups=ok,
        cpu_per_1000_signups=round(cpu_own / ok * 1000, 3) if ok else None,
        generator_cpu_s=generator.cpu_s,
        generator_cpu_percent=generator.cpu_percent,
        generator_saturated=generator.saturated,
    )


@dataclass(frozen=True)
class StackShare:
    """A design's server CPU per signup beside what its stack costs alone on the same machine
    (``load.stack_floor``): the part of the server's cost that is the server and framework,
    and the part the design adds behind them (its database, broker or provider calls)."""

    design: str
    #: what ran: server, processes (and threads), framework
    stack: str
    #: ms of CPU per signup of the design's server command with a bare app (its bystander
    #: reads included, as in the design's figure)
    stack_ms: float
    #: ms of CPU of the design's server component per signup answered 2xx (None: no 2xx, or
    #: no figure for the component)
    server_ms: float | None

    @property
    def beyond_stack_ms(self) -> float | None:
        """What the design's server spends per signup beyond its stack alone."""
        return None if self.server_ms is None else self.server_ms - self.stack_ms


def stack_shares(summary: Summary) -> list[StackShare]:
    """One :class:`StackShare` per design whose stack floor the run measured."""
    shares = []
    for name, floor in summary.stack_floors.items():
        design = summary.designs.get(name)
        if design is None or floor.cpu_ms_per_signup is None:
            continue
        use = design.resources.get(floor.component)
        ok = design.signup.overall.ok
        shares.append(
            StackShare(
                design=name,
                stack=floor.stack,
                stack_ms=floor.cpu_ms_per_signup,
                server_ms=use.cpu_s / ok * 1000 if use is not None and ok else None,
            )
        )
    return shares
