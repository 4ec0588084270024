"""SIGTERM to the async design's processes: nothing acknowledged is lost, nothing runs twice.

The API (uvicorn) stops accepting, finishes the requests it holds and their publishes, then
exits. A worker stops consuming, finishes the jobs in hand, then exits 0; a second SIGTERM
makes it exit at once and the broker redelivers what it held.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pika
import pytest
import sqlalchemy as sa

from offload.ports import port_open
from offload.run.stack import RunningTarget
from offload.run.supervisor import Supervised
from targets.common.store import jobs, make_engine
from tests.factories.processes import provider_records, wait_until

PROVIDER_LATENCY_S = 1.5


@pytest.fixture
def target(lone_worker_target: RunningTarget) -> RunningTarget:
    """A private async design (one worker), since every test here stops some of it."""
    return lone_worker_target


def signup(target: RunningTarget) -> str:
    response = httpx.post(
        f"{target.url}/users",
        json={"email": f"{uuid.uuid4().hex}@example.com", "display_name": "Ada"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def job_states(target: RunningTarget) -> dict[str, str]:
    """Every job the design stored, read from its database (the API may be gone)."""
    engine = make_engine(target.values["database_url"], target.values["db_schema"])
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.select(jobs.c.id, jobs.c.state)).all())
    finally:
        engine.dispose()


def work_queue_depth(broker, target: RunningTarget) -> int:
    queue = next(name for name, role in target.queues if role == "work")
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def deliveries(provider, job_id: str) -> int:
    return len(provider_records(provider, job_id=job_id, outcome="delivered"))


def wait_exit(process: Supervised, timeout: float) -> tuple[int, float]:
    """Exit code and seconds taken; fails the test if the process outlives ``timeout``."""
    assert process.process is not None
    started = time.monotonic()
    try:
        code = process.process.wait(timeout=timeout)
    except Exception:
        pytest.fail(f"{process.name} still running {timeout}s after SIGTERM:\n{process.tail()}")
    return code, time.monotonic() - started


def terminate(process: Supervised) -> None:
    process.exit_expected = True
    process.signal_group(signal.SIGTERM)


def log_size(process: Supervised) -> int:
    """Where the process's log ends now (restarted workers append to the same file)."""
    path = process.spec.log_path
    return path.stat().st_size if path is not None and path.exists() else 0


