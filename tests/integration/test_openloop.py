"""The open-loop generator: schedules are right, and latency is measured from the schedule.

The end-to-end tests run Locust as a real subprocess against ``tests/stall_server.py``,
which holds every response during 1 s of every 10 s. The truth is known from the
schedule alone: a request scheduled at ``s`` is answered at ``max(s, end of the stall
containing s)`` plus about a millisecond. A closed-loop generator would not see most of
that; an open-loop one must.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from pydantic import ValidationError

from loadtests.plan import LoadPlan, Segment, Stream
from loadtests.records import ErrorClass, classify
from loadtests.schedule import arrival_times, merge_streams, worker_share
from loadtests.signup_traffic import SignupTraffic
from offload.ports import free_port, wait_for_port
from tests.stall_server import StallClock

REPO = Path(__file__).resolve().parents[2]
LOCUST = str(REPO / ".venv" / "bin" / "locust")
LOCUSTFILE = str(REPO / "loadtests" / "signup.py")

STALL_PERIOD_S = 10.0
STALL_S = 1.0
#: answer time of the stall server outside stalls, added to the truth
SERVICE_S = 0.001


def constant(rate: float, start: float, end: float, rate_to: float | None = None) -> Segment:
    return Segment(
        start_s=start, end_s=end, rate_from=rate, rate_to=rate if rate_to is None else rate_to
    )


# -- schedules ---------------------------------------------------------------------------


def test_constant_arrivals_are_evenly_spaced_and_match_rate_times_duration():
    stream = Stream(name="signup", arrivals="constant", segments=[constant(100, 0, 20)])
    times = arrival_times(stream, warmup_s=0, duration_s=20)
    assert abs(len(times) - 2000) <= 20
    assert np.allclose(np.diff(times), 0.01)
    assert times[0] == 0 and times[-1] < 20


def test_poisson_arrivals_match_rate_within_statistical_noise():
    counts = []
    for seed in range(20):
        stream = Stream(name="s", arrivals="poisson", seed=seed, segments=[constant(100, 0, 20)])
        times = arrival_times(stream, warmup_s=0, duration_s=20)
        assert np.all(np.diff(times) >= 0) and times.min() >= 0 and times.max() < 20
        counts.append(len(times))
        gaps = np.diff(times)
        # exponential gaps: mean 1/rate, coefficient of variation 1
        assert gaps.mean() == pytest.approx(0.01, rel=0.1)
        assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.1)
    sigma = np.sqrt(2000)
    assert all(abs(c - 2000) < 4.5 * sigma for c in counts)
    assert abs(np.mean(counts) - 2000) < 4.5 * sigma / np.sqrt(len(counts))


def test_poisson_schedule_repeats_for_a_seed_and_differs_between_seeds():
    def times(seed):
        stream = Stream(name="s", arrivals="poisson", seed=seed, segments=[constant(50, 0, 5)])
        return arrival_times(stream, 0, 5)

    assert np.array_equal(times(7), times(7))
    assert not np.array_equal(times(7), times(8))


@pytest.mark.parametrize("arrivals", ["constant", "poisson"])
def test_ramps_and_steps_give_the_integral_of_the_rate(arrivals):
    segments = [
        constant(0, 0, 10, rate_to=100),  # ramp up: 500
        constant(200, 10, 15),  # step: 1000
        constant(50, 20, 30, rate_to=0),  # gap 15-20 at rate 0, then ramp down: 250
    ]
    stream = Stream(name="s", arrivals=arrivals, seed=3, segments=segments)
    times = arrival_times(stream, warmup_s=0, duration_s=30)
    slack = 2 if arrivals == "constant" else 4.5

    def near(count, expected):
        return abs(count - expected) <= max(slack, slack * np.sqrt(expected))

    assert near(len(times), 1750)
    assert near(int(np.sum(times < 5)), 125)  # first half of the ramp: a quarter of it
    assert near(int(np.sum((times >= 5) & (times < 10))), 375)
    assert near(int(np.sum((times >= 10) & (times < 15))), 1000)
    assert int(np.sum((times >= 15) & (times < 20))) == 0
    assert near(int(np.sum(times >= 20)), 250)


def test_constant_arrivals_follow_the_instantaneous_rate_on_a_ramp():
    stream = Stream(name="s", arrivals="constant", segments=[constant(10, 0, 10, rate_to=100)])
    times = arrival_times(stream, 0, 10)
    gaps = np.diff(times)
    midpoints = (times[1:] + times[:-1]) / 2
    instantaneous = 10 + 9 * midpoints
    assert np.allclose(gaps * instantaneous, 1.0, rtol=0.01)


def test_warmup_runs_before_zero_at_the_first_segments_rate():
    stream = Stream(name="s", arrivals="constant", segments=[constant(40, 0, 10, rate_to=80)])
    times = arrival_times(stream, warmup_s=5, duration_s=10)
    warmup = times[times < 0]
    assert len(warmup) == 200 and warmup.min() == pytest.approx(-5)
    assert np.allclose(np.diff(warmup), 1 / 40)
    assert abs(np.sum(times >= 0) - 600) <= 1


def test_merge_orders_all_streams_by_time():
    plan = LoadPlan(
        streams=[
            Stream(name="signup", arrivals="poisson", segments=[constant(40, 0, 10)]),
            Stream(name="bystander", arrivals="constant", segments=[constant(10, 0, 10)]),
        ],
        duration_s=10,
    )
    merged = merge_streams(plan)
    offsets = [a.offset for a in merged]
    assert offsets == sorted(offsets)
    counts = Counter(a.stream for a in merged)
    assert counts["bystander"] == 100
    assert abs(counts["signup"] - 400) < 4.5 * np.sqrt(400)


def test_worker_split_of_two_gives_disjoint_halves_whose_union_is_the_schedule():
    plan = LoadPlan(
        streams=[
            Stream(name="signup", arrivals="poisson", segments=[constant(40, 0, 10)]),
            Stream(name="bystander", arrivals="constant", segments=[constant(10, 0, 10)]),
        ],
        duration_s=10,
        worker_count=2,
    )
    everything = merge_streams(plan)
    first, second = (worker_share(merge_streams(plan), i, 2) for i in range(2))
    assert abs(len(first) - len(second)) <= 1
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(everything)


def test_plan_rejects_overlapping_segments_and_segments_past_the_duration():
    with pytest.raises(ValidationError, match="overlap"):
        Stream(name="s", segments=[constant(1, 0, 10), constant(1, 5, 15)])
    with pytest.raises(ValidationError, match="after duration_s"):
        LoadPlan(streams=[Stream(name="s", segments=[constant(1, 0, 10)])], duration_s=5)


def test_classification_of_outcomes():
    from geventhttpclient.useragent import RetriesExceeded

    assert classify(200, None) is ErrorClass.OK
    assert classify(503, Exception("bad status")) is ErrorClass.HTTP_5XX
    assert classify(409, Exception("bad status")) is ErrorClass.HTTP_4XX
    assert classify(None, ConnectionRefusedError(111, "refused")) is ErrorClass.CONNECTION
    wrapped = RetriesExceeded("http://127.0.0.1:1/", 0, original=TimeoutError("timed out"))
    assert classify(None, wrapped) is ErrorClass.TIMEOUT


# -- end to end: Locust against the stall server -----------------------------------------


class Servers:
    """Starts stall servers on free loopback ports and stops every one of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> str:
        port = free_port()
        log = (self.tmp / f"server-{port}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.stall_server", "--port", str(port), *args],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        assert wait_for_port("127.0.0.1", port, 10), "stall server did not start"
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("servers"))
    yield s
    s.stop()


