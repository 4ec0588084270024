"""Tidy tables of one scenario, saved as CSV in ``<scenario>/tables/`` beside summary.json.

One row per observation (design × phase × endpoint × metric, or design × second × series), so
a reader can load any of them into pandas, R or a spreadsheet and pivot as they like. The
files and their columns are listed in ``docs/report.md``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from offload.analysis import timeseries
from offload.analysis.capacity import Estimate
from offload.analysis.claims import Claim
from offload.analysis.controls import ControlClaim
from offload.analysis.cost import cost_figures, is_rig
from offload.analysis.percentiles import SPECTRUM, spectrum_ms
from offload.analysis.phases import disturbed_phases
from offload.analysis.ranking import Ranking
from offload.analysis.scenario_data import DesignData, ScenarioData
from offload.analysis.summary import end_to_end_seconds
from offload.analysis.uncertainty import supported, unsupported_reason
from offload.analysis.verdicts import Verdict
from offload.rundir.files import Record

ENDPOINTS = ("signup", "bystander")


def _flatten(prefix: str, value: object) -> list[tuple[str, object]]:
    """``{"latency_ms": {"p50": 7.1}}`` → ``[("latency_ms_p50", 7.1)]``; lists are left out."""
    if isinstance(value, Record):
        value = value.to_json()
    if isinstance(value, dict):
        items = []
        for key, inner in value.items():
            items.extend(_flatten(f"{prefix}_{key}" if prefix else str(key), inner))
        return items
    if isinstance(value, list | tuple):
        return []
    return [(prefix, value)]


def metrics_table(data: ScenarioData) -> pd.DataFrame:
    """Every figure of ``summary.json`` in long form: design, phase, endpoint, metric, value."""
    rows = []
    for name, design in data.designs.items():
        figures = design.summary
        base = {"scenario": data.name, "design": name, "kind": design.kind}
        for endpoint in ENDPOINTS:
            block = figures.endpoint(endpoint)
            windows = {"overall": block.overall, **block.phases}
            for phase, stats in windows.items():
                for metric, value in _flatten("", stats):
                    rows.append(
                        {
                            **base,
                            "phase": phase,
                            "endpoint": endpoint,
                            "metric": metric,
                            "value": value,
                        }
                    )
        cost = asdict(cost_figures(figures))
        del cost["components"]
        extra: dict[str, object] = {
            "emails": figures.emails,
            "consistency": figures.consistency,
            "e2e": {"latency_ms": figures.e2e_ms},
            "queue": figures.queue,
            "generator": figures.generator,
            "cost": cost,
            "machine": figures.machine,
        }
        if design.uses_queue:
            extra["jobs"] = {"retries": figures.retries, "dead_lettered": figures.dead_lettered}
        for endpoint, figures_block in extra.items():
            for metric, value in _flatten("", figures_block or {}):
                rows.append(
                    {
                        **base,
                        "phase": "overall",
                        "endpoint": endpoint,
                        "metric": metric,
                        "value": value,
                    }
                )
    return pd.DataFrame(
        rows, columns=["scenario", "design", "kind", "phase", "endpoint", "metric", "value"]
    )


def phases_table(data: ScenarioData) -> pd.DataFrame:
    disturbed = disturbed_phases(data.scenario, data.phases)
    return pd.DataFrame(
        [
            {
                "scenario": data.name,
                "phase": p.name,
                "start_s": p.start_s,
                "end_s": p.end_s,
                "provider": p.provider,
                "disturbed": p.name in disturbed,
            }
            for p in data.phases
        ],
        columns=["scenario", "phase", "start_s", "end_s", "provider", "disturbed"],
    )


def phase_slices(data: ScenarioData, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The requests scheduled in each phase (by ``offset``), plus ``overall``."""
    slices = {"overall": frame}
    for p in data.phases:
        slices[p.name] = frame[(frame["offset"] >= p.start_s) & (frame["offset"] < p.end_s)]
    return slices


def spectrum_table(data: ScenarioData) -> pd.DataFrame:
    """Latency (ms, HDR) at p50 … p99.99 per design, endpoint and phase.

    ``available`` is False where the phase has too few requests for the percentile (fewer
    than 10 beyond it; ``reason`` says how many it needs): a chart leaves those points out.
    ``at_timeout`` marks the points at the client timeout — the client's patience, not a
    latency."""
    timeout_s = data.summary.client_timeout_s
    rows = []
    for name, design in data.designs.items():
        for endpoint in ENDPOINTS:
            frame = design.stream(endpoint)
            for phase, inside in phase_slices(data, frame).items():
                values = inside["latency_s"].dropna().to_numpy()
                for percentile, latency in spectrum_ms(values).items():
                    available = supported(len(values), percentile)
                    rows.append(
                        {
                            "scenario": data.name,
                            "design": name,
                            "endpoint": endpoint,
                            "phase": phase,
                            "percentile": percentile,
                            "latency_ms": round(latency, 3),
                            "count": len(values),
                            "available": available,
                            "reason": ""
                            if available
                            else unsupported_reason(len(values), percentile),
                            "at_timeout": timeout_s is not None and latency >= timeout_s * 999,
                        }
                    )
    return pd.DataFrame(rows, columns=SPECTRUM_COLUMNS)