def log_since(process: Supervised, offset: int) -> str:
    assert process.spec.log_path is not None
    with open(process.spec.log_path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


def wait_for_log(process: Supervised, offset: int, text: str, timeout: float = 5) -> None:
    def logged() -> bool:
        return text in log_since(process, offset)

    logged.__doc__ = f"{process.name} logs {text!r}"
    wait_until(logged, timeout)


def restart_worker(supervisor, target: RunningTarget, old: Supervised) -> Supervised:
    fresh = supervisor.restart(old.name)
    target.processes["worker"] = [fresh]
    return fresh


def hold_slow_jobs(target: RunningTarget, provider, count: int, latency_s: float) -> list[str]:
    """Signups whose emails the worker is sending to a slow provider right now."""
    provider.admin.set_profile(latency_ms=int(latency_s * 1000))
    job_ids = [signup(target) for _ in range(count)]

    def provider_holds_them() -> bool:
        """the provider is working on every job's email"""
        return provider.admin.stats()["in_flight"] >= count

    wait_until(provider_holds_them, 5, interval=0.02)
    return job_ids


# -- the API -----------------------------------------------------------------------------------


@dataclass
class Attempt:
    started: float
    finished: float
    status: int | None = None
    job_id: str | None = None
    error: str | None = None


class SignupTraffic:
    """``senders`` clients posting signups back to back on kept-alive connections."""

    def __init__(self, url: str, senders: int = 16) -> None:
        self.url = url
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=senders)
        self._futures = [self._pool.submit(self._send) for _ in range(senders)]

    def accepted_so_far(self) -> int:
        with self._lock:
            return sum(a.status == 202 for a in self.attempts)

    def stop(self) -> list[Attempt]:
        self._stop.set()
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()  # a sender that crashed fails the test here
        return self.attempts

    def _send(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                attempt = Attempt(started=time.monotonic(), finished=0.0)
                try:
                    response = client.post(
                        f"{self.url}/users",
                        json={"email": f"{uuid.uuid4().hex}@example.com", "display_name": "Ada"},
                    )
                    attempt.status = response.status_code
                    if response.status_code == 202:
                        attempt.job_id = response.json()["job_id"]
                except httpx.TransportError as exc:  # refused, or reset without an answer
                    attempt.error = type(exc).__name__
                attempt.finished = time.monotonic()
                with self._lock:
                    self.attempts.append(attempt)
                if attempt.error:
                    time.sleep(0.02)


def graceful_timeout(target: RunningTarget) -> float:
    """uvicorn's --timeout-graceful-shutdown, as the target's manifest sets it."""
    command = target.manifest.server.command
    return float(command[command.index("--timeout-graceful-shutdown") + 1])


def test_api_sigterm_refuses_new_connections_and_loses_no_acknowledged_signup(target, provider):
    api = target.processes["api"][0]
    host, port = urlsplit(target.url).hostname, urlsplit(target.url).port
    grace = graceful_timeout(target)
    traffic = SignupTraffic(target.url)
    try:

        def flowing() -> bool:
            """signups are being accepted"""
            return traffic.accepted_so_far() >= 40

        wait_until(flowing, 10)
        terminated_at = time.monotonic()
        terminate(api)

        def refused() -> bool:
            """the API's port refuses new connections"""
            return not port_open(host, port, timeout=0.2)

        wait_until(refused, 2, interval=0.02)
        time.sleep(0.5)  # keep sending into the closed port
    finally:
        attempts = traffic.stop()

    code, _ = wait_exit(api, grace + 5)
    assert code == 0, api.tail()
    assert time.monotonic() - terminated_at < grace

    accepted = {a.job_id for a in attempts if a.status == 202}
    failed = [a for a in attempts if a.error]
    unclean = [a.status for a in attempts if a.status not in (202, 503) and not a.error]
    assert not unclean, f"answers that are neither 202 nor a clean 503: {unclean}"
    assert failed, "no request ran into the shutdown"
    assert all(a.finished >= terminated_at for a in failed)
    assert any(a.started < terminated_at < a.finished for a in attempts if a.status == 202), (
        "no request was in flight at the SIGTERM"
    )
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{target.url}/users", json={"email": "late@example.com", "display_name": "A"})

    # no signup was stored for a request that failed, and every 202 has its job ...
    assert set(job_states(target)) == accepted

    # ... published: the worker (still running) delivers each one exactly once
    def drained() -> bool:
        """every acknowledged signup's job is delivered"""
        return all(state == "delivered" for state in job_states(target).values())

    wait_until(drained, 20, interval=0.2)
    assert all(deliveries(provider, job_id) == 1 for job_id in accepted)


# -- a worker ----------------------------------------------------------------------------------


def test_worker_sigterm_finishes_the_jobs_in_hand_and_exits_0(target, provider, broker, supervisor):
    worker = target.workers()[0]
    held = hold_slow_jobs(target, provider, 3, PROVIDER_LATENCY_S)

    offset = log_size(worker)
    terminate(worker)
    wait_for_log(worker, offset, "finishing")
    time.sleep(0.2)  # the consumer is cancelled: what arrives now waits for the next worker
    later = [signup(target) for _ in range(2)]
    code, took = wait_exit(worker, PROVIDER_LATENCY_S + 5)

    assert code == 0, worker.tail()
    assert took < PROVIDER_LATENCY_S + 3
    assert "done, quitting" in log_since(worker, offset)
    for job_id in held:
        assert deliveries(provider, job_id) == 1
        assert httpx.get(f"{target.url}/jobs/{job_id}").json()["state"] == "delivered"
    assert all(not provider_records(provider, job_id=job_id) for job_id in later)
    assert work_queue_depth(broker, target) == len(later)

    provider.admin.healthy()
    sent_for_held = sum(len(provider_records(provider, job_id=j)) for j in held)
    restart_worker(supervisor, target, worker)

    def later_delivered() -> bool:
        """the restarted worker delivered the jobs queued during the shutdown"""
        return all(deliveries(provider, job_id) == 1 for job_id in later)

    wait_until(later_delivered, 10)
    time.sleep(0.5)
    # nothing of the first worker's jobs was left to do: no second attempt at any of them
    assert sum(len(provider_records(provider, job_id=j)) for j in held) == sent_for_held
    assert work_queue_depth(broker, target) == 0


def test_second_sigterm_stops_the_worker_at_once_and_its_jobs_are_redelivered_once(
    target, provider, broker, supervisor
):
    worker = target.workers()[0]
    held = hold_slow_jobs(target, provider, 3, latency_s=3.0)

    offset = log_size(worker)
    terminate(worker)
    wait_for_log(worker, offset, "finishing")
    worker.signal_group(signal.SIGTERM)
    code, took = wait_exit(worker, 2)

    assert code == 1
    assert took < 1.0
    assert "stopping now" in log_since(worker, offset)

    def back_in_the_queue() -> bool:
        """the broker took back the jobs the worker held"""
        return work_queue_depth(broker, target) == len(held)

    wait_until(back_in_the_queue, 5)
    provider.admin.healthy()
    restart_worker(supervisor, target, worker)

    for job_id in held:
        wait_until(lambda job_id=job_id: deliveries(provider, job_id) >= 1, 10)

    def states_delivered() -> bool:
        """every held job is recorded as delivered"""
        states = job_states(target)
        return all(states.get(job_id) == "delivered" for job_id in held)

    wait_until(states_delivered, 10)

    def provider_idle() -> bool:
        """the provider finished the requests the killed worker abandoned"""
        return provider.admin.stats()["in_flight"] == 0

    wait_until(provider_idle, 5)
    for job_id in held:
        assert len(provider_records(provider, job_id=job_id)) >= 2  # abandoned + redelivered
        assert deliveries(provider, job_id) == 1  # duplicate attempts allowed, second emails not
