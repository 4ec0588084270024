"""The generator's own floor: what offload measures against a server that answers at once.

Every latency offload reports includes a share that is the harness's, not the target's: the
wait between a request's scheduled time and its send (lateness), the client's work to send
it and read the answer, and the loopback round trip. Against a server that answers at once
that share is all there is, so it is the floor of the measurement: no target measures faster
on this machine, and a difference between two designs smaller than it is the harness's noise.

:func:`measure_floor` runs the real generator — Locust with the locustfile and a load plan,
exactly as ``offload bench`` starts it — against :class:`InstantServer` on loopback for a few
seconds and reads its records like any run's. See docs/measurement.md.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

from loadtests.plan import Arrivals, LoadPlan, Segment, Stream
from loadtests.selfmeasure import SelfMeasurement, SelfMeasurementError, generator_report_path
from offload.analysis.percentiles import quantiles_ms
from offload.analysis.records import requests
from offload.errors import OffloadError
from offload.ports import LOOPBACK
from offload.run.design import REQUESTS_CSV, locust_argv
from offload.run.supervisor import ProcessSpec, Supervisor
from offload.rundir.floor import GeneratorFloor

__all__ = ["InstantServer", "floor_from_records", "measure_floor", "send_signups"]

#: seconds of load before the measured part, absorbing the generator's own start
FLOOR_WARMUP_S = 1.0
#: seconds of measured load when ``offload bench`` measures the floor before a scenario
BENCH_FLOOR_S = 5.0
#: the same with ``--quick`` (CI), whose scenarios are shortened as well
QUICK_BENCH_FLOOR_S = 3.0
#: seconds Locust may take beyond the plan (start-up, last answers, its quit grace)
_LOCUST_SLACK_S = 20.0


class _InstantHttp(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, answered as soon as a request is complete.

    Just enough for the generator: a ``POST`` gets a 201 with an ``id`` (what a signup
    answers), anything else a 200; bodies are read by Content-Length and ignored.
    """

    _created = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
        b'Connection: keep-alive\r\n\r\n{"id": "floor"}'
    )
    _ok = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
        b'Connection: keep-alive\r\n\r\n{"status": "ok"}'
    )

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self._buffer[:end]).lower()
            length = 0
            if (at := head.find(b"\r\ncontent-length:")) >= 0:
                length = int(head[at + 17 :].split(b"\r\n", 1)[0])
            size = end + 4 + length
            if len(self._buffer) < size:
                return
            del self._buffer[:size]
            assert self._transport is not None
            self._transport.write(self._created if head.startswith(b"post") else self._ok)


class InstantServer:
    """An HTTP server on a free loopback port that answers every request at once.

    It runs its own event loop (uvloop when installed) in a thread of the calling process,
    which only waits for the generator meanwhile; a response costs it some tens of
    microseconds, so at the rates a generator process sends it is never the bottleneck.
    """

    def __init__(self) -> None:
        self._loop = _new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(_InstantHttp, LOOPBACK, 0, backlog=1024)
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{LOOPBACK}:{port}"
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="instant-server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def __enter__(self) -> InstantServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def floor_plan(
    rate: float,
    *,
    duration_s: float,
    arrivals: Arrivals,
    records_path: Path,
    bystander_rate: float = 0.0,
) -> LoadPlan:
    """The plan of a floor measurement: signups at a steady ``rate`` after a short warm-up,
    and bystander reads beside them at ``bystander_rate`` (none by default)."""
    rates = {"signup": rate, "bystander": bystander_rate}
    return LoadPlan(
        streams=[
            Stream(
                name=name,
                arrivals=arrivals,
                segments=[Segment(start_s=0, end_s=duration_s, rate_from=r, rate_to=r)],
            )
            for name, r in rates.items()
            if r > 0
        ],
        warmup_s=FLOOR_WARMUP_S,
        duration_s=duration_s,
        records_path=records_path,
    )


