"""The generator's floor: it sends on time at every rate, and ``offload probe`` says so.

The floor tests run the real generator (Locust with the signup locustfile, as the bench
starts it) against the built-in instant server: run them under the heavy-command lock. The
bounds are generous for a loaded CI machine; on this machine kind the generator measured
lateness p50 0.02–0.07 ms and p99 0.14–5.3 ms at 10/s over 10 s (there the p99 is the worst
one or two requests), p50 0.02–0.04 ms and p99 0.25–1.13 ms at 500/s (docs/measurement.md).
The slow rate runs 5 s: its 50 requests support the p50 bound it is held to (20 needed; a
p99 needs 1,000, which only the fast rate reaches), as 100 did.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from loadtests.plan import Arrivals
from loadtests.records import RecordWriter, RequestRecord
from loadtests.selfmeasure import GeneratorMeter, generator_report_path
from offload.analysis.uncertainty import min_count
from offload.run.floor import InstantServer, floor_from_records, measure_floor
from offload.rundir.floor import GeneratorFloor
from tests.factories.cli import run_cli

REPO = Path(__file__).resolve().parents[2]


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        answer += sock.recv(4096)
    return answer


def test_the_instant_server_answers_signups_and_reads_on_one_kept_alive_connection():
    with InstantServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            body = b'{"email": "a@example.com", "display_name": "A"}'
            signup = _exchange(
                sock,
                b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
            )
            read = _exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert signup.startswith(b"HTTP/1.1 201 ") and json.loads(signup.split(b"\r\n\r\n")[1])["id"]
    assert read.startswith(b"HTTP/1.1 200 ")


def _write_run(work_dir: Path, rows: list[tuple[str, float, float | None, float, str]]) -> None:
    """A finished run's records: (phase, scheduled, sent, ended, error_class) per request."""
    writer = RecordWriter(work_dir / "requests.csv")
    for i, (phase, scheduled, sent, ended, error) in enumerate(rows):
        writer.add(
            RequestRecord(
                stream="signup",
                name="POST /users",
                phase=phase,
                offset=scheduled - 1000.0,
                scheduled=scheduled,
                sent=sent,
                ended=ended,
                status=201 if not error else None,
                error_class=error,
                waited_for_slot=False,
                correlation_id=str(i),
            )
        )
    writer.flush()
    meter = GeneratorMeter()
    meter.sent = sum(1 for row in rows if row[2] is not None)
    meter.write(generator_report_path(work_dir / "requests.csv"))


def test_the_floor_counts_only_the_measured_answers_and_times_them_three_ways(tmp_path):
    rows: list[tuple[str, float, float | None, float, str]] = [
        ("warmup", 999.0, 999.5, 1000.0, ""),  # half a second late: must not count
        *[("measured", 1000.0 + i, 1000.0 + i + 0.0001, 1000.0 + i + 0.0011, "") for i in range(9)],
        ("measured", 1010.0, 1010.0001, 1011.0, "connection"),
    ]
    _write_run(tmp_path, rows)
    floor = floor_from_records(tmp_path, rate=1, duration_s=10, arrivals=Arrivals.CONSTANT)
    assert (floor.requests, floor.failed) == (9, 1)
    assert floor.lateness.p50_ms == pytest.approx(0.1, abs=0.001)
    assert floor.latency_from_sent.p50_ms == pytest.approx(1.0, abs=0.002)
    assert floor.latency_from_scheduled.p99_ms == pytest.approx(1.1, abs=0.002)
    # the result travels as JSON (manifest, summary) and comes back equal
    assert GeneratorFloor.model_validate_json(floor.model_dump_json()) == floor


@pytest.mark.parametrize(("rate", "duration_s"), [(10, 5), (500, 5)])
def test_the_generator_sends_on_time(tmp_path, monkeypatch, rate, duration_s):
    # a relative work directory, as `make bench` gives (reports/runs/...): the generator runs
    # elsewhere and must still find its plan
    monkeypatch.chdir(tmp_path)
    floor = measure_floor(rate, duration_s=duration_s, work_dir=Path("floor"))
    note = f"{floor.model_dump_json()} (records in {tmp_path})"
    assert floor.failed == 0, note
    assert abs(floor.requests - rate * duration_s) <= 1, note
    assert floor.lateness.p50_ms is not None and floor.lateness.p99_ms is not None
    # Bounds that catch a broken pacer (coarse sleeps are late by a millisecond or more on
    # every send; bursts or a saturated generator by tens of milliseconds) with room for a
    # CI machine busy with its own work: a single VM stall put one CI run's p99 at 500/s at
    # 13 ms while its p50 stayed at 0.36 ms. The exact figures belong in `offload probe
    # generator` and the notes, not in a timed test.
    assert floor.lateness.p50_ms <= 1.0, note
    if floor.requests >= min_count(99):  # the report's support rule: p99 of 200 requests is
        assert floor.lateness.p99_ms <= 50.0, note  # the 2nd-latest, one VM stall decides it
    # every figure from the schedule includes the lateness: it is the larger one
    assert floor.latency_from_scheduled.p50_ms >= floor.latency_from_sent.p50_ms, note
    assert floor.cpu_ms_per_request is not None and floor.cpu_ms_per_request > 0


def test_offload_probe_generator_prints_the_floor_as_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    # the command in this process (tests/factories/cli.py); the generator is its own process
    result = run_cli(
        capsys,
        *("probe", "generator", "--rate", "50", "--duration", "2", "--json"),
        *("--keep", str(tmp_path)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (floor,) = [GeneratorFloor.model_validate(item) for item in json.loads(result.stdout)]
    assert floor.rate == 50 and abs(floor.requests - 100) <= 1 and floor.failed == 0
    assert (tmp_path / "1" / "requests.csv").exists()
