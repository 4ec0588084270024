"""The queue-backed design, against the real provider and the real broker."""

from __future__ import annotations

import time
import uuid

import httpx
import pika

from offload.ports import free_port
from offload.provisioning.broker import Broker
from offload.run.stack import RunningTarget
from offload.target.manifest import resolve_target
from tests.factories.processes import TEST_CONFIG, launch, provider_records, wait_until


def signup(url: str, email: str | None = None, **headers: str) -> httpx.Response:
    email = email or f"{uuid.uuid4().hex}@example.com"
    return httpx.post(
        f"{url}/users", json={"email": email, "display_name": "Grace"}, headers=headers, timeout=10
    )


def job_state(target: RunningTarget, job_id: str) -> dict:
    return httpx.get(f"{target.url}/jobs/{job_id}").json()


def wait_for_state(target: RunningTarget, job_id: str, state: str, timeout: float = 15) -> dict:
    def reached() -> dict | None:
        job = job_state(target, job_id)
        return job if job["state"] == state else None

    reached.__doc__ = f"job {job_id} reaches {state}"
    return wait_until(reached, timeout)


def test_signup_answers_before_the_provider_does_and_the_email_arrives_once(async_target, provider):
    provider.admin.set_profile(latency_ms=1000)
    started = time.monotonic()

    response = signup(async_target.url, **{"X-Request-ID": "req-async-1"})

    assert response.status_code == 202
    assert time.monotonic() - started < 0.5  # well under the provider's 1 s
    assert response.headers["x-request-id"] == "req-async-1"
    body = response.json()
    job = wait_for_state(async_target, body["job_id"], "delivered")
    assert job["attempts"] == 1
    delivered = provider_records(provider, job_id=body["job_id"], outcome="delivered")
    assert len(delivered) == 1
    assert delivered[0]["correlation_id"] == "req-async-1"
    assert delivered[0]["key"] == body["job_id"]  # the idempotency key is the job id


def test_provider_failing_twice_then_healthy_delivers_once_after_retries(async_target, provider):
    provider.admin.set_profile(error_rate=1.0)
    job_id = signup(async_target.url).json()["job_id"]

    def two_failures() -> bool:
        """two failed attempts logged by the provider"""
        return len(provider_records(provider, job_id=job_id, outcome="error")) >= 2

    wait_until(two_failures, 10, interval=0.02)
    provider.admin.healthy()

    job = wait_for_state(async_target, job_id, "delivered")
    assert job["attempts"] >= 3
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1


def test_always_failing_provider_dead_letters_after_max_attempts(async_target, provider, broker):
    provider.admin.set_profile(error_rate=1.0)
    job_id = signup(async_target.url).json()["job_id"]

    job = wait_for_state(async_target, job_id, "dead_lettered")

    assert job["attempts"] == TEST_CONFIG.max_attempts
    assert "gave up after 3 attempts" in job["last_error"]
    attempts = provider_records(provider, job_id=job_id, outcome="error")
    assert len(attempts) == TEST_CONFIG.max_attempts
    dead_queue = next(name for name, role in async_target.queues if role == "dead")
    assert job_id in _message_ids(broker, dead_queue)


def test_permanent_rejection_is_dead_lettered_without_retries(async_target, provider):
    job_id = signup(async_target.url, f"{uuid.uuid4().hex}@bounce.invalid").json()["job_id"]

    job = wait_for_state(async_target, job_id, "dead_lettered")

    assert job["attempts"] == 1
    assert len(provider_records(provider, job_id=job_id, outcome="rejected")) == 1


def test_broker_unreachable_answers_503_within_the_publish_bound(stack, provider):
    nowhere = Broker(
        url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", source="env", owned=False
    )
    # the async design without its manifest's hooks, which would fail on a broker not there
    target = launch(
        stack,
        resolve_target("async").model_copy(update={"broker": None}),
        broker=nowhere,
        config=TEST_CONFIG.model_copy(update={"workers": 0}),
    )
    email = f"{uuid.uuid4().hex}@example.com"
    try:
        started = time.monotonic()
        response = signup(target.url, email)
        elapsed = time.monotonic() - started

        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "queue_unavailable"
        assert elapsed < TEST_CONFIG.publish_timeout_s + 0.5
        assert httpx.get(f"{target.url}/healthz").json()["broker"] == "disconnected"
    finally:
        stack.remove(target)


def test_unknown_job_is_404(async_target):
    assert httpx.get(f"{async_target.url}/jobs/{uuid.uuid4().hex}").status_code == 404


def test_worker_killed_before_its_ack_redelivers_and_still_one_email(
    lone_worker_target, provider, supervisor
):
    target = lone_worker_target
    provider.admin.set_profile(latency_ms=1500)
    job_id = signup(target.url).json()["job_id"]

    def provider_holds_it() -> bool:
        """the provider is working on the job's email"""
        return provider.admin.stats()["in_flight"] >= 1

    wait_until(provider_holds_it, 5, interval=0.02)
    worker = target.workers()[0]
    worker.kill()  # SIGKILL: the provider will accept the email, the ack never happens
    provider.admin.healthy()
    replacement = supervisor.restart(worker.name)
    target.processes["worker"] = [replacement]

    job = wait_for_state(target, job_id, "delivered", timeout=20)

    def provider_done() -> bool:
        """the provider finished the killed worker's request too"""
        return provider.admin.stats()["in_flight"] == 0

    wait_until(provider_done, 5)
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1
    assert len(provider_records(provider, job_id=job_id, outcome="duplicate")) >= 1
    assert job["attempts"] >= 1


def _message_ids(broker: Broker, queue: str) -> list[str]:
    """Message ids in ``queue``, read without consuming (nack + requeue)."""
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        ids = []
        while True:
            method, properties, _body = channel.basic_get(queue)
            if method is None:
                break
            ids.append(properties.message_id)
        channel.close()  # closing without ack returns the messages to the queue
    return ids