def locust_argv(host: str, workdir: Path, *options: str, records: bool = True) -> list[str]:
    """Locust's command line for one headless run writing into ``workdir``."""
    records_option = ["--records", str(workdir / "requests.csv")] if records else []
    return [
        LOCUST,
        "-f",
        LOCUSTFILE,
        "--headless",
        "--host",
        host,
        "-u",
        "1",
        "-r",
        "1",
        "--run-time",
        "90s",
        "--csv",
        str(workdir / "locust"),
        *records_option,
        *options,
    ]


class Run:
    """A finished Locust run: its records, self-measurement and Locust's own CSV."""

    def __init__(self, workdir: Path, returncode: int, output: str, wall_s: float) -> None:
        self.workdir = workdir
        self.returncode = returncode
        self.output = output
        self.wall_s = wall_s
        records = workdir / "requests.csv"
        self.records = list(csv.DictReader(records.open())) if records.exists() else []
        generator = workdir / "requests.generator.json"
        self.generator = json.loads(generator.read_text()) if generator.exists() else None

    def measured(self) -> list[dict[str, str]]:
        return [r for r in self.records if r["phase"] == "measured"]

    def locust_request_count(self) -> int:
        with (self.workdir / "locust_stats.csv").open() as fh:
            rows = {row["Name"]: row for row in csv.DictReader(fh)}
        return int(rows["Aggregated"]["Request Count"])


