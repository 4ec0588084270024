"""``summary.json``: the figures of one scenario run, computed from its raw records only.

The definitions (what counts as an error, where latency is measured from, what the ledger's
categories mean) are documented in ``reports/README.md`` and implemented here, once; reports
and the gate read the result rather than recomputing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload.analysis import clock_skew, noise, records
from offload.analysis.drain import drain_rate
from offload.analysis.machine import machine_load
from offload.analysis.percentiles import PERCENTILES, percentiles_ms
from offload.analysis.phases import provider_profile_at, scenario_model
from offload.analysis.uncertainty import (
    bootstrap_percentiles,
    supported,
    unsupported_reason,
    wilson,
)
from offload.rundir.broker_probe import BrokerProbeBesideLoad, BrokerProbeFigures
from offload.rundir.manifest import DesignEntry, PhaseRecord, ScenarioManifest
from offload.rundir.summary import (
    Consistency,
    DesignSummary,
    DrainRate,
    EmailLedger,
    EndpointStats,
    GeneratorStats,
    Interval,
    Lateness,
    MachineLoad,
    Percentiles,
    QueueStats,
    ResourceUse,
    Summary,
    WindowStats,
)
from offload.scenario import Scenario

#: the manifest's fields on the generator's floor and the stacks' floors, which the summary
#: carries unchanged
FLOOR_FIELDS = frozenset({"floor", "floor_not_measured", "stack_floors"})


def latency_block(
    seconds: np.ndarray[Any, Any],
    timeout_s: float | None = None,
    timed_out_share: float = 0.0,
) -> Percentiles:
    """HDR percentiles of durations (s) in ms, each with its 95 % bootstrap interval, the
    percentiles the sample cannot support, and those at the client timeout.

    A percentile is at the timeout when its value reached ``timeout_s`` or when more
    requests timed out than lie beyond it (``timed_out_share``): either way it is the
    client's patience, not the server's latency.
    """
    values = np.asarray(seconds, dtype=float)
    values = values[np.isfinite(values)]
    figures = percentiles_ms(values)
    count = int(values.size)
    intervals = bootstrap_percentiles(values * 1000, PERCENTILES)
    ci = {}
    for key, (low, high) in intervals.items():
        point = figures[key]
        if point is not None:  # HDR rounds to 0.1 %: the interval always holds the figure
            low, high = min(low, point), max(high, point)
        ci[key] = Interval(low=round(low, 3), high=round(high, 3))
    unavailable = {
        key: unsupported_reason(count, p)
        for key, p in PERCENTILES.items()
        if count and not supported(count, p)
    }
    at_timeout = []
    if timeout_s is not None and count:
        for key, p in PERCENTILES.items():
            value = figures[key]
            reached = value is not None and value >= timeout_s * 1000 * 0.999
            if reached or timed_out_share > 1 - p / 100:
                at_timeout.append(key)
    return Percentiles(
        **figures, count=count, ci=ci, unavailable=unavailable, at_timeout=at_timeout
    )


def window_stats(
    frame: pd.DataFrame, length_s: float, timeout_s: float | None = None
) -> WindowStats:
    """Counts, rates and latency percentiles of the requests scheduled in one window."""
    count = len(frame)
    error_class = frame["error_class"].fillna("")
    ok = int((error_class == "").sum())
    timeouts = int((error_class == "timeout").sum())
    dropped = int((error_class == "dropped").sum())
    http_4xx = int((error_class == "http_4xx").sum())
    http_5xx = int((error_class == "http_5xx").sum())
    connection = int((error_class == "connection").sum())
    answered = int(frame["status"].notna().sum())
    sent = frame[error_class != "dropped"]
    sent_class = error_class[error_class != "dropped"]
    length = max(length_s, 1e-9)
    from_scheduled = (sent["ended"] - sent["scheduled"]).to_numpy(dtype=float)
    timed_out_share = timeouts / len(sent) if len(sent) else 0.0
    share = wilson(count - ok, count)
    return WindowStats(
        count=count,
        ok=ok,
        errors=http_4xx + http_5xx + connection,
        http_4xx=http_4xx,
        http_5xx=http_5xx,
        connection_errors=connection,
        timeouts=timeouts,
        dropped=dropped,
        error_rate=round((count - ok) / count, 6) if count else None,
        offered_rate=round(count / length, 3),
        rate=round(answered / length, 3),
        goodput=round(ok / length, 3),
        latency_ms=latency_block(from_scheduled, timeout_s, timed_out_share),
        service_ms=latency_block(
            (sent["ended"] - sent["sent"]).to_numpy(dtype=float), timeout_s, timed_out_share
        ),
        error_rate_ci=None if share is None else Interval(low=share[0], high=share[1]),
        ok_latency_ms=latency_block(from_scheduled[(sent_class == "").to_numpy()]),
        failed_latency_ms=latency_block(
            from_scheduled[(sent_class != "").to_numpy()], timeout_s, 1.0 if timeouts else 0.0
        ),
    )


def endpoint_stats(
    requests: pd.DataFrame,
    stream: str,
    phases: list[PhaseRecord],
    duration_s: float,
    timeout_s: float | None = None,
) -> EndpointStats:
    """One endpoint's figures over the measured part and each phase; the warm-up's requests
    are counted apart (``warmup_count``) so every count can be reconciled."""
    mine = requests[requests["stream"] == stream]
    frame = mine[mine["phase"] == "measured"]
    return EndpointStats(
        overall=window_stats(frame, duration_s, timeout_s),
        phases={
            phase.name: window_stats(
                frame[(frame["offset"] >= phase.start_s) & (frame["offset"] < phase.end_s)],
                phase.duration_s,
                timeout_s,
            )
            for phase in phases
        },
        warmup_count=int((mine["phase"] == "warmup").sum()),
    )


def email_ledger(
    users: pd.DataFrame,
    provider: pd.DataFrame,
    jobs: pd.DataFrame,
    warmup_ids: set[str] | None = None,
) -> EmailLedger:
    """For every user the run created: was the welcome email delivered once, never, or more?

    ``warmup_ids``: correlation ids of the warm-up's signups; the users they created are owed
    an email too, and counted apart (``owed_warmup``) so the ledger reconciles with the
    measured signups.
    """
    owed_ids = set(users["id"].astype(str)) if "id" in users else set()
    owed_warmup = 0
    if warmup_ids and "correlation_id" in users:
        owed_warmup = int(users["correlation_id"].astype(str).isin(warmup_ids).sum())
    delivered = provider[provider["outcome"] == "delivered"]
    per_user = delivered.groupby("user_id").size() if not delivered.empty else pd.Series(dtype=int)
    once = {uid for uid, n in per_user.items() if n == 1}
    more = {uid for uid, n in per_user.items() if n > 1}
    without = owed_ids - once - more
    dead: set[str] = set()
    pending: set[str] = set()
    if not jobs.empty and "state" in jobs:
        dead_users = set(jobs.loc[jobs["state"] == "dead_lettered", "user_id"].astype(str))
        unfinished = ~jobs["state"].isin(["delivered", "dead_lettered"])
        pending_users = set(jobs.loc[unfinished, "user_id"].astype(str))
        dead = without & dead_users
        pending = (without - dead) & pending_users
    return EmailLedger(
        owed=len(owed_ids),
        delivered=len(once & owed_ids),
        lost=len(without - dead - pending),
        duplicates=len(more & owed_ids),
        dead_lettered=len(dead),
        pending=len(pending),
        orphaned=int((~delivered["user_id"].astype(str).isin(owed_ids)).sum()),
        duplicate_attempts=int((provider["outcome"] == "duplicate").sum()),
        owed_warmup=owed_warmup,
    )


def signup_consistency(measured: pd.DataFrame, users: pd.DataFrame) -> Consistency:
    """Where the client's view and the database disagree.

    ``stored_but_failed``: the client saw its signup fail (timeout, 5xx) but the user exists —
    typically a sync request that kept running after the client gave up; a retry would get
    409. ``acknowledged_but_missing``: a 2xx answer for a user that is not in the table.
    """
    signups = measured[measured["stream"] == "signup"]
    stored = set(users["correlation_id"].astype(str)) if "correlation_id" in users else set()
    failed = signups[signups["error_class"] != ""]
    ok = signups[(signups["error_class"] == "") & signups["user_id"].notna()]
    user_ids = set(users["id"].astype(str)) if "id" in users else set()
    return Consistency(
        stored_but_failed=int(failed["correlation_id"].astype(str).isin(stored).sum()),
        acknowledged_but_missing=int((~ok["user_id"].astype(str).isin(user_ids)).sum()),
    )


def end_to_end_seconds(measured: pd.DataFrame, provider: pd.DataFrame) -> np.ndarray[Any, Any]:
    """Scheduled signup time → the provider's first acceptance of that user's email."""
    signups = measured[(measured["stream"] == "signup") & measured["user_id"].notna()]
    accepted = provider[provider["outcome"] == "delivered"]
    if signups.empty or accepted.empty:
        return np.array([])
    first = accepted.groupby("user_id")["done_ts"].min()
    joined = signups.join(first, on="user_id", how="inner")
    return (joined["done_ts"] - joined["scheduled"]).to_numpy()


def queue_summary(
    queues: pd.DataFrame, jobs: pd.DataFrame, events: pd.DataFrame, load_end_epoch: float | None
) -> QueueStats:
    depth = queues[queues["role"].isin(["work", "retry"])] if not queues.empty else queues
    max_depth = None
    if not depth.empty:
        max_depth = int(depth.groupby("t")["depth"].sum().max())
    backlog = queues[queues["role"] == "backlog"] if not queues.empty else queues
    max_backlog = int(backlog["depth"].max()) if not backlog.empty else None
    finished = jobs["state"].isin(["delivered", "dead_lettered"]) if not jobs.empty else None
    drained = bool(finished.all()) if finished is not None else None
    drain_seconds = None
    if drained and load_end_epoch is not None and not events.empty:
        done = events[events["state"].isin(["delivered", "dead_lettered"])]
        if not done.empty:
            drain_seconds = round(max(0.0, float(done["at"].max()) - load_end_epoch), 3)
    return QueueStats(
        max_depth=max_depth,
        max_backlog=max_backlog,
        drain_seconds=drain_seconds,
        drained=drained,
    )


def resources(samples: pd.DataFrame) -> dict[str, ResourceUse]:
    """CPU seconds used during the run and peak RSS, per component."""
    result: dict[str, ResourceUse] = {}
    if samples.empty:
        return result
    for component, rows in samples.groupby("component", sort=True):
        cpu = rows["cpu_s"].dropna()
        rss = rows["rss_bytes"].dropna()
        result[str(component)] = ResourceUse(
            cpu_s=round(cpu_used(cpu), 3),
            peak_rss_mb=round(float(rss.max()) / 2**20, 1) if len(rss) else 0.0,
        )
    return result


def cpu_used(cumulative: pd.Series[float]) -> float:
    """CPU seconds used over a series of cumulative samples; a restarted process (the counter
    drops) starts counting again from its new value."""
    values = cumulative.to_numpy(dtype=float)
    if len(values) < 2:
        return 0.0
    steps = np.diff(values)
    return float(np.where(steps >= 0, steps, values[1:]).sum())


def generator_summary(
    measured: pd.DataFrame,
    report: records.GeneratorReport,
    machine: MachineLoad | None = None,
) -> GeneratorStats:
    """The generator's own figures; ``saturated`` when it could not keep its schedule by its
    own doing — not when a busy ``machine`` starved it (:mod:`offload.analysis.noise`)."""
    sent = measured[measured["error_class"] != "dropped"]
    not_waiting = sent[~sent["waited_for_slot"].fillna(False).astype(bool)]
    lag_ms = percentiles_ms((not_waiting["sent"] - not_waiting["scheduled"]).to_numpy())
    cpu_share = report.cpu_share_of_one_core
    cause = noise.lag_cause(lag_ms["p99"], cpu_share, machine)
    return GeneratorStats(
        processes=report.processes,
        cpu_s=report.cpu_seconds,
        cpu_percent=round(cpu_share * 100, 1) if cpu_share is not None else None,
        scheduled=len(measured),
        sent=len(sent),
        dropped=int((measured["error_class"] == "dropped").sum()),
        late_starts=int(sent["waited_for_slot"].fillna(False).astype(bool).sum()),
        lateness_ms=Lateness(p50=lag_ms["p50"], p99=lag_ms["p99"], max=lag_ms["max"]),
        saturated=cause == "generator",
        lag_cause=cause,
    )


def summarise_design(
    design_dir: Path,
    design: DesignEntry,
    phases: list[PhaseRecord],
    duration_s: float,
    timeout_s: float | None = None,
    scenario: Scenario | None = None,
) -> DesignSummary:
    """Every figure of one design's run (one entry of ``designs`` in summary.json);
    ``scenario`` (as run) gives the provider's latency for the drain rate's ceiling."""
    frame = records.requests(design_dir)
    measured = frame[frame["phase"] == "measured"]
    warmup_signups = frame[(frame["phase"] == "warmup") & (frame["stream"] == "signup")]
    provider = records.provider_log(design_dir)
    users = records.table(design_dir, "users")
    jobs = records.table(design_dir, "jobs")
    events = records.table(design_dir, "job_events")
    machine = None
    if design.t0_epoch is not None and design.load_end_epoch is not None:
        machine = machine_load(
            records.machine(design_dir),
            design.t0_epoch,
            design.load_end_epoch,
            records.samples(design_dir),
        )
    missing = tables_missing(design_dir, design)
    summary = DesignSummary(
        kind=design.kind,
        signup=endpoint_stats(frame, "signup", phases, duration_s, timeout_s),
        bystander=endpoint_stats(frame, "bystander", phases, duration_s, timeout_s),
        emails=None
        if missing
        else email_ledger(
            users, provider, jobs, set(warmup_signups["correlation_id"].dropna().astype(str))
        ),
        consistency=None if missing else signup_consistency(frame, users),
        e2e_ms=latency_block(end_to_end_seconds(measured, provider)),
        generator=generator_summary(measured, records.generator(design_dir), machine),
        resources=resources(records.samples(design_dir)),
    )
    if machine is not None:
        summary.machine = machine
    if missing:
        summary.tables_missing = missing
    if (design_dir / BrokerProbeBesideLoad.FILE_NAME).exists():
        probe = BrokerProbeBesideLoad.in_folder(design_dir)
        summary.broker_probe = BrokerProbeFigures(
            started_after_t0_s=probe.started_epoch - (design.t0_epoch or probe.started_epoch),
            paced=probe.paced,
        )
    if design.kind == "async" or not jobs.empty:  # queue figures for queue-backed designs only
        summary.queue = queue_summary(
            records.queues(design_dir), jobs, events, design.load_end_epoch
        )
        if missing:  # no jobs table: nothing to count, and a zero would claim none
            summary.retries = summary.dead_lettered = None
        else:
            summary.retries = int((events["state"] == "retrying").sum()) if not events.empty else 0
            summary.dead_lettered = (
                int((jobs["state"] == "dead_lettered").sum()) if not jobs.empty else 0
            )
        summary.drain_rate = design_drain_rate(design_dir, design, provider, events, scenario)
    return summary


def design_drain_rate(
    design_dir: Path,
    design: DesignEntry,
    provider: pd.DataFrame,
    events: pd.DataFrame,
    scenario: Scenario | None,
) -> DrainRate | None:
    """The drain rate of a queue-backed design (None: no backlog stood, so no figure)."""
    config = design.config
    t0 = design.t0_epoch or 0.0
    cap = config.provider_timeout_s

    def latency_at(epoch: float) -> float | None:
        if scenario is None:
            return None
        latency = float(provider_profile_at(scenario, epoch - t0).latency)
        return min(latency, cap) if cap else latency

    return drain_rate(
        queues=records.queues(design_dir),
        provider=provider,
        samples=records.samples(design_dir),
        machine=records.machine(design_dir),
        events=events,
        workers=config.workers or 1,
        prefetch=config.prefetch or 1,
        latency_at=latency_at,
    )


def tables_missing(design_dir: Path, design: DesignEntry) -> str | None:
    """Why the design's database tables are not in its folder, or None when they are.

    The export failed (the manifest says why), or the load ran and yet no ``users.csv`` was
    left (the bench stopped before the export). A design that never reached its load has no
    tables to miss: its ledger is the empty one.
    """
    if design.ledger_not_measured is not None:
        return design.ledger_not_measured
    if design.tables_error is not None:
        return f"tables could not be exported: {design.tables_error}"
    if design.t0_epoch is not None and not (design_dir / "users.csv").exists():
        return "tables could not be exported: users.csv is missing from the design's folder"
    return None


def summarise_scenario(scenario_dir: Path) -> Summary:
    """Compute ``summary.json`` for one scenario folder from its manifest and raw records."""
    manifest = ScenarioManifest.in_folder(scenario_dir)
    load = manifest.scenario.load
    invalid = list(manifest.invalid_reasons)
    warnings = list(manifest.warnings)
    if load.mode == "closed":
        warnings.append(
            "closed loop: each user waits for its answer, so latency is counted from the send "
            "time and a slow server receives fewer requests (coordinated omission)"
        )
    client = manifest.scenario.client
    timeout = client.timeout if client else None
    model = scenario_model(manifest.scenario)
    designs: dict[str, DesignSummary] = {}
    for name, design in manifest.designs.items():
        design_dir = scenario_dir / name
        if not design_dir.is_dir():
            continue
        summary = summarise_design(
            design_dir, design, manifest.phases, load.duration, timeout, model
        )
        designs[name] = summary
        generator, machine = summary.generator, summary.machine
        if generator.lag_cause is not None:
            invalid.append(noise.invalid_reason(name, generator, machine))
        elif machine is not None and machine.busy:
            warnings.append(noise.busy_warning(name, machine))
        if design.ledger_not_measured is not None:
            warnings.append(f"{name}: {design.ledger_not_measured}")
        elif summary.tables_missing is not None:
            invalid.append(
                f"{name}: the database {summary.tables_missing}; the email ledger has no value "
                "(every expectation on it fails)"
            )
        warnings.extend(_sanity(name, summary))
        invalid.extend(clock_skew.invalid_reasons(name, design.remote_workers))
    # carried as recorded: a manifest from before offload measured the floor has neither
    floor = {key: getattr(manifest, key) for key in FLOOR_FIELDS & manifest.model_fields_set}
    return Summary(
        **floor,
        scenario=manifest.scenario.name,
        repeat=manifest.repeat,
        quick=manifest.quick,
        mode=load.mode,
        client_timeout_s=timeout,
        valid=not invalid,
        invalid_reasons=invalid,
        warnings=warnings,
        phases=manifest.phases,
        designs=designs,
    )


def write_summary(scenario_dir: Path) -> Summary:
    summary = summarise_scenario(scenario_dir)
    summary.dump(scenario_dir / Summary.FILE_NAME)
    return summary


def _sanity(name: str, summary: DesignSummary) -> list[str]:
    """Warnings a careful reader would want next to the figures."""
    problems = []
    signups = summary.signup.overall.count
    if signups and signups < 100:
        problems.append(
            f"{name}: only {signups} signups were measured; percentiles above p99 "
            "rest on a handful of requests"
        )
    if summary.generator.dropped:
        problems.append(
            f"{name}: {summary.generator.dropped} requests were dropped (no free in-flight "
            "slot within the client timeout): the target held every slot"
        )
    if summary.queue is not None and summary.queue.drained is False:
        problems.append(f"{name}: the backlog had not drained when the drain timeout ended")
    return problems
