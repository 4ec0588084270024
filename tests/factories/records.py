"""A small run directory built by hand — raw records, provider log, tables — whose every figure
is known in advance: healthy-phase signup latencies are whole microseconds below 2,048 µs,
which an HDR histogram with 3 significant digits stores exactly.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtests.selfmeasure import SelfMeasurement, generator_report_path
from offload.analysis.summary import write_summary

REQUEST_FIELDS = [
    "stream",
    "name",
    "phase",
    "offset",
    "scheduled",
    "sent",
    "ended",
    "status",
    "error_class",
    "waited_for_slot",
    "correlation_id",
    "user_id",
    "job_id",
]
T0 = {"sync": 1000.0, "async": 5000.0}
DURATION, FAULT_AT = 20.0, 10.0
HEALTHY_US = list(range(1001, 1011))  # ten signups, 1.001 … 1.010 ms
SLOW_OK_US = [1500, 1510, 1520, 1530, 1540, 1550, 1560, 1570]


def scenario(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "synthetic",
        "description": "hand-made records with known figures",
        "targets": ["sync", "async"],
        "load": {"rate": 1.0, "duration": DURATION, "warmup": 1.0, "bystander_rate": 0.5},
        "client": {"timeout": 5.0},
        "provider": {"latency": 0.05},
        "designs": {"server_processes": 4, "workers": 2, "prefetch": 5, "provider_timeout": 3.0},
        "faults": [{"at": FAULT_AT, "phase": "slow", "downstream": {"latency": 2.0}}],
        "drain": {"timeout": 10.0},
    }
    data.update(changes)
    return data


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _request(
    t0: float,
    offset: float,
    latency_s: float | None,
    *,
    stream: str = "signup",
    status: int | None = 201,
    error: str = "",
    uid: str | None = None,
    phase: str = "measured",
) -> dict[str, Any]:
    scheduled = t0 + offset
    return {
        "stream": stream,
        "name": "POST /users" if stream == "signup" else "GET /healthz",
        "phase": phase,
        "offset": offset,
        "scheduled": scheduled,
        "sent": "" if error == "dropped" else scheduled,
        "ended": "" if latency_s is None else scheduled + latency_s,
        "status": "" if status is None else status,
        "error_class": error,
        "waited_for_slot": "false",
        "correlation_id": f"c-{stream}-{offset}",
        "user_id": uid or "",
        "job_id": f"j-{uid}" if uid else "",
    }


def build_design(directory: Path, name: str, *, faster_emails: bool = False) -> dict[str, Any]:
    """One design's raw records; returns its manifest entry."""
    t0 = T0[name]
    ok_status = 201 if name == "sync" else 202
    directory.mkdir(parents=True)
    rows, users, provider, jobs, events = [], [], [], [], []

    def signup(
        offset: float, latency_us: int, email_after_s: float, phase: str = "measured"
    ) -> None:
        uid = f"{name}-u{len(users)}"
        rows.append(_request(t0, offset, latency_us / 1e6, status=ok_status, uid=uid, phase=phase))
        users.append(
            {
                "id": uid,
                "email": f"{uid}@example.com",
                "display_name": uid,
                "correlation_id": f"c-signup-{offset}",
                "created_at": t0 + offset,
            }
        )
        provider.append(
            {
                "ts": t0 + offset + email_after_s - 0.05,
                "done_ts": t0 + offset + email_after_s,
                "key": f"j-{uid}",
                "job_id": f"j-{uid}",
                "user_id": uid,
                "outcome": "delivered",
                "status": 202,
                "attempt": 1,
            }
        )
        jobs.append({"id": f"j-{uid}", "user_id": uid, "state": "delivered", "attempts": 1})

    signup(-0.5, 300_000, 0.06, phase="warmup")  # in no figure; its user is owed an email
    for i, latency in enumerate(HEALTHY_US):
        signup(0.5 + i, latency, 0.06)
    for i, latency in enumerate(SLOW_OK_US):
        signup(10.5 + i, latency, 0.5 if faster_emails else 2.1)
    for offset in (18.5, 19.5):  # two client timeouts in the slow phase
        rows.append(_request(t0, offset, 5.0, status=None, error="timeout"))
    rows.append(_request(t0, 19.9, None, status=None, error="dropped"))
    for offset in (2.0, 12.0):
        rows.append(_request(t0, offset, 0.002, stream="bystander", status=200))
    _write_csv(directory / "requests.csv", REQUEST_FIELDS, rows)
    _write_csv(
        directory / "users.csv",
        ["id", "email", "display_name", "correlation_id", "created_at"],
        users,
    )
    (directory / "provider-log.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in provider)
    )
    samples = []
    components = [("provider", "provider"), ("generator", "generator"), (f"{name}-api", "server")]
    if name == "async":
        components += [("async-worker-1", "worker"), ("broker", "broker")]
    for step in range(3):
        for component, role in components:
            samples.append(
                {
                    "t": t0 + step * 10,
                    "component": component,
                    "role": role,
                    "processes": 1,
                    "cpu_s": step * 1.0,
                    "rss_bytes": 2**20 * (10 + step),
                }
            )
    _write_csv(
        directory / "samples.csv",
        ["t", "component", "role", "processes", "cpu_s", "rss_bytes"],
        samples,
    )
    queues = []
    if name == "async":
        for second in range(22):
            depth = 7 if 12 <= second < 14 else (1 if second < 10 else 0)
            queues.append(
                {"t": t0 + second, "queue": "(unfinished jobs)", "role": "backlog", "depth": depth}
            )
            queues.append({"t": t0 + second, "queue": "q.work", "role": "work", "depth": 0})
        events = [
            {"seq": 1, "job_id": "j-x", "state": "retrying", "attempt": 1, "at": t0 + 12.2},
            {"seq": 2, "job_id": "j-x", "state": "retrying", "attempt": 2, "at": t0 + 12.7},
            {"seq": 3, "job_id": "j-x", "state": "delivered", "attempt": 3, "at": t0 + 14.0},
        ]
    _write_csv(directory / "queues.csv", ["t", "queue", "role", "depth"], queues)
    _write_csv(
        directory / "jobs.csv",
        ["id", "user_id", "state", "attempts"],
        jobs if name == "async" else [],
    )
    _write_csv(directory / "job_events.csv", ["seq", "job_id", "state", "attempt", "at"], events)
    return {
        "kind": name,
        "target": {"name": name, "kind": name, "description": f"the {name} design"},
        "config": {
            "server_processes": 4,
            "workers": 2,
            "prefetch": 5,
            "provider_timeout_s": 3.0,
            "publish_timeout_s": 1.0,
            "max_attempts": 3,
            "retry_delays_s": [0.5, 1.0],
        },
        "t0_epoch": t0,
        "load_end_epoch": t0 + DURATION,
        "drain_end_epoch": t0 + DURATION + 1.5,
    }