def start_locust(workdir: Path, argv: list[str]) -> tuple[subprocess.Popen, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "locust.log").open("wb")
    proc = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    return proc, time.monotonic()


def finish_locust(workdir: Path, proc: subprocess.Popen, started: float, timeout: float) -> Run:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"locust did not end by itself within {timeout}s")
    wall = time.monotonic() - started
    return Run(workdir, proc.returncode, (workdir / "locust.log").read_text(), wall)


def run_locust(workdir: Path, argv: list[str], timeout: float = 60) -> Run:
    return finish_locust(workdir, *start_locust(workdir, argv), timeout)


def histogram_us(seconds) -> HdrHistogram:
    hist = HdrHistogram(1, 120_000_000, 3)
    for s in seconds:
        hist.record_value(max(1, round(s * 1e6)))
    return hist


def p(hist: HdrHistogram, percentile: float) -> float:
    return hist.get_value_at_percentile(percentile) / 1e6


def true_latencies(records, clock: StallClock) -> list[float]:
    """What an ideal client sees: held until the stall containing its schedule ends."""
    out = []
    for r in records:
        scheduled = float(r["scheduled"])
        end = clock.stall_end(scheduled)
        out.append((end - scheduled if end is not None else 0.0) + SERVICE_S)
    return out


STALL_RATE = 100
STALL_DURATION_S = 20
STALL_SCHEDULED = STALL_RATE * STALL_DURATION_S