SPECTRUM_COLUMNS = [
    "scenario",
    "design",
    "endpoint",
    "phase",
    "percentile",
    "latency_ms",
    "count",
    "available",
    "reason",
    "at_timeout",
]


def design_series(design: DesignData, duration_s: float) -> pd.DataFrame:
    """Every per-second series of one design, wide: one column per series, index ``t_s``."""
    columns: dict[str, pd.Series] = {}
    signup, bystander = design.stream("signup"), design.stream("bystander")
    latency = timeseries.latency_per_second(signup, duration_s)
    columns["signup_p50_ms"], columns["signup_p99_ms"] = latency["p50_ms"], latency["p99_ms"]
    rates = timeseries.offered_and_goodput(signup, duration_s)
    columns["signup_offered_per_s"], columns["signup_goodput_per_s"] = (
        rates["offered"],
        rates["goodput"],
    )
    for error_class, counts in timeseries.errors_per_second(signup, duration_s).items():
        columns[f"signup_{error_class}_per_s"] = counts
    by_latency = timeseries.latency_per_second(bystander, duration_s)
    columns["bystander_p50_ms"] = by_latency["p50_ms"]
    columns["bystander_p99_ms"] = by_latency["p99_ms"]
    columns["bystander_error_rate"] = timeseries.error_rate_per_second(bystander, duration_s)
    end = design.drain_end_s or duration_s
    columns["emails_delivered_per_s"] = timeseries.deliveries_per_second(design.provider, end)
    if design.uses_queue:
        columns["retries_per_s"] = timeseries.job_events_per_second(
            design.job_events, "retrying", end
        )
        columns["dead_lettered_per_s"] = timeseries.job_events_per_second(
            design.job_events, "dead_lettered", end
        )
        queue = timeseries.queue_series(design.queues)
        if not queue.empty:
            seconds = np.floor(queue["t_s"].astype(float)).astype(int)
            for column in ("backlog", "ready", "dead"):
                columns[f"queue_{column}"] = (
                    pd.Series(queue[column].to_numpy(dtype=float), index=seconds)
                    .groupby(level=0)
                    .max()
                )
    frame = pd.DataFrame(columns)
    frame.index.name = "t_s"
    return frame[frame.index >= 0]


def timeseries_table(data: ScenarioData) -> pd.DataFrame:
    """Every per-second series in long form: design, t_s, series, value."""
    frames = []
    for name, design in data.designs.items():
        wide = design_series(design, data.duration_s)
        long = wide.reset_index().melt(id_vars="t_s", var_name="series", value_name="value")
        long.insert(0, "design", name)
        long.insert(0, "scenario", data.name)
        frames.append(long.dropna(subset=["value"]))
    if not frames:
        return pd.DataFrame(columns=["scenario", "design", "t_s", "series", "value"])
    return pd.concat(frames, ignore_index=True)


def completion_table(data: ScenarioData) -> pd.DataFrame:
    """One row per signup: its response latency and, when its email was accepted, its
    end-to-end time (scheduled → the provider's first acceptance); both in ms."""
    frames = []
    for name, design in data.designs.items():
        signups = design.stream("signup")
        response = pd.DataFrame(
            {"measure": "response", "ms": signups["latency_s"].dropna().to_numpy() * 1000}
        )
        e2e = pd.DataFrame(
            {
                "measure": "end_to_end",
                "ms": end_to_end_seconds(design.requests, design.provider) * 1000,
            }
        )
        both = pd.concat([response, e2e], ignore_index=True)
        both.insert(0, "design", name)
        both.insert(0, "scenario", data.name)
        frames.append(both)
    if not frames:
        return pd.DataFrame(columns=["scenario", "design", "measure", "ms"])
    return pd.concat(frames, ignore_index=True)


LEDGER_CATEGORIES = (
    ("emails", "owed"),
    ("emails", "owed_warmup"),
    ("emails", "delivered"),
    ("emails", "lost"),
    ("emails", "duplicates"),
    ("emails", "dead_lettered"),
    ("emails", "pending"),
    ("emails", "orphaned"),
    ("emails", "duplicate_attempts"),
    ("consistency", "stored_but_failed"),
    ("consistency", "acknowledged_but_missing"),
)


