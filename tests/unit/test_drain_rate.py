"""The drain rate from hand-made records: emails delivered per second while the backlog stood
above workers × prefetch, beside the ceiling workers × prefetch ÷ latency, and the bound the
figures show. No standing backlog gives no figure — never 0."""

from __future__ import annotations

import pandas as pd
import pytest

from offload.analysis.comparison import analyse_scenario
from offload.analysis.drain import drain_rate, standing_intervals
from offload.report.drain_section import drain_blocks
from offload.report.markdown import render_markdown
from offload.rundir.summary import DrainRate
from tests.factories.records import build_run

T = 1000.0


def _queues(depths: list[float]) -> pd.DataFrame:
    """One backlog sample a second from T (and a work-queue row the backlog ignores)."""
    rows = [{"t": T + i, "queue": "(unfinished jobs)", "role": "backlog", "depth": d}
            for i, d in enumerate(depths)]  # fmt: skip
    rows += [
        {"t": T + i, "queue": "q.work", "role": "work", "depth": 0} for i in range(len(depths))
    ]
    return pd.DataFrame(rows)


def _provider(per_second: int, seconds: tuple[float, float], call_s: float) -> pd.DataFrame:
    """``per_second`` deliveries a second answered evenly in [T+a, T+b), each ``call_s`` long."""
    start, end = seconds
    count = int(per_second * (end - start))
    rows = []
    for i in range(count):
        done = T + start + (i + 0.5) / per_second
        rows.append({"ts": done - call_s, "done_ts": done, "job_id": f"j{i}",
                     "user_id": f"u{i}", "outcome": "delivered"})  # fmt: skip
    return pd.DataFrame(rows)


def _cpu(parts: dict[str, tuple[str, float]], seconds: int = 8) -> pd.DataFrame:
    """samples.csv: component → (role, cores used every second)."""
    return pd.DataFrame(
        [{"t": T + s, "component": name, "role": role, "processes": 1, "cpu_s": cores * s,
          "rss_bytes": 1}
         for s in range(seconds + 1) for name, (role, cores) in parts.items()]
    )  # fmt: skip


def _machine(busy_cores: float, run_cores: float, seconds: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        [{"t": T + s, "cores": 2, "total_s": 2.0 * s, "busy_s": busy_cores * s, "steal_s": 0.0,
          "iowait_s": 0.0, "run_cpu_s": run_cores * s} for s in range(seconds + 1)]
    )  # fmt: skip