@pytest.fixture(scope="module")
def stall_runs(servers, tmp_path_factory):
    """Two runs at 100/s over two stalls, side by side: a large and a small in-flight bound.

    Stalls start 7 s after launch and every 10 s: the measured part starts about 2.8 s after
    launch (Locust's start-up, the generator's 0.5 s lead, 1 s warm-up), so the 20 s measured
    window holds two whole stalls.
    """
    epoch = time.time() + 7.0
    clock = StallClock(epoch, STALL_PERIOD_S, STALL_S)
    stall = ["--period", str(STALL_PERIOD_S), "--stall", str(STALL_S), "--epoch", str(epoch)]
    base = tmp_path_factory.mktemp("stall")
    large_dir, small_dir = base / "large", base / "small"
    large = start_locust(
        large_dir,
        locust_argv(
            servers.start(*stall),
            large_dir,
            *("--rate", str(STALL_RATE), "--duration", str(STALL_DURATION_S), "--warmup", "1"),
            *("--arrivals", "constant", "--max-in-flight", "1000", "--timeout", "5"),
        ),
    )
    # the small-bound run reads a plan file, the way the harness drives the generator
    plan = {
        "streams": [
            {
                "name": "signup",
                "arrivals": "constant",
                "segments": [
                    {
                        "start_s": 0,
                        "end_s": STALL_DURATION_S,
                        "rate_from": STALL_RATE,
                        "rate_to": STALL_RATE,
                    }
                ],
            }
        ],
        "warmup_s": 1,
        "duration_s": STALL_DURATION_S,
        "timeout_s": 5,
        "max_in_flight": 5,
        "max_start_delay_s": 5,
        "records_path": str(small_dir / "requests.csv"),
    }
    small_dir.mkdir(parents=True)
    (small_dir / "plan.json").write_text(json.dumps(plan))
    small = start_locust(
        small_dir,
        locust_argv(
            servers.start(*stall), small_dir, "--plan", str(small_dir / "plan.json"), records=False
        ),
    )
    closed_dir = base / "closed"
    closed_argv = locust_argv(
        servers.start(*stall),
        closed_dir,
        *("--rate", str(STALL_RATE), "--duration", str(STALL_DURATION_S), "--warmup", "1"),
        *("--timeout", "5", "--closed-loop"),
    )
    closed_argv[closed_argv.index("-u") + 1] = closed_argv[closed_argv.index("-r") + 1] = "10"
    closed = start_locust(closed_dir, closed_argv)
    return {
        "clock": clock,
        "large": finish_locust(large_dir, *large, timeout=60),
        "small": finish_locust(small_dir, *small, timeout=60),
        "closed": finish_locust(closed_dir, *closed, timeout=60),
    }


def test_open_loop_latency_from_schedule_matches_the_truth_through_stalls(stall_runs):
    run: Run = stall_runs["large"]
    assert run.returncode == 0, run.output
    measured = run.measured()
    assert (
        abs(len(measured) - STALL_RATE * STALL_DURATION_S) <= 0.02 * STALL_RATE * STALL_DURATION_S
    )
    assert {r["error_class"] for r in run.records} == {""}
    assert not any(r["waited_for_slot"] == "true" for r in measured)

    corrected = histogram_us(float(r["ended"]) - float(r["scheduled"]) for r in measured)
    truth = histogram_us(true_latencies(measured, stall_runs["clock"]))
    assert p(truth, 99) > 0.8, "the measured window should contain two stalls"
    for percentile in (95, 99):
        assert p(corrected, percentile) == pytest.approx(p(truth, percentile), rel=0.15)

    # Locust's own statistics count every request once, timed from the schedule too
    assert run.locust_request_count() == len(run.records)
    assert run.generator["scheduled"] == len(run.records)
    assert run.generator["dropped"] == 0
    assert run.generator["max_in_flight_observed"] >= 0.8 * STALL_RATE * STALL_S


def test_a_generator_that_fixes_t0_itself_announces_it_before_its_first_request(stall_runs):
    """The bench waits for this file instead of guessing Locust's start-up (``t0_epoch``
    absent from the plan): it must name the t=0 the run used, and come before any load."""
    run: Run = stall_runs["large"]
    start_file = run.workdir / "requests.start.json"
    announced = json.loads(start_file.read_text())
    assert announced["t0_epoch"] == pytest.approx(run.generator["t0_epoch"], abs=1e-5)
    first_sent = min(float(r["sent"]) for r in run.records if r["sent"])
    assert start_file.stat().st_mtime <= first_sent
    assert first_sent >= announced["t0_epoch"] - announced["warmup_s"] - 0.01


def test_the_generator_sends_on_time_through_stalls_at_a_bounded_cost(stall_runs):
    """Sends stay on time through stalls, and the precise waits before each send
    (``loadtests.pacing``) fill at most a tenth of the run.

    The hundred answers a stall releases at once take the generator tens of milliseconds
    to read, and the sends due meanwhile wait for that (measured here, with the fixture's
    three generators sharing two cores: lag p50 0.004 ms, p99 3.6 ms, max 26 ms), so only
    the median is held to the floor's bound.
    """
    run: Run = stall_runs["large"]
    lag = run.generator["scheduler_lag_measured"]
    assert lag["p50_ms"] <= 0.5, lag
    assert 0 < run.generator["precise_wait_seconds"] <= 0.1 * run.generator["wall_seconds"]


