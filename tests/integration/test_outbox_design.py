"""The transactional-outbox design, against the real provider, broker and relay.

What it shares with the async design (202 at once, retries, one email per signup) is checked
as there; what makes it different: the request path never touches the broker (a broker that
is down delays emails, it refuses no signup), and the relay is at-least-once (killed with
SIGKILL between publishing and marking, it loses nothing and the copies send no second email).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from offload.provisioning.broker import Broker, provision_broker
from offload.provisioning.control import rabbitmq_script
from offload.run.stack import RunningProvider, RunningTarget, Stack
from offload.run.supervisor import Supervisor
from targets.common.store import OutboxStore, make_engine
from tests.factories.processes import TEST_CONFIG, launch, provider_records, wait_until
from tests.integration.test_async_design import signup, wait_for_state


def outbox_store(target: RunningTarget) -> OutboxStore:
    return OutboxStore(make_engine(target.values["database_url"], target.values["db_schema"]))


def outbox_rows(target: RunningTarget) -> tuple[int, int]:
    """(messages in the outbox, of which published)."""
    store = outbox_store(target)
    try:
        with store.engine.connect() as conn:
            total = conn.execute(sa.text("select count(*) from outbox")).scalar_one()
        return total, total - store.unpublished_count()
    finally:
        store.engine.dispose()


def signups(url: str, count: int) -> list[httpx.Response]:
    """``count`` signups from 8 concurrent clients."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: signup(url), range(count)))


def deliveries_per_job(provider: RunningProvider, job_ids: list[str]) -> Counter[str]:
    wanted = set(job_ids)
    return Counter(
        record["key"]
        for record in provider_records(provider, outcome="delivered")
        if record["key"] in wanted
    )


def all_delivered_once(
    target: RunningTarget, provider: RunningProvider, job_ids: list[str]
) -> None:
    """Wait until every job is delivered; then each has exactly one email."""
    store = outbox_store(target)
    try:

        def drained() -> bool:
            """every job delivered or dead-lettered"""
            return store.unfinished_jobs() == 0

        wait_until(drained, 30, interval=0.1)
        states = {job_id: store.get_job(job_id) for job_id in job_ids}
    finally:
        store.engine.dispose()
    assert {job.state.value for job in states.values() if job} == {"delivered"}
    assert None not in states.values()

    def provider_idle() -> bool:
        """the provider finished every request in hand"""
        return provider.admin.stats()["in_flight"] == 0

    wait_until(provider_idle, 10)
    assert deliveries_per_job(provider, job_ids) == Counter(dict.fromkeys(job_ids, 1))


# -- what it shares with the async design -------------------------------------------------


def test_signup_answers_202_before_the_provider_and_one_email_arrives(outbox_target, provider):
    provider.admin.set_profile(latency_ms=1000)
    started = time.monotonic()

    response = signup(outbox_target.url, **{"X-Request-ID": "req-outbox-1"})

    assert response.status_code == 202
    assert time.monotonic() - started < 0.5  # well under the provider's 1 s
    assert response.headers["x-request-id"] == "req-outbox-1"
    body = response.json()
    assert body["status_url"] == f"/jobs/{body['job_id']}"
    job = wait_for_state(outbox_target, body["job_id"], "delivered")
    assert job["attempts"] == 1
    delivered = provider_records(provider, job_id=body["job_id"], outcome="delivered")
    assert len(delivered) == 1
    assert delivered[0]["correlation_id"] == "req-outbox-1"
    assert delivered[0]["key"] == body["job_id"]  # the idempotency key is the job id


def test_many_signups_one_email_each_and_every_message_marked_published(outbox_target, provider):
    responses = signups(outbox_target.url, 40)

    assert {r.status_code for r in responses} == {202}
    job_ids = [r.json()["job_id"] for r in responses]
    all_delivered_once(outbox_target, provider, job_ids)
    total, published = outbox_rows(outbox_target)
    assert total == published and total >= len(job_ids)


def test_provider_failing_twice_then_healthy_delivers_once_after_retries(outbox_target, provider):
    provider.admin.set_profile(error_rate=1.0)
    job_id = signup(outbox_target.url).json()["job_id"]

    def two_failures() -> bool:
        """two failed attempts logged by the provider"""
        return len(provider_records(provider, job_id=job_id, outcome="error")) >= 2

    wait_until(two_failures, 10, interval=0.02)
    provider.admin.healthy()

    job = wait_for_state(outbox_target, job_id, "delivered")
    assert job["attempts"] >= 3
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1