def ledger_table(data: ScenarioData) -> pd.DataFrame:
    rows = []
    for name, design in data.designs.items():
        emails, consistency = design.summary.emails, design.summary.consistency
        counts = {  # no ledger (the tables were not exported): every count is empty, not 0
            "emails": emails.to_json() if emails else {},
            "consistency": consistency.to_json() if consistency else {},
        }
        for block, category in LEDGER_CATEGORIES:
            value = counts[block].get(category)
            rows.append(
                {"scenario": data.name, "design": name, "category": category, "count": value}
            )
    return pd.DataFrame(rows, columns=["scenario", "design", "category", "count"])


def resources_table(data: ScenarioData) -> pd.DataFrame:
    rows = []
    for name, design in data.designs.items():
        for component, use in design.summary.resources.items():
            rows.append(
                {
                    "scenario": data.name,
                    "design": name,
                    "component": component,
                    "rig": is_rig(component),
                    "cpu_s": use.cpu_s,
                    "peak_rss_mb": use.peak_rss_mb,
                }
            )
    return pd.DataFrame(
        rows, columns=["scenario", "design", "component", "rig", "cpu_s", "peak_rss_mb"]
    )


def cost_table(data: ScenarioData) -> pd.DataFrame:
    rows = []
    for name, design in data.designs.items():
        figures = asdict(cost_figures(design.summary))
        figures["components"] = " ".join(figures["components"])
        rows.append({"scenario": data.name, "design": name, **figures})
    return pd.DataFrame(rows)


def capacity_table(scenario: str, estimates: list[Estimate]) -> pd.DataFrame:
    rows = [{"scenario": scenario, **asdict(e), "disagreement": e.disagreement} for e in estimates]
    return pd.DataFrame(
        rows,
        columns=[
            "scenario",
            "design",
            "phase",
            "quantity",
            "unit",
            "predicted",
            "measured",
            "basis",
            "disagreement",
        ],
    )


VERDICT_COLUMNS = [
    "scenario",
    "metric",
    "label",
    "unit",
    "design",
    "value",
    "winner",
    "factor",
    "compared",
    "compared_value",
    "ci_low",
    "ci_high",
    "available",
    "at_timeout",
]


def verdicts_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """The verdicts long form: each design's figure, and what was compared (the metric, or
    the failed share when a percentile is the client timeout) with its 95 % interval."""
    rows = []
    for v in verdicts:
        for design, value in v.values.items():
            compared = v.readings.get(design)
            rows.append(
                {
                    "scenario": v.scenario,
                    "metric": v.key,
                    "label": v.metric,
                    "unit": v.unit,
                    "design": design,
                    "value": value,
                    "winner": v.winner,
                    "factor": v.factor,
                    "compared": "failed_share" if v.basis else v.key,
                    "compared_value": compared.value if compared else None,
                    "ci_low": compared.low if compared else None,
                    "ci_high": compared.high if compared else None,
                    "available": bool(compared and not compared.unavailable),
                    "at_timeout": design in v.at_timeout,
                }
            )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def claims_table(scenario: str, claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"scenario": scenario, **asdict(c)} for c in claims],
        columns=["scenario", "number", "text", "status", "evidence"],
    )


RANKING_COLUMNS = [
    "scenario",
    "metric",
    "label",
    "unit",
    "place",
    "design",
    "value",
    "ci_low",
    "ci_high",
    "at_timeout",
    "available",
    "relation",
]


def rankings_table(rankings: list[Ranking]) -> pd.DataFrame:
    """Every design's place on every metric, best first (place empty: not ranked)."""
    rows = [
        {
            "scenario": r.scenario,
            "metric": r.key,
            "label": r.metric,
            "unit": r.unit,
            "place": e.place,
            "design": e.design,
            "value": e.reading.value,
            "ci_low": e.reading.low,
            "ci_high": e.reading.high,
            "at_timeout": e.reading.at_timeout,
            "available": not e.reading.unavailable,
            "relation": e.relation,
        }
        for r in rankings
        for e in r.entries
    ]
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


def controls_table(scenario: str, claims: list[ControlClaim]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "scenario": scenario,
                "question": c.question,
                "compares": c.compares,
                "status": c.status,
                "answer": c.answer,
                "evidence": " | ".join(c.evidence),
            }
            for c in claims
        ],
        columns=["scenario", "question", "compares", "status", "answer", "evidence"],
    )


def write_tables(tables: dict[str, pd.DataFrame], directory: Path) -> list[Path]:
    """Write each table as ``<directory>/<name>.csv``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = directory / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


__all__ = [
    "SPECTRUM",
    "capacity_table",
    "claims_table",
    "completion_table",
    "controls_table",
    "cost_table",
    "ledger_table",
    "metrics_table",
    "phases_table",
    "rankings_table",
    "resources_table",
    "spectrum_table",
    "timeseries_table",
    "verdicts_table",
    "write_tables",
]
