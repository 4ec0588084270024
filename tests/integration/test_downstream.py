"""The simulated email provider, tested as the harness uses it: a real process on free ports.

Most tests share one provider process (reset to healthy before each test) and tell their
requests apart by a fresh user id; the restart and SIGTERM tests start their own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest

from offload.errors import ScenarioError, TargetNotReady
from offload.ports import LOOPBACK, free_port
from offload.run.provider_admin import ProviderAdmin
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor, python_module
from targets.downstream import FIELDS, read_log


@dataclass
class RunningProvider:
    process: Supervised
    public_url: str
    admin_url: str
    port: int
    admin: ProviderAdmin
    log_path: Path
    output_path: Path

    def records(self, **match: object) -> list[dict]:
        return [r for r in read_log(self.log_path) if all(r.get(k) == v for k, v in match.items())]


def start_provider(
    supervisor: Supervisor, workdir: Path, log_path: Path, name: str = "provider"
) -> RunningProvider:
    port, admin_port = free_port(), free_port()
    output = workdir / f"{name}.out"
    argv = python_module(
        "targets.downstream",
        *("--host", LOOPBACK, "--port", str(port), "--admin-port", str(admin_port)),
        *("--log", str(log_path)),
    )
    process = supervisor.start(ProcessSpec(name=name, argv=argv, log_path=output, stop_timeout=5))
    admin = ProviderAdmin(f"http://{LOOPBACK}:{admin_port}")
    try:
        admin.wait_ready(timeout=10)
    except TargetNotReady:
        admin.close()
        raise AssertionError(f"provider did not start:\n{process.tail()}") from None
    return RunningProvider(
        process=process,
        public_url=f"http://{LOOPBACK}:{port}",
        admin_url=f"http://{LOOPBACK}:{admin_port}",
        port=port,
        admin=admin,
        log_path=log_path,
        output_path=output,
    )


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    workdir = tmp_path_factory.mktemp("provider")
    with Supervisor() as supervisor:
        running = start_provider(supervisor, workdir, workdir / "deliveries.jsonl")
        yield running
        running.admin.close()
    # resets, hangs and abandoned clients are routine for a provider: none may leave noise
    output = running.output_path.read_text()
    assert "Traceback" not in output and "Task was destroyed" not in output, output


@pytest.fixture(autouse=True)
def _healthy(request: pytest.FixtureRequest) -> None:
    if "provider" in request.fixturenames:
        request.getfixturevalue("provider").admin.healthy()


@pytest.fixture
def client(provider: RunningProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=provider.public_url, timeout=5, trust_env=False) as c:
        yield c


def signup(user_id: str | None = None, to: str = "new.user@example.com") -> dict:
    user_id = user_id or f"u-{uuid.uuid4().hex[:12]}"
    return {"to": to, "user_id": user_id, "job_id": f"job-{user_id}", "template": "welcome"}


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- healthy -------------------------------------------------------------------------------


def test_healthy_send_is_accepted_and_logged_once_with_every_field(provider, client):
    body = signup()
    headers = {"Idempotency-Key": body["job_id"], "X-Request-ID": "corr-1", "X-Attempt": "1"}

    before = time.time()
    response = client.post("/emails", json=body, headers=headers)

    assert response.status_code == 202
    assert response.json()["duplicate"] is False
    assert response.headers["X-Request-ID"] == "corr-1"
    (line,) = provider.records(user_id=body["user_id"])
    assert tuple(line) == FIELDS
    assert line["outcome"] == "delivered" and line["status"] == 202
    assert line["key"] == body["job_id"] and line["job_id"] == body["job_id"]
    assert line["email"] == body["to"] and line["correlation_id"] == "corr-1"
    assert line["attempt"] == 1
    assert line["message_id"] == response.json()["message_id"]
    assert before <= line["ts"] <= line["done_ts"] <= time.time()
    assert line["profile_version"] == provider.admin.profile()["version"]


def test_repeated_idempotency_key_is_a_duplicate_not_a_second_email(provider, client):
    body = signup()
    headers = {"Idempotency-Key": body["job_id"]}

    first = client.post("/emails", json=body, headers=headers)
    second = client.post("/emails", json=body, headers={**headers, "X-Attempt": "2"})

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"message_id": first.json()["message_id"], "duplicate": True}
    outcomes = [r["outcome"] for r in provider.records(user_id=body["user_id"])]
    assert outcomes == ["delivered", "duplicate"]


def test_concurrent_requests_with_one_key_deliver_exactly_once(provider):
    provider.admin.set_profile(latency_ms=200)
    body = signup()

    async def send_both() -> list[int]:
        async with aiohttp.ClientSession(trust_env=False) as session:

            async def one() -> int:
                headers = {"Idempotency-Key": body["job_id"]}
                async with session.post(
                    f"{provider.public_url}/emails", json=body, headers=headers
                ) as r:
                    return r.status

            return sorted(await asyncio.gather(one(), one()))

    assert asyncio.run(send_both()) == [200, 202]
    outcomes = sorted(r["outcome"] for r in provider.records(user_id=body["user_id"]))
    assert outcomes == ["delivered", "duplicate"]


def test_healthz_answers_on_both_ports(provider, client):
    assert client.get("/healthz").status_code == 200
    assert httpx.get(f"{provider.admin_url}/healthz", trust_env=False).status_code == 200


# -- latency -------------------------------------------------------------------------------


def test_latency_delays_every_answer(provider, client):
    provider.admin.set_profile(latency_ms=300)

    started = time.perf_counter()
    response = client.post("/emails", json=signup())

    assert response.status_code == 202
    assert time.perf_counter() - started >= 0.3


def test_email_is_still_delivered_when_the_client_gives_up_during_latency(provider, client):
    provider.admin.set_profile(latency_ms=300)
    body = signup()

    with pytest.raises(httpx.ReadTimeout):
        client.post("/emails", json=body, headers={"Idempotency-Key": body["job_id"]}, timeout=0.1)

    wait_until(lambda: provider.records(user_id=body["user_id"]), timeout=3)
    (line,) = provider.records(user_id=body["user_id"])
    assert line["outcome"] == "delivered"
    assert line["done_ts"] - line["ts"] >= 0.3


def test_two_thousand_slow_requests_are_held_at_once(provider):
    provider.admin.set_profile(latency_ms=1000)
    run = uuid.uuid4().hex[:8]

    async def flood() -> list[int]:
        connector = aiohttp.TCPConnector(limit=2500)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False
        ) as session:

            async def one(i: int) -> int:
                body = signup(user_id=f"flood-{run}-{i}")
                async with session.post(f"{provider.public_url}/emails", json=body) as r:
                    return r.status

            return await asyncio.gather(*(one(i) for i in range(2000)))

    started = time.perf_counter()
    statuses = asyncio.run(flood())
    elapsed = time.perf_counter() - started

    assert statuses == [202] * 2000
    assert elapsed < 8, f"2,000 requests of 1 s took {elapsed:.1f} s: latency is serialised"
    assert provider.admin.stats()["peak_in_flight"] >= 1000
    flooded = [r for r in read_log(provider.log_path) if r["user_id"].startswith(f"flood-{run}")]
    assert len(flooded) == 2000


# -- errors, rate limits -------------------------------------------------------------------


def test_error_rate_one_answers_every_request_with_503(provider, client):
    provider.admin.set_profile(error_rate=1.0)
    body = signup()

    statuses = [client.post("/emails", json=body).status_code for _ in range(5)]

    assert statuses == [503] * 5
    lines = provider.records(user_id=body["user_id"])
    assert [(r["outcome"], r["status"]) for r in lines] == [("error", 503)] * 5


def test_seeded_error_rate_fails_about_that_fraction_of_requests(provider, client):
    provider.admin.set_profile(error_rate=0.3, error_status=500, seed=7)

    statuses = [client.post("/emails", json=signup()).status_code for _ in range(300)]

    assert set(statuses) <= {202, 500}
    assert 0.22 <= statuses.count(500) / 300 <= 0.38


def test_rate_limit_answers_429_with_retry_after_beyond_the_budget(provider, client):
    provider.admin.set_profile(rate_limit_per_s=5, retry_after_s=2)
    body = signup()

    responses = [client.post("/emails", json=body) for _ in range(12)]

    statuses = [r.status_code for r in responses]
    assert statuses[:5] == [202] * 5
    assert statuses.count(429) >= 5
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["Retry-After"] == "2"
    assert "rate_limited" in {r["outcome"] for r in provider.records(user_id=body["user_id"])}


# -- connection-level faults ---------------------------------------------------------------


def test_timeout_accepts_the_request_and_never_answers(provider, client):
    provider.admin.set_profile(timeout_rate=1.0)
    body = signup()

    with pytest.raises(httpx.ReadTimeout):
        client.post("/emails", json=body, timeout=0.5)

    (line,) = provider.records(user_id=body["user_id"])
    assert line["outcome"] == "timeout" and line["status"] is None
    assert line["done_ts"] == line["ts"]
    # the hanging handler notices that its client left
    wait_until(lambda: provider.admin.stats()["in_flight"] == 0, timeout=3)


def test_reset_closes_the_connection_without_any_response(provider, client):
    provider.admin.set_profile(reset_rate=1.0)
    body = json.dumps(signup()).encode()
    raw_request = (
        b"POST /emails HTTP/1.1\r\nHost: provider\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    with socket.create_connection((LOOPBACK, provider.port), timeout=3) as sock:
        sock.sendall(raw_request)
        with pytest.raises(ConnectionResetError):
            sock.recv(4096)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/emails", json=signup())
    assert provider.admin.stats()["outcomes"]["reset"] >= 2


def test_outage_refuses_connections_while_admin_answers_then_recovers_on_the_same_port(
    provider, client
):
    assert client.post("/emails", json=signup()).status_code == 202  # a pooled connection

    profile = provider.admin.set_profile(outage=True)

    assert profile["outage"] is True
    with pytest.raises(httpx.ConnectError):
        client.post("/emails", json=signup())  # the kept-alive connection is gone too
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOOPBACK, provider.port), timeout=1).close()
    assert provider.admin.stats()["outage"] is True

    provider.admin.healthy()

    assert client.post("/emails", json=signup()).status_code == 202


def test_outage_lets_requests_already_received_finish(provider):
    provider.admin.set_profile(latency_ms=500)
    body = signup()
    sender = _Sender(provider.public_url, body)
    wait_until(lambda: provider.admin.stats()["in_flight"] == 1)

    provider.admin.set_profile(outage=True)
    sender.join(timeout=5)

    assert sender.result == 202
    (line,) = provider.records(user_id=body["user_id"])
    assert line["outcome"] == "delivered"


# -- permanent refusals and bad input ------------------------------------------------------


def test_poison_domain_is_rejected_with_422_whatever_the_profile(provider, client):
    body = signup(to="poison@bounce.invalid")
    assert client.post("/emails", json=body).status_code == 422

    provider.admin.set_profile(error_rate=1.0, rate_limit_per_s=1)
    responses = [client.post("/emails", json=body) for _ in range(3)]

    assert [r.status_code for r in responses] == [422] * 3
    assert responses[0].json() == {"error": "recipient rejected"}
    assert {r["outcome"] for r in provider.records(user_id=body["user_id"])} == {"rejected"}


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"not json", "JSON"),
        (b"[1, 2]", "object"),
        (json.dumps({"user_id": "u-1"}).encode(), "to"),
        (json.dumps({"to": "a@example.com"}).encode(), "user_id"),
    ],
)
def test_bad_email_request_is_400_with_a_reason(provider, client, content, named):
    response = client.post("/emails", content=content)

    assert response.status_code == 400
    assert named in response.json()["reason"]


def test_invalid_profile_is_refused_with_400_naming_the_field(provider):
    response = httpx.put(
        f"{provider.admin_url}/admin/profile", json={"error_rate": 1.5}, trust_env=False
    )
    assert response.status_code == 400
    assert "error_rate" in response.json()["reason"]

    with pytest.raises(ScenarioError, match="latncy_ms"):
        provider.admin.set_profile(latncy_ms=100)
    assert provider.admin.profile()["error_rate"] == 0.0


def test_every_profile_change_gets_a_higher_version(provider):
    first = provider.admin.profile()["version"]
    second = provider.admin.set_profile(latency_ms=5)["version"]
    third = provider.admin.healthy()["version"]

    assert first < second < third
    assert provider.admin.stats()["profile_version"] == third


# -- process lifecycle ---------------------------------------------------------------------


def test_dedupe_survives_a_restart_on_the_same_log(tmp_path):
    log_path = tmp_path / "deliveries.jsonl"
    body = signup()
    headers = {"Idempotency-Key": body["job_id"]}
    with Supervisor() as supervisor:
        first = start_provider(supervisor, tmp_path, log_path, name="first")
        delivered = httpx.post(f"{first.public_url}/emails", json=body, headers=headers).json()
        first.admin.close()
        first.process.stop()
        with log_path.open("a") as fh:  # as if killed in the middle of a line
            fh.write('{"ts": 1.0, "outco')

        second = start_provider(supervisor, tmp_path, log_path, name="second")
        again = httpx.post(f"{second.public_url}/emails", json=body, headers=headers)
        assert second.admin.stats()["delivered_keys"] == 1
        second.admin.close()

    assert again.status_code == 200
    assert again.json() == {"message_id": delivered["message_id"], "duplicate": True}
    assert [r["outcome"] for r in read_log(log_path)] == ["delivered", "duplicate"]


def test_sigterm_stops_promptly_with_requests_in_flight_and_the_log_intact(tmp_path):
    log_path = tmp_path / "deliveries.jsonl"
    with Supervisor() as supervisor:
        running = start_provider(supervisor, tmp_path, log_path)
        running.admin.set_profile(timeout_rate=1.0)
        hanging = [_Sender(running.public_url) for _ in range(3)]
        wait_until(lambda: running.admin.stats()["in_flight"] == 3)
        running.admin.set_profile(latency_ms=30_000)
        sleeping = [_Sender(running.public_url) for _ in range(3)]
        wait_until(lambda: running.admin.stats()["in_flight"] == 6)
        running.admin.close()

        started = time.monotonic()
        returncode = running.process.stop(timeout=5)
        elapsed = time.monotonic() - started

    assert returncode == 0
    assert elapsed < 3, f"took {elapsed:.1f} s to stop"
    for thread in hanging + sleeping:
        thread.join(timeout=5)
    assert sorted(t.result for t in sleeping) == [503, 503, 503]
    assert all(t.result is None for t in hanging)
    outcomes = sorted(r["outcome"] for r in read_log(log_path))
    assert outcomes == ["error"] * 3 + ["timeout"] * 3
    assert log_path.read_text().endswith("\n")
    output = running.output_path.read_text()
    assert "Traceback" not in output and "Task was destroyed" not in output, output


def test_non_loopback_host_is_refused(tmp_path):
    result = subprocess.run(
        [
            *python_module("targets.downstream", "--host", "0.0.0.0", "--port", "1"),
            *("--admin-port", "2", "--log", str(tmp_path / "x.jsonl")),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_read_log_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"ts": 1, "outcome": "delivered"}\n{"ts": 2, "outc')

    assert read_log(path) == [{"ts": 1, "outcome": "delivered"}]


class _Sender(threading.Thread):
    """One POST in a thread; ``result`` is the status, or None when no answer came."""

    def __init__(self, url: str, body: dict | None = None) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.body = body or signup()
        self.result: int | None = None
        self.start()

    def run(self) -> None:
        try:
            response = httpx.post(f"{self.url}/emails", json=self.body, timeout=10, trust_env=False)
            self.result = response.status_code
        except httpx.HTTPError:
            self.result = None
