"""The live view reads the records as the generator and the sampler write them.

What a user watching a bench would notice: the figures are the last few seconds' (not the
whole run's), a row the generator is still writing is not misread, warm-up requests are not
shown, errors and timeouts are counted, and a CI log gets the same figures on its plain line.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from loadtests.plan import LoadPlan, Segment, Stream
from loadtests.records import RecordWriter, RequestRecord
from offload.run.live import LAG_S, CsvTail, LiveWindow
from offload.run.progress import BenchProgress

pytestmark = pytest.mark.unit

T0 = 1_000.0


def _record(stream: str, scheduled: float, latency: float, error_class: str = "") -> RequestRecord:
    return RequestRecord(
        stream=stream,
        name="POST /users" if stream == "signup" else "GET /healthz",
        phase="measured" if scheduled >= T0 else "warmup",
        offset=scheduled - T0,
        scheduled=scheduled,
        sent=scheduled + 0.001,
        ended=scheduled + latency,
        status=None if error_class == "timeout" else 201,
        error_class=error_class,
        waited_for_slot=False,
        correlation_id="c",
    )


def _flat(rate: float) -> Segment:
    return Segment(start_s=0, end_s=20, rate_from=rate, rate_to=rate)


def _design_dir(tmp_path: Path) -> Path:
    plan = LoadPlan(
        streams=[
            Stream(
                name="signup", segments=[Segment(start_s=0, end_s=20, rate_from=20, rate_to=20)]
            ),
            Stream(
                name="bystander", segments=[Segment(start_s=0, end_s=20, rate_from=10, rate_to=10)]
            ),
        ],
        duration_s=20,
    )
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    return tmp_path


def test_the_window_holds_the_last_seconds_and_counts_errors_since_t0(tmp_path: Path):
    design_dir = _design_dir(tmp_path)
    writer = RecordWriter(design_dir / "requests.csv")
    writer.add(_record("signup", T0 - 1.0, 9.0))  # warm-up: never shown
    for i in range(10):  # ended at T0+0.01 .. T0+0.91: outside a 5 s window ending at T0+10
        writer.add(_record("signup", T0 + i * 0.1, 0.010))
    for i in range(50):  # ended within the last 5 s: 40 ms signups
        writer.add(_record("signup", T0 + 6 + i * 0.05, 0.040))
    writer.add(_record("signup", T0 + 1, 5.0, error_class="timeout"))  # ended at T0+6
    writer.add(_record("bystander", T0 + 8, 0.003))
    writer.flush()
    (design_dir / "queues.csv").write_text(
        "t,queue,role,depth\n1,q.work,work,3\n1,q.retry,retry,2\n1,q.dead,dead,7\n2,q.work,work,12\n"
    )

    figures = LiveWindow(design_dir, lag_s=0).figures(now=T0 + 10, t0=T0)

    assert figures.signup_p50_ms == pytest.approx(40, abs=0.5)
    # a timed-out signup counts at the latency it had (as in the report): it shows in the p99
    assert figures.signup_p99_ms is not None and figures.signup_p99_ms > 1000
    assert figures.timeouts == 1 and figures.errors == 0
    assert figures.bystander_p99_ms == pytest.approx(3, abs=0.5)
    assert figures.offered_rate == 30  # 20 signups + 10 bystanders per second at t=10 s
    assert figures.queue_depth == 12 + 2  # the latest depth of the work and retry queues
    assert figures.answered_rate == pytest.approx((50 + 1 + 1) / 5)
    line = figures.line()
    assert "30/s offered, 10.4/s answered" in line
    assert "signup p50 40.0 ms p99 " in line and "(last 5 s)" in line
    assert "0 errors, 1 timeouts" in line and "queue 14" in line


def test_early_in_the_measured_part_the_rate_is_over_the_seconds_since_t0(tmp_path: Path):
    design_dir = _design_dir(tmp_path)
    writer = RecordWriter(design_dir / "requests.csv")
    for i in range(10):
        writer.add(_record("signup", T0 - 2 + i * 0.1, 0.010))  # warm-up: left out
        writer.add(_record("signup", T0 + i * 0.1, 0.010))
    writer.flush()
    early = LiveWindow(design_dir, lag_s=0).figures(now=T0 + 2, t0=T0)
    assert early.answered_rate == pytest.approx(10 / 2)  # not 10 / 5 s: only 2 s were measured


def test_requests_that_ended_after_the_window_are_left_for_the_next_one(tmp_path: Path):
    """The window ends 1.5 s ago (the generator writes its records once a second); what the
    file already holds beyond that end is not counted in it."""
    design_dir = _design_dir(tmp_path)
    writer = RecordWriter(design_dir / "requests.csv")
    for i in range(100):  # 20/s for 5 s, each answered in 10 ms
        writer.add(_record("signup", T0 + 5 + i * 0.05, 0.010))
    writer.flush()
    figures = LiveWindow(design_dir).figures(now=T0 + 8.5 + LAG_S, t0=T0)
    # ended at T0+5.01 .. T0+9.96: only the 70 that ended by T0+8.5 count, over the 5 s window
    assert figures.answered_rate == pytest.approx(70 / 5)


def test_a_row_still_being_written_is_read_whole_at_the_next_poll(tmp_path: Path):
    path = tmp_path / "requests.csv"
    path.write_text("stream,scheduled\nsignup,1.0\nsign")
    tail = CsvTail(path)
    assert list(tail.rows()) == [{"stream": "signup", "scheduled": "1.0"}]
    with path.open("a") as handle:
        handle.write("up,2.0\n")
    assert list(tail.rows()) == [{"stream": "signup", "scheduled": "2.0"}]
    assert list(tail.rows()) == []


def test_a_ci_log_gets_the_figures_on_its_plain_line_and_quiet_leaves_them_out():
    for quiet in (False, True):
        out = io.StringIO()
        console = Console(file=out, force_terminal=False, width=300)
        with BenchProgress(
            console, total_runs=1, line_every_s=0, live_figures=not quiet
        ) as progress:
            progress.start_run("slow-downstream", "async", 60)
            progress.figures("20/s offered, 19.8/s answered")
            progress.update(12, "phase slow", 60)
        line = out.getvalue().splitlines()[1]
        assert line.startswith("[1/1] slow-downstream · async: phase slow (12s, 48s left)")
        assert ("— 20/s offered, 19.8/s answered" in line) is not quiet


def test_before_two_measured_seconds_the_line_shows_no_rate(tmp_path: Path):
    """A CI log once read "30/s offered, 4.0/s answered" a moment after t=0 (two requests
    over half a second), and "0/s offered" while the lagged window still ended before t=0."""
    design_dir = _design_dir(tmp_path)
    writer = RecordWriter(design_dir / "requests.csv")
    for i in range(3):
        writer.add(_record("signup", T0 + i * 0.1, 0.010))
    writer.flush()
    for now in (T0 + 0.5, T0 + 1.9, T0 + 1.0 + LAG_S):
        figures = LiveWindow(design_dir).figures(now=now, t0=T0)
        assert figures.answered_rate is None and figures.offered_rate is None
        assert figures.line().startswith("measuring")
    later = LiveWindow(design_dir).figures(now=T0 + 2.0 + LAG_S, t0=T0)
    assert later.answered_rate == pytest.approx(3 / 2)