def build_run(
    root: Path,
    *,
    async_emails_faster: bool = False,
    invalid: list[str] | None = None,
    scenario_name: str = "synthetic",
) -> Path:
    """``root/runs/<stamp>/<scenario>/`` with both designs; returns the run directory."""
    run_dir = root / "runs" / "20260101T000000Z"
    folder = run_dir / scenario_name
    folder.mkdir(parents=True)
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "command": ["offload", "bench"],
                "scenarios": [scenario_name],
                "quick": False,
                "started_at": 1_767_225_600.0,
                "status": "complete",
            }
        )
    )
    designs = {
        "sync": build_design(folder / "sync", "sync"),
        "async": build_design(folder / "async", "async", faster_emails=async_emails_faster),
    }
    manifest = {
        "schema_version": 1,
        "scenario": scenario(name=scenario_name),
        "quick": False,
        "phases": [
            {"name": "healthy", "start_s": 0.0, "end_s": FAULT_AT, "provider": "latency 50ms"},
            {"name": "slow", "start_s": FAULT_AT, "end_s": DURATION, "provider": "latency 2s"},
        ],
        "git": {"sha": "0123abc", "dirty": False},
        "versions": {"python": "3.11", "offload": "0.1.0"},
        "machine": {"hostname": "test", "cpus": 2},
        "broker": {"source": "local", "owned": False},
        "started_at": 1_767_225_600.0,
        "designs": designs,
        "invalid_reasons": list(invalid or []),
        "warnings": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "scenario.yaml").write_text("name: synthetic\n")
    write_summary(folder)
    return run_dir


def hdr_ms(seconds: list[float], percentile: float) -> float:
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for value in seconds:
        hist.record_value(round(value * 1e6))
    return hist.get_value_at_percentile(percentile) / 1000


def write_machine_record(
    design_dir: Path,
    t0: float,
    seconds: int,
    *,
    run_share: float,
    other_share: float,
    steal_share: float = 0.0,
    cores: int = 2,
) -> None:
    """``machine.csv`` as the sampler writes it, one row a second from ``t0``: the run's own
    processes busy for ``run_share`` of all cores, others for ``other_share``."""
    rows = []
    for second in range(seconds + 1):
        rows.append(
            {
                "t": t0 + second,
                "cores": cores,
                "total_s": second * cores,
                "busy_s": round(second * cores * (run_share + other_share), 6),
                "steal_s": round(second * cores * steal_share, 6),
                "iowait_s": 0.0,
                "run_cpu_s": round(second * cores * run_share, 6),
            }
        )
    _write_csv(
        design_dir / "machine.csv",
        ["t", "cores", "total_s", "busy_s", "steal_s", "iowait_s", "run_cpu_s"],
        rows,
    )


def make_generator_lag(design_dir: Path, lag_s: float, cpu_share: float) -> None:
    """Every request of ``design_dir`` sent ``lag_s`` after its schedule, and the generator's
    own report of ``cpu_share`` of a core: a generator that fell behind."""
    path = design_dir / "requests.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # sent late, so answered late
        for column in ("sent", "ended"):
            if row[column]:
                row[column] = str(float(row[column]) + lag_s)
    _write_csv(path, REQUEST_FIELDS, rows)
    SelfMeasurement(
        cpu_seconds=round(cpu_share * DURATION, 3),
        wall_seconds=DURATION,
        cpu_share_of_one_core=cpu_share,
        scheduled=len(rows),
        sent=sum(1 for row in rows if row["sent"]),
        dropped=sum(1 for row in rows if not row["sent"]),
    ).write(generator_report_path(path))
