"""Which figures a baseline gates, which way is better, and how much change is noise.

A policy entry is a small object, like pytest-benchmark's ``median:20%`` checks: a metric (a
summary.json path or arithmetic over paths, in the expectation language), a direction, a
tolerance and how that tolerance is read. ``offload baseline save`` writes the defaults below
into the baseline file; people edit them there.

Default tolerances are sized for a shared 2-core machine, where repeats of the same run differ
by 5-20 % (see docs/gate.md, "Statistics"): medians move least, tails most, and a figure of a
few milliseconds moves by whole milliseconds, hence ``min_delta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from offload.analysis.cost import is_rig
from offload.analysis.uncertainty import supported
from offload.expect.expressions import EvaluationError, Expression, ExpressionError, parse_metric
from offload.expect.paths import MissingValue, UnknownPath, full_path, lookup

if TYPE_CHECKING:
    from offload.rundir.manifest import ScenarioRecord

Direction = Literal["lower", "higher"]
Kind = Literal["relative", "absolute"]
Statistic = Literal["median", "worst"]
DIRECTIONS: tuple[Direction, ...] = ("lower", "higher")
KINDS: tuple[Kind, ...] = ("relative", "absolute")
STATISTICS: tuple[Statistic, ...] = ("median", "worst")


@dataclass(frozen=True, kw_only=True)
class MetricPolicy:
    """How one metric is gated.

    ``kind: relative`` — a regression is a change of the statistic beyond ``tolerance`` × the
    baseline's (0.3 = 30 %) and, in absolute terms, beyond ``min_delta``.
    ``kind: absolute`` — a regression is a change beyond ``tolerance`` in the metric's own unit
    (0.02 of error rate = 2 percentage points; 0 = any increase).
    ``statistic: median`` compares medians over the repeats (and tests, with enough of them);
    ``statistic: worst`` compares the worst repeat of each side, for figures where one bad run
    is a fact rather than noise (a lost email).
    """

    metric: str
    direction: Direction
    kind: Kind
    tolerance: float
    statistic: Statistic = "median"
    min_delta: float = 0.0

    def expression(self) -> Expression:
        return parse_metric(self.metric)

    def describe_tolerance(self, scale: float = 1.0) -> str:
        sign = "+" if self.direction == "lower" else "-"
        tolerance = self.tolerance * scale
        if self.kind == "relative":
            return f"{sign}{tolerance:.0%}"
        return f"{sign}{tolerance:g}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.statistic == "median":
            del data["statistic"]
        if not self.min_delta:
            del data["min_delta"]
        return data


def metric_value(expression: Expression, summary: Mapping[str, Any]) -> float | None:
    """A metric's value in one summary, or None when a figure it needs has no value.

    An unknown path is not swallowed: it is a mistake in the policy (exit 2).
    """
    try:
        value = expression.evaluate(lambda path: lookup(summary, path))
    except (MissingValue, EvaluationError):
        return None
    return float(value)


#: (shorthand after the design name, direction, kind, tolerance, statistic, min_delta)
_DEFAULTS: tuple[tuple[str, Direction, Kind, float, Statistic, float], ...] = (
    ("signup.p50", "lower", "relative", 0.20, "median", 2.0),
    ("signup.p95", "lower", "relative", 0.30, "median", 2.0),
    ("signup.p99", "lower", "relative", 0.50, "median", 2.0),
    ("bystander.p95", "lower", "relative", 0.30, "median", 2.0),
    ("signup.error_rate", "lower", "absolute", 0.02, "median", 0.0),
    ("signup.goodput", "higher", "relative", 0.10, "median", 0.0),
    ("e2e.p95", "lower", "relative", 0.30, "median", 2.0),
    ("emails.lost", "lower", "absolute", 0.0, "worst", 0.0),
    ("emails.duplicates", "lower", "absolute", 0.0, "worst", 0.0),
    ("queue.drain_seconds", "lower", "relative", 0.35, "median", 1.0),
)
#: the metrics a scenario's ``gate.tolerances`` may set, after the design's name
GATED_SHORTHANDS: tuple[str, ...] = tuple(short for short, *_ in _DEFAULTS)
#: tolerance of the CPU cost per signup and of ratios between designs
CPU_TOLERANCE = 0.50
RATIO_TOLERANCE = 0.35


def default_policy(
    summary: Mapping[str, Any],
    targets: list[str] | None = None,
    tolerances: Mapping[str, float] | None = None,
) -> list[MetricPolicy]:
    """The metrics worth gating in this summary: those of the list above that have a value.

    ``tolerances`` (``{"sync.signup.p50": 0.1}``, the scenario's ``gate.tolerances``) replace
    the defaults for those metrics: a scenario whose figure is steadier than the defaults
    assume (measured A/A) can be gated more tightly, and one that is noisier more loosely.

    Written as full summary.json paths, so the baseline file reads without knowing the
    shorthand. Adds each design's CPU cost per successful signup and, when a run has several
    designs, each design's signup p95 relative to the first (ratios cancel a machine that is
    uniformly slower or faster).
    """
    designs = [d for d in (targets or []) if d in summary["designs"]]
    designs += [d for d in summary["designs"] if d not in designs]
    policy: list[MetricPolicy] = []
    for design in designs:
        for short, direction, kind, default, statistic, min_delta in _DEFAULTS:
            tolerance = (tolerances or {}).get(f"{design}.{short}", default)
            path = parse_metric(f"{design}.{short}").paths[0]
            full = _full_text(summary, path)
            if full is None or not _percentile_supported(summary, full):
                continue
            policy.append(
                MetricPolicy(
                    metric=full,
                    direction=direction,
                    kind=kind,
                    tolerance=tolerance,
                    statistic=statistic,
                    min_delta=min_delta,
                )
            )
        cpu = _cpu_per_signup(summary, design)
        if cpu is not None:
            policy.append(
                MetricPolicy(
                    metric=cpu, direction="lower", kind="relative", tolerance=CPU_TOLERANCE
                )
            )
    first = designs[0] if designs else None
    for design in designs[1:]:
        ratio = (
            f"designs.{design}.signup.overall.latency_ms.p95"
            f" / designs.{first}.signup.overall.latency_ms.p95"
        )
        supported = all(
            _percentile_supported(summary, f"designs.{d}.signup.overall.latency_ms.p95")
            for d in (design, first)
        )
        if supported and metric_value(parse_metric(ratio), summary) is not None:
            policy.append(
                MetricPolicy(
                    metric=ratio, direction="lower", kind="relative", tolerance=RATIO_TOLERANCE
                )
            )
    return policy


def recorded_policy(summary: Mapping[str, Any], scenario: ScenarioRecord) -> list[MetricPolicy]:
    """The default policy of one recorded run: its designs in the scenario's order, with the
    tolerances its ``gate`` section set (what the A/B gate, ``spread`` and ``baseline save``
    all judge by)."""
    return default_policy(summary, scenario.target_names or None, scenario.gate_tolerances)


def _percentile_supported(summary: Mapping[str, Any], full: str) -> bool:
    """Whether the window behind a latency percentile holds enough samples beyond it to gate
    it (anything that is not a latency percentile is supported)."""
    parts = full.split(".")
    if len(parts) < 2 or parts[-2] not in ("latency_ms", "e2e_ms") or not parts[-1].startswith("p"):
        return True
    quantile = float(parts[-1][1:].replace("_", ".")) / 100
    if parts[-2] == "e2e_ms":  # one end-to-end time per delivered email
        count_path = ".".join([*parts[:-2], "emails", "delivered"])
    else:
        count_path = ".".join([*parts[:-2], "count"])
    try:
        count = float(lookup(summary, parse_metric(count_path).paths[0]))
    except (MissingValue, UnknownPath, TypeError, ValueError):
        return False
    # the report's support rule: p99 of 80 requests is their largest value or next to it, and
    # moved by half between unchanged repeats, so it is reported, not gated
    return supported(int(count), quantile * 100)


def _full_text(summary: Mapping[str, Any], path: Any) -> str | None:
    """The full path of a figure that exists and has a value, else None."""
    try:
        lookup(summary, path)
    except (MissingValue, UnknownPath):
        return None
    return ".".join(full_path(path))


def _cpu_per_signup(summary: Mapping[str, Any], design: str) -> str | None:
    """``1000 * (cpu_s of the design's own components) / ok signups``: CPU ms per signup
    (the provider and the load generator are left out: they are the test rig)."""
    resources = summary["designs"][design].get("resources") or {}
    components = [
        name
        for name, figures in resources.items()
        if not is_rig(name)
        and isinstance(figures, Mapping)
        and isinstance(figures.get("cpu_s"), int | float)
    ]
    if not components:
        return None
    total = " + ".join(f"designs.{design}.resources.{name}.cpu_s" for name in components)
    text = f"1000 * ({total}) / designs.{design}.signup.overall.ok"
    try:
        expression = parse_metric(text)
    except ExpressionError:  # a component name the language cannot spell
        return None
    return text if metric_value(expression, summary) is not None else None
