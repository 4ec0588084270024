"""What each design costs to run: CPU seconds and memory of its own components.

The provider and the load generator are the test rig, not part of either design, so they are
left out of a design's cost (and shown separately). The broker is part of the async design's
cost: it runs the queue that design needs. When the broker is the machine's shared RabbitMQ,
its CPU is that node's whole CPU during the run — the run had the node to itself.
"""

from __future__ import annotations

from typing import Any

#: components that are the test rig (provider, load generator), not the design under test:
#: their CPU is never the design's cost (reports and the gate alike)
RIG = ("provider", "generator")


def is_rig(component: str) -> bool:
    return component in RIG


def cost_figures(design: dict[str, Any]) -> dict[str, Any]:
    """CPU and memory of one design (an entry of ``summary.json`` ``designs``).

    ``cpu_per_1000_signups`` = CPU seconds of the design's own components (broker included)
    ÷ signups answered 2xx × 1,000; None when no signup succeeded.
    """
    resources = design.get("resources") or {}
    own = {name: figures for name, figures in resources.items() if not is_rig(name)}
    cpu_own = sum(float(f.get("cpu_s") or 0.0) for f in own.values())
    rss_own = sum(float(f.get("peak_rss_mb") or 0.0) for f in own.values())
    ok = int(((design.get("signup") or {}).get("overall") or {}).get("ok") or 0)
    generator = design.get("generator") or {}
    return {
        "components": sorted(own),
        "broker_included": "broker" in own,
        "cpu_own_s": round(cpu_own, 3),
        "peak_rss_own_mb": round(rss_own, 1),
        "ok_signups": ok,
        "cpu_per_1000_signups": round(cpu_own / ok * 1000, 3) if ok else None,
        "generator_cpu_s": generator.get("cpu_s"),
        "generator_cpu_percent": generator.get("cpu_percent"),
        "generator_saturated": generator.get("saturated"),
    }