def _rate(
    queues: pd.DataFrame,
    provider: pd.DataFrame,
    *,
    workers: int = 4,
    prefetch: int = 50,
    latency_s: float = 0.01,
    samples: pd.DataFrame | None = None,
    machine: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> DrainRate | None:
    return drain_rate(
        queues=queues,
        provider=provider,
        samples=samples if samples is not None else pd.DataFrame(),
        machine=machine if machine is not None else pd.DataFrame(),
        events=events if events is not None else pd.DataFrame(),
        workers=workers,
        prefetch=prefetch,
        latency_at=lambda _epoch: latency_s,
    )


def test_only_intervals_between_two_samples_above_the_slots_count():
    # slots 200: samples 1-4 above it, 0 and 5 below
    intervals = standing_intervals(_queues([50, 500, 600, 550, 300, 100]), 200)
    assert intervals == [(T + 1, T + 2), (T + 2, T + 3), (T + 3, T + 4)]


def test_rate_is_deliveries_inside_the_standing_seconds_and_cpu_names_the_bound():
    # 100 deliveries a second from T to T+6; the backlog stood from T+1 to T+4 (3 s)
    figure = _rate(
        _queues([50, 500, 600, 550, 300, 100, 0, 0, 0]),
        _provider(100, (0, 6), 0.01),
        samples=_cpu(
            {
                "async-worker-1": ("worker", 1.1),
                "broker": ("broker", 0.3),
                "async-api": ("server", 0.1),
                "provider": ("provider", 0.2),
            }
        ),
        machine=_machine(busy_cores=1.96, run_cores=1.9),
    )
    assert figure is not None
    assert figure.delivered == 300 and figure.standing_s == pytest.approx(2.995)
    assert figure.jobs_per_s == pytest.approx(100.0, rel=0.01)
    assert figure.slots == 200 and figure.peak_backlog == 600
    assert figure.ceiling_jobs_per_s == pytest.approx(20_000)  # 4 × 50 ÷ 10 ms
    assert figure.provider_in_flight == pytest.approx(1.0)  # 100/s × 10 ms (Little's law)
    assert figure.provider_measured_ms == pytest.approx(10.0)
    # the run's CPU beyond every sampled component: the harness (and anything unsampled)
    assert figure.cpu_cores["harness and unsampled"] == pytest.approx(0.2)
    assert figure.machine_busy_share == pytest.approx(0.98)
    assert figure.bound == "workers"
    assert "the workers used the most of them" in figure.bound_reason
    assert "only 1.0 of 200 slots were at the provider" in figure.bound_reason


def test_no_standing_backlog_gives_no_figure_not_zero():
    deliveries = _provider(100, (0, 6), 0.01)
    # deliveries aplenty, but the backlog never rose above the 200 slots
    assert _rate(_queues([10, 150, 199, 120, 0, 0]), deliveries) is None
    # above the slots at one sample only: no interval stood
    assert _rate(_queues([10, 900, 150, 0]), deliveries) is None
    # above for one second, with 10 deliveries in it: a count, not a rate
    assert _rate(_queues([10, 900, 900, 150, 0]), _provider(10, (0, 5), 0.01)) is None
    # no backlog samples at all (a run without the jobs table's counter)
    assert _rate(pd.DataFrame(), deliveries) is None


def test_a_rate_at_the_ceiling_is_bounded_by_the_workers_windows():
    # 1 worker × prefetch 20 against a 1 s provider: at most 20/s, and 20/s were delivered
    figure = _rate(_queues([0, 500, 480, 460, 440, 0]), _provider(20, (0, 5), 1.0),
                   workers=1, prefetch=20, latency_s=1.0)  # fmt: skip
    assert figure is not None and figure.jobs_per_s == pytest.approx(20.0, rel=0.03)
    assert figure.bound == "prefetch"
    assert "of the ceiling workers × prefetch ÷ provider latency = 20 ÷ 1,000 ms" in (
        figure.bound_reason
    )


def test_full_windows_and_slow_answers_name_the_provider():
    # 10 slots, configured 100 ms (100/s), but every call took 500 ms: 20/s, 10 at once
    figure = _rate(_queues([0, 400, 380, 360, 340, 0]), _provider(20, (0, 5), 0.5),
                   workers=2, prefetch=5, latency_s=0.1)  # fmt: skip
    assert figure is not None and figure.jobs_per_s == pytest.approx(20.0, rel=0.02)
    assert figure.provider_in_flight == pytest.approx(10.0, rel=0.02)
    assert figure.bound == "provider"
    assert "answered in 500 ms on average, not the configured 100 ms" in figure.bound_reason


def _events(provider: pd.DataFrame, before_s: float, after_s: float) -> pd.DataFrame:
    rows = []
    for row in provider.itertuples():
        rows.append({"job_id": row.job_id, "state": "sending", "at": row.ts - before_s})
        rows.append({"job_id": row.job_id, "state": "delivered", "at": row.done_ts + after_s})
    return pd.DataFrame(rows)


def test_with_cores_to_spare_the_job_events_split_database_from_broker():
    queues = _queues([0, 900, 900, 900, 900, 0])
    provider = _provider(100, (0, 5), 0.01)
    quiet = _machine(busy_cores=0.8, run_cores=0.8)
    # 200 slots at 100/s: each job held ~2 s; 1.5 s of it waiting on its two writes
    slow_writes = _rate(queues, provider, machine=quiet, events=_events(provider, 0.9, 0.6))
    assert slow_writes is not None and slow_writes.bound == "database"
    assert slow_writes.before_call_ms == pytest.approx(900) and slow_writes.after_call_ms == 600
    # the writes are quick: the ~2 s go somewhere no record covers (broker delivery, acks)
    quick_writes = _rate(queues, provider, machine=quiet, events=_events(provider, 0.01, 0.01))
    assert quick_writes is not None and quick_writes.bound == "broker"
    # no job events: nothing says where
    unknown = _rate(queues, provider, machine=quiet)
    assert unknown is not None and unknown.bound == "unexplained"


def test_summary_and_report_show_no_figure_for_a_backlog_that_never_stood(tmp_path):
    # the hand-made async run's backlog peaks at 7, below its 2 workers × 5 slots
    run = build_run(tmp_path)
    analysis = analyse_scenario(run / "synthetic")
    figures = analysis.data.summary.figures()["designs"]
    assert "drain_rate" in figures["async"] and figures["async"]["drain_rate"] is None
    assert "drain_rate" not in figures["sync"]  # no queue: no such figure at all
    assert "async" not in analysis.drain_rates
    text = render_markdown(drain_blocks(analysis), run / "synthetic" / "report.md")
    assert "no figure: no backlog stood above workers × prefetch" in text


def test_a_stretch_counts_from_its_first_delivery_when_the_workers_were_starting():
    # the backlog stood from T+1 to T+6, but the workers delivered nothing until T+3
    # (scaled to none, then starting): 100/s from T+3 on is their pace, not 60/s
    figure = _rate(_queues([0, 900, 900, 900, 900, 900, 900, 0]), _provider(100, (3, 7), 0.01))
    assert figure is not None
    assert figure.standing_s == pytest.approx(2.995, abs=0.01)
    assert figure.jobs_per_s == pytest.approx(100.0, rel=0.01)


def _burst_events(queued: int, burst_s: float, delivered: pd.DataFrame) -> pd.DataFrame:
    """``queued`` jobs queued evenly over [T, T+burst_s), each finished when the provider
    accepted it (its ``delivered`` event)."""
    rows = [{"job_id": f"j{i}", "state": "queued", "at": T + i * burst_s / queued}
            for i in range(queued)]  # fmt: skip
    rows += [{"job_id": r.job_id, "state": "delivered", "at": r.done_ts}
             for r in delivered.itertuples()]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_job_events_count_the_backlog_exactly_where_the_samples_cannot():
    # 1,000 jobs queued in the first second, drained at 500/s from T+1: the backlog stood
    # above 200 until T+2.6 — between two 1 Hz samples (T+2: 500, T+3: 0), which see 1 s
    provider = _provider(500, (1, 3), 0.01)
    events = _burst_events(1000, 1.0, provider)
    figure = _rate(_queues([0, 1000, 500, 0]), provider, events=events)
    assert figure is not None and figure.backlog_from == "job_events"
    assert figure.standing_s == pytest.approx(1.6, abs=0.01)  # from the first delivery
    assert figure.jobs_per_s == pytest.approx(500, rel=0.01)
    # the 1 Hz samples alone see one standing interval (T+1 → T+2), less the ms before its
    # first delivery: under the second a figure needs
    assert _rate(_queues([0, 1000, 500, 0]), provider) is None