def test_a_small_in_flight_bound_shows_as_late_starts_not_as_lower_latency(stall_runs):
    run: Run = stall_runs["small"]
    assert run.returncode == 0, run.output
    measured = run.measured()
    assert (
        abs(len(measured) - STALL_RATE * STALL_DURATION_S) <= 0.02 * STALL_RATE * STALL_DURATION_S
    )
    assert {r["error_class"] for r in measured} == {""}

    waited = [r for r in measured if r["waited_for_slot"] == "true"]
    assert len(waited) >= 100  # ~95 per stall could not start on time
    corrected = histogram_us(float(r["ended"]) - float(r["scheduled"]) for r in measured)
    service = histogram_us(float(r["ended"]) - float(r["sent"]) for r in measured)
    truth = histogram_us(true_latencies(measured, stall_runs["clock"]))
    assert p(service, 99) < 0.5 * p(corrected, 99)
    assert p(corrected, 99) == pytest.approx(p(truth, 99), rel=0.15)
    assert run.generator["max_in_flight_observed"] <= 5
    assert run.generator["scheduler_lag"]["count"] < run.generator["sent"]


def test_a_closed_loop_sends_fewer_requests_and_hides_the_stalls(stall_runs):
    """Coordinated omission, measured: the closed loop's percentiles miss what the open
    loop (and the truth from the schedule) show."""
    run: Run = stall_runs["closed"]
    assert run.returncode == 0, run.output
    measured = run.measured()
    assert all(r["scheduled"] == r["sent"] for r in measured)  # no schedule of its own
    assert len(measured) < 0.95 * STALL_SCHEDULED  # users stuck in a stall send nothing
    closed = histogram_us(float(r["ended"]) - float(r["sent"]) for r in measured)
    truth = histogram_us(true_latencies(stall_runs["large"].measured(), stall_runs["clock"]))
    assert p(truth, 95) > 0.3
    assert p(closed, 95) < 0.1 * p(truth, 95)
    assert run.generator["mode"] == "closed"


def test_a_hung_target_ends_by_itself_with_drops_and_timeouts_recorded(servers, tmp_path):
    timeout_s, duration_s, max_start_delay_s = 1.0, 3.0, 0.5
    run = run_locust(
        tmp_path,
        locust_argv(
            servers.start("--hang"),
            tmp_path,
            *("--rate", "20", "--duration", str(duration_s), "--arrivals", "constant"),
            *("--timeout", str(timeout_s), "--max-in-flight", "3"),
            *("--max-start-delay", str(max_start_delay_s)),
        ),
        timeout=40,
    )
    # start-up + schedule + last start delay + in-flight wait + quit grace, plus slack
    bound = 3 + duration_s + max_start_delay_s + (timeout_s + 1) + 2 + 3
    assert run.wall_s < bound
    assert "Traceback" not in run.output
    classes = Counter(r["error_class"] for r in run.records)
    assert classes["dropped"] > 0 and classes["timeout"] > 0
    assert set(classes) <= {"dropped", "timeout"}
    assert len(run.records) == 60
    dropped = [r for r in run.records if r["error_class"] == "dropped"]
    assert all(r["sent"] == "" and r["waited_for_slot"] == "true" for r in dropped)
    assert run.generator["dropped"] == classes["dropped"]
    assert run.generator["stopped_early"] is False
    assert run.generator["in_flight_at_stop"] == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [("refused", "connection"), ("timeout", "timeout"), ("500", "http_5xx")],
)
def test_failures_are_classified_by_cause(servers, tmp_path, target, expected):
    if target == "refused":
        host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    elif target == "timeout":
        host = servers.start("--hang")
    else:
        host = servers.start("--status", "500")
    run = run_locust(
        tmp_path,
        locust_argv(
            host,
            tmp_path,
            *("--rate", "10", "--duration", "1", "--arrivals", "constant", "--timeout", "0.5"),
        ),
    )
    assert "Traceback" not in run.output
    assert len(run.records) == 10
    assert {r["error_class"] for r in run.records} == {expected}
    assert run.locust_request_count() == 10