def test_provider_timing_out_is_retried_and_delivered_once(outbox_target, provider):
    provider.admin.set_profile(timeout_rate=1.0)
    job_id = signup(outbox_target.url).json()["job_id"]

    def timed_out() -> bool:
        """an attempt the worker gave up on after provider_timeout"""
        return len(provider_records(provider, job_id=job_id, outcome="timeout")) >= 1

    wait_until(timed_out, TEST_CONFIG.provider_timeout_s + 5, interval=0.05)
    provider.admin.healthy()

    job = wait_for_state(outbox_target, job_id, "delivered")
    assert job["attempts"] >= 2
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1


def test_bad_input_is_4xx_and_writes_no_outbox_message(outbox_target):
    before = outbox_rows(outbox_target)

    response = httpx.post(
        f"{outbox_target.url}/users",
        content=b'{"email": "nobody", "display_name": "A"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"
    assert outbox_rows(outbox_target) == before


def test_a_duplicate_email_is_409_and_writes_no_second_message(outbox_target, provider):
    email = f"{uuid.uuid4().hex}@example.com"
    first = signup(outbox_target.url, email)
    wait_for_state(outbox_target, first.json()["job_id"], "delivered")
    before = outbox_rows(outbox_target)

    assert signup(outbox_target.url, email).status_code == 409
    assert outbox_rows(outbox_target) == before


def test_unknown_job_is_404(outbox_target):
    assert httpx.get(f"{outbox_target.url}/jobs/{uuid.uuid4().hex}").status_code == 404


# -- what makes it different ----------------------------------------------------------------


@pytest.fixture
def lone_relay_target(
    stack: Stack, module_provider: RunningProvider, broker: Broker
) -> Iterator[RunningTarget]:
    """A private outbox design whose relay publishes one message per round, so that a kill
    lands between two rounds with some of the outbox published and some not."""
    target = launch(
        stack,
        "outbox",
        broker=broker,
        config=TEST_CONFIG.model_copy(update={"relay_batch": 1}),
    )
    yield target
    stack.remove(target)


def test_a_relay_killed_mid_way_loses_nothing_and_sends_no_second_email(
    lone_relay_target: RunningTarget, provider: RunningProvider, supervisor: Supervisor
) -> None:
    target = lone_relay_target
    relay = target.processes["relay"][0]
    relay.kill()  # first the outbox fills with nobody publishing it
    responses = signups(target.url, 150)
    assert {r.status_code for r in responses} == {202}
    job_ids = [r.json()["job_id"] for r in responses]
    assert outbox_rows(target)[1] == 0

    relay = supervisor.restart(relay.name)
    target.processes["relay"] = [relay]

    def part_published() -> bool:
        """the restarted relay has published some of the outbox"""
        return outbox_rows(target)[1] >= 10

    wait_until(part_published, 15, interval=0.005)
    relay.kill()  # SIGKILL: rounds in hand are neither finished nor marked
    published_at_kill = outbox_rows(target)[1]
    assert published_at_kill < len(job_ids), "the relay finished before the kill: not mid-way"

    target.processes["relay"] = [supervisor.restart(relay.name)]

    all_delivered_once(target, provider, job_ids)
    assert outbox_rows(target) == (len(job_ids), len(job_ids))


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A RabbitMQ node this module owns, so a test may take it down."""
    if rabbitmq_script("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AMQP_URL", raising=False)
        broker = provision_broker(
            work_dir=Path(tmp_path_factory.mktemp("broker")), require_owned=True
        )
    yield broker
    broker.close()


def test_broker_down_signups_still_answer_202_and_every_email_arrives_after_it_returns(
    stack: Stack, module_provider: RunningProvider, private_broker: Broker
) -> None:
    provider = module_provider
    provider.admin.healthy()
    target = launch(stack, "outbox", broker=private_broker)
    control = private_broker.control
    assert control is not None
    try:
        before = signups(target.url, 5)
        assert {r.status_code for r in before} == {202}

        control.stop_app()
        try:
            started = time.monotonic()
            during = signups(target.url, 30)
            elapsed = time.monotonic() - started
            assert {r.status_code for r in during} == {202}
            assert elapsed < 5  # no request waited on the broker
            during_ids = [r.json()["job_id"] for r in during]
            time.sleep(1.0)  # the relay would have published them by now, had it a broker
            assert outbox_rows(target)[1] <= len(before)
            assert deliveries_per_job(provider, during_ids) == Counter()
        finally:
            control.start_app()

        job_ids = [r.json()["job_id"] for r in before] + during_ids
        all_delivered_once(target, provider, job_ids)
    finally:
        stack.remove(target)
