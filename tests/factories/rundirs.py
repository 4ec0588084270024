"""Synthetic run directories: ``summary.json`` and ``manifest.json`` written as reports/README.md
describes them, with plausible figures of a slow-downstream run (sync answers in seconds while
the provider is slow, async in milliseconds). The gate's and the report's tests build on them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from offload.rundir.gate_run import GateRevision, GateRunRecord, JudgedPair, PairOrder
from offload.rundir.run_info import RunInfo, RunStatus

PHASES = ("healthy", "slow-downstream", "recovery")
EXPECT = [
    "async.signup.p95 < 0.1 * sync.signup.p95",
    "async.emails.lost == 0",
    "sync.bystander[slow-downstream].p95 > async.bystander[slow-downstream].p95",
]

# -- summary.json --------------------------------------------------------------------------


def _latency(p50: float, tail: float) -> dict[str, float]:
    return {
        "p50": p50,
        "p90": round(p50 + 0.6 * (tail - p50), 3),
        "p95": round(p50 + 0.75 * (tail - p50), 3),
        "p99": tail,
        "p99_9": round(tail * 1.2, 3),
        "max": round(tail * 1.3, 3),
    }


def _window(count: int, ok: int, seconds: float, p50: float, tail: float) -> dict[str, Any]:
    timeouts = (count - ok) // 2
    errors = count - ok - timeouts
    return {
        "count": count,
        "ok": ok,
        "errors": errors,
        "http_4xx": 0,
        "http_5xx": errors,
        "connection_errors": 0,
        "timeouts": timeouts,
        "dropped": 0,
        "error_rate": round((count - ok) / count, 6),
        "offered_rate": round(count / seconds, 3),
        "rate": round((ok + errors) / seconds, 3),
        "goodput": round(ok / seconds, 3),
        "latency_ms": _latency(p50, tail),
        "service_ms": _latency(round(p50 * 0.9, 3), round(tail * 0.9, 3)),
    }


def _endpoint(
    count: int, ok: int, p50: float, tail: float, slow_p50: float, slow_tail: float
) -> dict[str, Any]:
    third = count // 3
    return {
        "overall": _window(count, ok, 45.0, p50, max(tail, slow_tail)),
        "phases": {
            "healthy": _window(third, third, 15.0, p50, tail),
            "slow-downstream": _window(third, third - (count - ok), 15.0, slow_p50, slow_tail),
            "recovery": _window(third, third, 15.0, p50, tail),
        },
    }


def make_summary(
    *, scenario: str = "slow-downstream", repeat: int | None = None, valid: bool = True
) -> dict[str, Any]:
    """A slow-downstream summary.json: sync suffers during the slow phase, async does not."""
    summary: dict[str, Any] = {
        "schema_version": 1,
        "scenario": scenario,
        "quick": True,
        "valid": valid,
        "invalid_reasons": [] if valid else ["load generator saturated: p99 lateness 250 ms"],
        "warnings": [],
        "phases": [
            {"name": "healthy", "start_s": 0.0, "end_s": 15.0, "provider": "healthy"},
            {
                "name": "slow-downstream",
                "start_s": 15.0,
                "end_s": 30.0,
                "provider": "latency 2s ±200ms",
            },
            {"name": "recovery", "start_s": 30.0, "end_s": 45.0, "provider": "healthy"},
        ],
        "designs": {
            "sync": {
                "kind": "sync",
                "signup": _endpoint(1800, 1710, 42.0, 120.0, 2100.0, 4800.0),
                "bystander": _endpoint(450, 420, 3.0, 15.0, 900.0, 3100.0),
                "emails": {
                    "owed": 1710,
                    "delivered": 1710,
                    "lost": 0,
                    "duplicates": 0,
                    "dead_lettered": 0,
                    "pending": 0,
                    "orphaned": 4,
                    "duplicate_attempts": 0,
                },
                "consistency": {"stored_but_failed": 45, "acknowledged_but_missing": 0},
                "e2e_ms": _latency(44.0, 4900.0),
                "generator": _generator(),
                "resources": {"api": {"cpu_s": 30.5, "peak_rss_mb": 212.0}},
            },
            "async": {
                "kind": "async",
                "signup": _endpoint(1800, 1800, 6.0, 24.0, 6.5, 26.0),
                "bystander": _endpoint(450, 450, 2.0, 8.0, 2.2, 9.0),
                "emails": {
                    "owed": 1800,
                    "delivered": 1800,
                    "lost": 0,
                    "duplicates": 0,
                    "dead_lettered": 0,
                    "pending": 0,
                    "orphaned": 0,
                    "duplicate_attempts": 6,
                },
                "consistency": {"stored_but_failed": 0, "acknowledged_but_missing": 0},
                "e2e_ms": _latency(60.0, 9000.0),
                "queue": {
                    "max_depth": 580,
                    "max_backlog": 640,
                    "drain_seconds": 12.5,
                    "drained": True,
                },
                "retries": 42,
                "dead_lettered": 0,
                "generator": _generator(),
                "resources": {
                    "api": {"cpu_s": 21.0, "peak_rss_mb": 180.0},
                    "worker": {"cpu_s": 9.5, "peak_rss_mb": 95.0},
                },
            },
        },
    }
    if repeat is not None:
        summary["repeat"] = repeat
    return summary


def _generator() -> dict[str, Any]:
    return {
        "processes": 1, "cpu_s": 6.1, "cpu_percent": 13.5, "scheduled": 2250, "sent": 2250,
        "dropped": 0, "late_starts": 0,
        "lateness_ms": {"p50": 0.4, "p99": 2.1, "max": 9.0}, "saturated": False,
    }  # fmt: skip


def get_figure(summary: dict[str, Any], path: str) -> Any:
    node = summary
    for key in path.split("."):
        node = node[key]
    return node


def set_figure(summary: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = summary
    for key in parents:
        node = node[key]
    node[last] = value


def scale_latencies(summary: dict[str, Any], factor: float, design: str | None = None) -> None:
    """Multiply every latency figure (of one design, or all) by ``factor``: a uniform drift."""
    for name, figures in summary["designs"].items():
        if design is not None and name != design:
            continue
        for endpoint in ("signup", "bystander"):
            windows = [figures[endpoint]["overall"], *figures[endpoint]["phases"].values()]
            for window in windows:
                for group in ("latency_ms", "service_ms"):
                    for stat, value in window[group].items():
                        window[group][stat] = round(value * factor, 3)
        figures["e2e_ms"] = {k: round(v * factor, 3) for k, v in figures["e2e_ms"].items()}


# -- manifest.json -------------------------------------------------------------------------

DESIGN_CONFIG = {
    "server_processes": 4,
    "workers": 2,
    "prefetch": 50,
    "provider_timeout_s": 3.0,
    "publish_timeout_s": 1.0,
    "max_attempts": 5,
    "retry_delays_s": [0.5, 1.0, 2.0, 4.0],
}
VERSIONS = {
    "python": "3.11.9", "locust": "2.47.0", "pika": "1.4.0", "flask": "3.1.0",
    "gunicorn": "23.0.0", "fastapi": "0.115.0", "uvicorn": "0.32.0", "rabbitmq": "3.10.8",
    "sqlalchemy": "2.0.36",
}  # fmt: skip


def make_manifest(
    *,
    scenario: str = "slow-downstream",
    workers: int = 2,
    quick: bool = True,
    expect: Iterable[str] = EXPECT,
    cpus: int = 2,
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A manifest.json as `offload bench` writes it (with a few extra fields to tolerate)."""
    resolved = {
        "name": scenario,
        "description": "The email provider's latency rises to 2 s for 15 s, then recovers.",
        "tags": ["default", "gate"],
        "targets": ["sync", "async"],
        "load": {
            "mode": "open", "arrivals": "poisson", "rate": 40.0, "steps": [],
            "duration": 45.0, "warmup": 2.0, "bystander_rate": 10.0, "max_in_flight": 2000,
            "users": None, "poison_fraction": 0.0, "seed": 1,
        },
        "client": {"timeout": 5.0},
        "provider": {
            "latency": 0.0, "jitter": 0.0, "error_rate": 0.0, "error_status": 503,
            "rate_limit": None, "retry_after": 1.0, "timeout_rate": 0.0, "reset_rate": 0.0,
            "outage": False,
        },
        "designs": {
            "server_processes": 4, "workers": workers, "prefetch": 50, "provider_timeout": 3.0,
            "publish_timeout": 1.0, "max_attempts": 5, "retry_delays": [0.5, 1.0, 2.0, 4.0],
        },
        "faults": [
            {"at": 15.0, "phase": None, "downstream": {"latency": 2.0, "jitter": 0.2}},
            {"at": 30.0, "phase": None, "downstream": "healthy"},
        ],
        "drain": {"timeout": 60.0},
        "expect": list(expect),
        "quick": {"time_scale": 0.3},
    }  # fmt: skip
    config = {**DESIGN_CONFIG, "workers": workers}
    return {
        "schema_version": 1,
        "scenario": resolved,
        "quick": quick,
        "phases": [
            {"name": name, "start_s": 15.0 * i, "end_s": 15.0 * (i + 1), "provider": "..."}
            for i, name in enumerate(PHASES)
        ],
        "git": {"sha": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "versions": {**VERSIONS, **(versions or {})},
        "machine": {
            "cpus": cpus, "memory_gb": 7.8, "platform": "Linux-6.1-x86_64", "hostname": "ci",
        },
        "designs": {
            "sync": {
                "target": {
                    "name": "sync", "kind": "sync", "description": "Flask on gunicorn",
                    "metadata": {"framework": "Flask", "server": "gunicorn (sync workers)"},
                    "directory": "/home/ci/work/offload/targets/sync",
                },
                "kind": "sync",
                "config": config,
                "timing": {"t0": 1764324900.0, "load_end": 1764324945.0},
            },
            "async": {
                "target": {
                    "name": "async", "kind": "async", "description": "FastAPI on uvicorn",
                    "metadata": {"framework": "FastAPI", "server": "uvicorn[standard]"},
                    "directory": "/home/ci/work/offload/targets/async",
                },
                "kind": "async",
                "config": config,
                "timing": {"t0": 1764325000.0, "load_end": 1764325045.0, "drain_end": 1764325058.0},
            },
        },
        "command": "offload bench --quick",
    }  # fmt: skip


# -- run directories -----------------------------------------------------------------------

Variant = Callable[[dict[str, Any], int], None]


def write_run(
    root: Path,
    *,
    name: str = "20261128T101500Z",
    scenario: str = "slow-downstream",
    repeats: int = 1,
    variant: Variant | None = None,
    manifest: dict[str, Any] | None = None,
    valid: bool = True,
    status: RunStatus = "complete",
    started_at: float = 1764324900.0,
) -> Path:
    """A run directory with ``repeats`` runs of one scenario; ``variant(summary, k)`` edits
    repeat k's summary (k from 1) before it is written; ``status``: how the bench ended."""
    run_dir = root / name
    base_manifest = manifest if manifest is not None else make_manifest(scenario=scenario)
    for k in range(1, repeats + 1):
        summary = make_summary(scenario=scenario, repeat=k if repeats > 1 else None, valid=valid)
        if variant is not None:
            variant(summary, k)
        folder = run_dir / (scenario if repeats == 1 else f"{scenario}.r{k}")
        write_scenario(folder, summary, copy.deepcopy(base_manifest))
    RunInfo(
        command=["offload", "bench"],
        scenarios=[scenario],
        started_at=started_at,
        status=status,
        ended_at=started_at + 200.0,
    ).dump(run_dir / "run.json")
    return run_dir


def write_scenario(folder: Path, summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


# -- gate-run.json -------------------------------------------------------------------------


def gate_run_record(
    orders: list[PairOrder],
    judged: list[JudgedPair] | None = None,
    *,
    side_by_side: bool = True,
    status: RunStatus = "complete",
) -> GateRunRecord:
    """An A/B gate's record as `offload gate --base` writes it: ``orders`` planned, ``judged``
    the pairs it judged (none yet when not given)."""
    return GateRunRecord(
        base=GateRevision(ref="HEAD~1", sha="a" * 40),
        candidate=GateRevision(ref="HEAD", sha="b" * 40),
        scenarios=["scenarios/ci-gate.yaml"],
        quick=True,
        pairs=len(orders),
        seed=7,
        orders=orders,
        side_by_side=side_by_side,
        alpha=0.05,
        started_at=1764324800.0,
        status=status,
        **({"judged": judged} if judged is not None else {}),
    )