def measure_floor(
    rate: float,
    *,
    duration_s: float = 5.0,
    arrivals: Arrivals = Arrivals.CONSTANT,
    work_dir: Path | None = None,
) -> GeneratorFloor:
    """Run the generator at ``rate`` against an :class:`InstantServer` and measure its floor.

    Takes ``duration_s`` plus about 3 s (Locust's start and the warm-up; Locust writes no
    CSV files here, so it quits as soon as the last answer is recorded). The
    generator's records, plan and log stay in ``work_dir`` when one is given.
    """
    with InstantServer() as server:
        return send_signups(
            server.url, rate, duration_s=duration_s, arrivals=arrivals, work_dir=work_dir
        )


def send_signups(
    url: str,
    rate: float,
    *,
    duration_s: float,
    arrivals: Arrivals = Arrivals.CONSTANT,
    work_dir: Path | None = None,
    bystander_rate: float = 0.0,
) -> GeneratorFloor:
    """Send signups to ``url`` at ``rate`` (and bystander reads at ``bystander_rate``) with the
    real generator, as a floor measures.

    What the floor does against its instant server, and what ``offload probe stack`` does
    against a design's bare stack (``offload/run/stack_floor.py``).
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="offload-floor-") as tmp:
            return send_signups(
                url, rate, duration_s=duration_s, arrivals=arrivals, work_dir=Path(tmp),
                bystander_rate=bystander_rate,
            )  # fmt: skip
    # the generator runs with work_dir as its working directory: every path it is given must
    # not depend on ours (a relative reports directory, as `make bench` uses, would not resolve)
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    records = work_dir / REQUESTS_CSV
    if records.exists():
        raise OffloadError(f"{records} exists: measure the floor in an empty directory")
    plan = floor_plan(
        rate,
        duration_s=duration_s,
        arrivals=arrivals,
        records_path=records,
        bystander_rate=bystander_rate,
    )
    plan_path = work_dir / "plan.json"
    plan_path.write_text(plan.model_dump_json(indent=2))
    bound_s = FLOOR_WARMUP_S + duration_s + plan.timeout_s + _LOCUST_SLACK_S
    with Supervisor() as supervisor:
        locust = supervisor.start(
            ProcessSpec(
                name="locust",
                argv=locust_argv(
                    url,
                    plan_path,
                    run_time_s=int(bound_s),
                    users=["-u", "1", "-r", "1"],
                    extra=[],
                ),
                cwd=work_dir,
                log_path=work_dir / "locust.log",
                ends_by_itself=True,
            )
        )
        if not locust.wait(bound_s + 10):
            locust.stop()
            raise OffloadError(f"the generator did not finish within {bound_s + 10:.0f}s")
        if locust.returncode != 0:
            raise OffloadError(
                f"the generator exited with code {locust.returncode}:\n{locust.tail(8)}"
            )
    floor = floor_from_records(work_dir, rate=rate, duration_s=duration_s, arrivals=arrivals)
    floor.measured_at = time.time()
    return floor


def floor_from_records(
    work_dir: Path, *, rate: float, duration_s: float, arrivals: Arrivals
) -> GeneratorFloor:
    """The floor from a finished run's records and self-measurement in ``work_dir``."""
    report_path = generator_report_path(work_dir / REQUESTS_CSV)
    if not report_path.exists():
        raise OffloadError(f"the generator left no self-measurement ({report_path})")
    try:
        report = SelfMeasurement.read(report_path)
    except SelfMeasurementError as exc:
        raise OffloadError(str(exc)) from exc
    frame = requests(work_dir)
    measured = frame[frame["phase"] == "measured"]
    ok = measured[measured["error_class"] == ""]
    sent = report.sent
    cpu = report.cpu_seconds
    return GeneratorFloor(
        rate=rate,
        arrivals=arrivals,
        duration_s=duration_s,
        requests=len(ok),
        failed=len(measured) - len(ok),
        latency_from_scheduled=quantiles_ms(ok["ended"] - ok["scheduled"]),
        latency_from_sent=quantiles_ms(ok["ended"] - ok["sent"]),
        lateness=quantiles_ms(ok["sent"] - ok["scheduled"]),
        cpu_ms_per_request=round(cpu / sent * 1000, 3) if sent else None,
        cpu_share_of_one_core=report.cpu_share_of_one_core,
    )