def test_load_is_sent_only_to_loopback_hosts(tmp_path):
    run = run_locust(
        tmp_path, locust_argv("http://192.0.2.10:8000", tmp_path, "--rate", "1", "--duration", "1")
    )
    assert run.returncode == 2
    assert "only to 127.0.0.1, ::1 or localhost" in run.output
    assert not run.records


def test_an_existing_records_file_is_never_appended_to(tmp_path):
    (tmp_path / "requests.csv").write_text("stream\nold\n")
    run = run_locust(
        tmp_path, locust_argv("http://127.0.0.1:1", tmp_path, "--rate", "1", "--duration", "1")
    )
    assert run.returncode == 2
    assert "exists" in run.output
    assert (tmp_path / "requests.csv").read_text() == "stream\nold\n"


def test_run_time_limit_stops_the_run_and_keeps_what_was_recorded(servers, tmp_path):
    run = run_locust(
        tmp_path,
        locust_argv(servers.start(), tmp_path, "--rate", "20", "--duration", "60", "-t", "3s"),
    )
    assert run.returncode == 0, run.output
    assert run.wall_s < 15
    assert 20 <= len(run.records) <= 80
    assert {r["error_class"] for r in run.records} == {""}
    assert run.generator["stopped_early"] is True
    # a request cut off by the stop is counted, never silently missing
    cut = run.generator["in_flight_at_stop"]
    assert 0 <= cut <= 3
    assert run.generator["sent"] == len(run.records) + cut


def test_requests_cut_off_by_the_run_time_limit_are_counted_not_lost(servers, tmp_path):
    run = run_locust(
        tmp_path,
        locust_argv(
            servers.start("--hang"),
            tmp_path,
            *("--rate", "10", "--duration", "60", "--timeout", "30", "-t", "3s"),
        ),
    )
    assert run.returncode == 0, run.output
    assert run.generator["stopped_early"] is True
    # every request was still waiting for an answer when the limit struck
    assert not run.records
    assert run.generator["sent"] >= 10
    assert run.generator["in_flight_at_stop"] == run.generator["sent"]
    assert "requests in flight: sent, never answered" in run.output


# -- what the signup locustfile sends ----------------------------------------------------


def test_signups_use_unique_addresses_and_the_poison_fraction_bounces():
    traffic = SignupTraffic(poison_fraction=0.3, rng=random.Random(5))
    requests = [traffic.signup() for _ in range(2000)]
    emails = [r.json["email"] for r in requests]
    assert len(set(emails)) == len(emails)
    assert len({r.correlation_id for r in requests}) == len(requests)
    poisoned = sum(e.endswith("@bounce.invalid") for e in emails)
    assert poisoned == pytest.approx(600, abs=4.5 * np.sqrt(2000 * 0.3 * 0.7))
    assert all(r.method == "POST" and r.path == "/users" for r in requests)


def test_bystanders_read_the_health_check_until_a_user_exists_then_alternate():
    traffic = SignupTraffic()
    assert {traffic.bystander().name for _ in range(4)} == {"GET /healthz"}
    traffic.remember("u1")
    names = [traffic.bystander().name for _ in range(6)]
    assert names.count("GET /users/{id}") == 3 and names.count("GET /healthz") == 3
    reads = [r for r in (traffic.bystander() for _ in range(4)) if r.name == "GET /users/{id}"]
    assert all(r.path == "/users/u1" for r in reads)
