"""``offload dlq show`` and ``offload dlq replay`` against the real broker and the async design."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pika
import pytest
import sqlalchemy as sa

from offload.commands import dlq as dlq_command
from offload.dlq import REPLAY_DETAIL, peek_dead_letters
from offload.errors import OffloadError
from offload.ports import free_port
from offload.run.stack import RunningTarget
from targets.async_api.topology import DELIVERY_LIMIT, ROUTING_KEY, Topology
from targets.common.jobs import WelcomeEmailJob
from targets.common.store import create_schema, job_events, jobs, make_engine
from tests.factories.processes import TEST_CONFIG, provider_records, wait_until


@dataclass
class Result:
    code: int
    out: str
    err: str


def dlq(*argv: str) -> Result:
    """Run ``offload dlq ...`` in-process, with the CLI's treatment of errors and exit codes."""
    parser = argparse.ArgumentParser(prog="offload dlq")
    dlq_command.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = dlq_command.run(parser.parse_args(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        except OffloadError as exc:
            err.write(str(exc))
            code = exc.exit_code
    return Result(code, out.getvalue(), err.getvalue())


def broker_args(broker, prefix: str) -> list[str]:
    return ["--amqp-url", broker.url, "--queue-prefix", prefix]


def target_args(broker, target: RunningTarget, *, database: bool = True) -> list[str]:
    args = broker_args(broker, target.values["queue_prefix"])
    if database:
        args += ["--database-url", target.values["database_url"]]
        if target.values["db_schema"]:
            args += ["--db-schema", target.values["db_schema"]]
    return args


def signup(target: RunningTarget, domain: str = "example.com") -> dict:
    response = httpx.post(
        f"{target.url}/users",
        json={"email": f"{uuid.uuid4().hex}@{domain}", "display_name": "Ada"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def wait_for_state(target: RunningTarget, job_id: str, state: str, timeout: float = 15) -> dict:
    def reached() -> dict | None:
        job = httpx.get(f"{target.url}/jobs/{job_id}").json()
        return job if job["state"] == state else None

    reached.__doc__ = f"job {job_id} reaches {state}"
    return wait_until(reached, timeout)


def dead_letter_ids(broker, prefix: str) -> list[str | None]:
    return [letter.job_id for letter in peek_dead_letters(broker.url, prefix).letters]


def shown(result: Result) -> dict[str, dict]:
    """``dlq show --json`` output by job id."""
    assert result.code == 0, result
    return {entry["job_id"]: entry for entry in json.loads(result.out)["dead_letters"]}


# -- show --------------------------------------------------------------------------------------


def test_show_lists_a_permanent_rejection_with_reason_rejected_and_the_workers_error(
    async_target, provider, broker
):
    created = signup(async_target, domain="bounce.invalid")
    job_id = created["job_id"]
    wait_for_state(async_target, job_id, "dead_lettered")

    entry = shown(dlq("show", "--json", *target_args(broker, async_target)))[job_id]

    assert entry["reason"] == "rejected"
    assert entry["attempts"] == 1
    assert entry["user_id"] == created["user_id"]
    assert entry["email"].endswith("@bounce.invalid")
    assert entry["correlation_id"]
    assert entry["died_in"].endswith(".welcome_email")
    assert entry["died_at"]
    assert entry["job"]["state"] == "dead_lettered"
    assert "422" in entry["job"]["last_error"]  # the worker's error, from the jobs table

    text = dlq("show", *target_args(broker, async_target))
    assert text.code == 0
    assert job_id in text.out
    assert "rejected" in text.out
    assert "recipient rejected" in text.out


def test_show_lists_a_job_that_failed_until_its_last_attempt_with_the_last_error(
    async_target, provider, broker
):
    provider.admin.set_profile(error_rate=1.0)
    job_id = signup(async_target)["job_id"]
    wait_for_state(async_target, job_id, "dead_lettered")

    entry = shown(dlq("show", "--json", *target_args(broker, async_target, database=False)))[job_id]

    assert entry["reason"] == "rejected"
    assert entry["attempts"] == TEST_CONFIG.max_attempts
    assert "503" in entry["last_error"]  # x-last-error, carried by the message itself
    assert entry["job"] is None  # no database given


@pytest.fixture
def idle_topology(broker) -> Iterator[Topology]:
    """A declared topology that no worker consumes, to place dead letters precisely."""
    topology = Topology(f"offload.test.dlq.{uuid.uuid4().hex[:8]}", (0.2,))
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        topology.declare(connection.channel())
    yield topology
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        topology.delete(connection.channel())


def publish(broker, exchange: str, bodies: list[bytes], ids: list[str]) -> None:
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for body, message_id in zip(bodies, ids, strict=True):
            channel.basic_publish(
                exchange,
                ROUTING_KEY,
                body,
                pika.BasicProperties(
                    delivery_mode=2, message_id=message_id, headers={"x-attempt": 2}
                ),
                mandatory=True,
            )


def job_body(job_id: str) -> bytes:
    return WelcomeEmailJob.new(
        job_id=job_id, user_id=uuid.uuid4().hex, email="a@example.com", correlation_id="c"
    ).to_bytes()


def fill_dead_letters(broker, topology: Topology, count: int) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(count)]
    publish(broker, topology.dead_exchange, [job_body(i) for i in ids], ids)
    return ids


def depth(broker, queue: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        return connection.channel().queue_declare(queue, passive=True).method.message_count


def test_show_consumes_nothing_and_keeps_the_order(broker, idle_topology):
    ids = fill_dead_letters(broker, idle_topology, 5)
    args = broker_args(broker, idle_topology.prefix)

    first_two = json.loads(dlq("show", "--json", "--limit", "2", *args).out)
    everything = json.loads(dlq("show", "--json", *args).out)

    assert first_two["depth"] == 5
    assert [e["job_id"] for e in first_two["dead_letters"]] == ids[:2]
    assert [e["job_id"] for e in everything["dead_letters"]] == ids
    assert [e["position"] for e in everything["dead_letters"]] == [1, 2, 3, 4, 5]
    assert depth(broker, idle_topology.dead_queue) == 5


def test_a_reader_killed_with_dead_letters_in_hand_loses_none(broker, idle_topology):
    ids = fill_dead_letters(broker, idle_topology, 4)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from offload.dlq import DeadLetterQueue
                queue = DeadLetterQueue({broker.url!r}, {idle_topology.prefix!r})
                held = list(queue.letters(3))
                print(len(held), flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "3"
        assert depth(broker, idle_topology.dead_queue) == 1  # three are in the reader's hands
        holder.kill()
        holder.wait(timeout=5)
    finally:
        if holder.poll() is None:
            holder.kill()

    def all_back() -> bool:
        """the broker took back the killed reader's dead letters"""
        return depth(broker, idle_topology.dead_queue) == 4

    wait_until(all_back, 5)
    assert dead_letter_ids(broker, idle_topology.prefix) == ids


def exhaust_the_delivery_limit(broker, topology: Topology, job_id: str) -> None:
    """Return the job to the work queue until the broker dead-letters it (crashing workers)."""
    publish(broker, topology.jobs_exchange, [job_body(job_id)], [job_id])
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        for _ in range(DELIVERY_LIMIT + 5):
            method, _properties, _body = channel.basic_get(topology.work_queue)
            if method is None:
                break
            channel.basic_nack(method.delivery_tag, requeue=True)

    def dead_lettered() -> bool:
        """the broker dead-lettered the message after its delivery limit"""
        return depth(broker, topology.dead_queue) == 1

    wait_until(dead_lettered, 5)


def test_a_message_that_keeps_crashing_workers_is_shown_with_reason_delivery_limit(
    broker, idle_topology
):
    job_id = uuid.uuid4().hex
    exhaust_the_delivery_limit(broker, idle_topology, job_id)

    entry = shown(dlq("show", "--json", *broker_args(broker, idle_topology.prefix)))[job_id]
    assert entry["reason"] == "delivery_limit"
    assert entry["died_in"] == idle_topology.work_queue


# -- replay ------------------------------------------------------------------------------------


def dead_letter_after_max_attempts(target: RunningTarget, provider) -> str:
    provider.admin.set_profile(error_rate=1.0)
    job_id = signup(target)["job_id"]
    wait_for_state(target, job_id, "dead_lettered")
    provider.admin.healthy()
    return job_id


def test_replay_delivers_the_job_exactly_once_and_removes_its_dead_letter(
    async_target, provider, broker
):
    job_id = dead_letter_after_max_attempts(async_target, provider)
    prefix = async_target.values["queue_prefix"]
    others = [i for i in dead_letter_ids(broker, prefix) if i != job_id]

    result = dlq("replay", "--job-id", job_id, *target_args(broker, async_target))

    assert result.code == 0, result
    assert f"replayed {job_id}" in result.out
    job = wait_for_state(async_target, job_id, "delivered")
    assert job["attempts"] == 1  # the replayed copy is attempt 1 again
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1
    assert dead_letter_ids(broker, prefix) == others  # only this one left, the rest untouched
    engine = make_engine(async_target.values["database_url"], async_target.values["db_schema"])
    with engine.connect() as conn:
        details = conn.execute(
            sa.select(job_events.c.state, job_events.c.detail).where(job_events.c.job_id == job_id)
        ).all()
    engine.dispose()
    assert ("queued", REPLAY_DETAIL) in [tuple(row) for row in details]


def test_a_stale_dead_letter_left_by_a_crash_is_removed_without_a_second_email(
    async_target, provider, broker
):
    job_id = dead_letter_after_max_attempts(async_target, provider)
    prefix = async_target.values["queue_prefix"]
    letter = next(
        one for one in peek_dead_letters(broker.url, prefix).letters if one.job_id == job_id
    )
    assert dlq("replay", "--job-id", job_id, *target_args(broker, async_target)).code == 0
    wait_for_state(async_target, job_id, "delivered")
    # a replay killed after its commit and before its ack leaves the dead letter behind
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        channel.basic_publish(
            f"{prefix}.dead", ROUTING_KEY, letter.body, letter.properties, mandatory=True
        )
    sent_before = len(provider_records(provider, job_id=job_id))

    result = dlq("replay", "--job-id", job_id, *target_args(broker, async_target))

    assert result.code == 0, result
    assert f"removed {job_id}" in result.out
    assert job_id not in dead_letter_ids(broker, prefix)
    time.sleep(0.5)
    assert len(provider_records(provider, job_id=job_id)) == sent_before
    assert len(provider_records(provider, job_id=job_id, outcome="delivered")) == 1


def test_dry_run_changes_nothing(async_target, provider, broker):
    job_id = signup(async_target, domain="bounce.invalid")["job_id"]
    wait_for_state(async_target, job_id, "dead_lettered")
    prefix = async_target.values["queue_prefix"]
    before = dead_letter_ids(broker, prefix)
    sent_before = len(provider_records(provider, job_id=job_id))

    with_db = dlq("replay", "--dry-run", "--job-id", job_id, *target_args(broker, async_target))
    without_db = dlq(
        "replay",
        "--dry-run",
        "--job-id",
        job_id,
        *target_args(broker, async_target, database=False),
    )

    assert with_db.code == 0, with_db
    assert f"would replay {job_id}" in with_db.out
    assert without_db.code == 0, without_db
    time.sleep(0.5)
    assert dead_letter_ids(broker, prefix) == before
    assert httpx.get(f"{async_target.url}/jobs/{job_id}").json()["state"] == "dead_lettered"
    assert len(provider_records(provider, job_id=job_id)) == sent_before


def test_replay_of_an_unknown_job_exits_1_and_says_so(async_target, broker):
    unknown = uuid.uuid4().hex

    result = dlq("replay", "--job-id", unknown, *target_args(broker, async_target))

    assert result.code == 1
    assert f"not found {unknown}" in result.out


@pytest.fixture
def idle_jobs(tmp_path) -> Iterator[tuple[str, sa.Engine]]:
    """A design database of its own (SQLite) for the idle topology's jobs."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    engine = make_engine(url)
    create_schema(engine)
    yield url, engine
    engine.dispose()


def record_job(engine: sa.Engine, job_id: str, state: str = "dead_lettered") -> None:
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            jobs.insert().values(
                id=job_id,
                user_id=uuid.uuid4().hex,
                state=state,
                attempts=3,
                correlation_id="c",
                created_at=now,
                updated_at=now,
                last_error="gave up",
            )
        )


def reject_into_the_dead_letter_queue(broker, topology: Topology, job_id: str) -> None:
    """What the worker does when it gives up: reject, and the broker dead-letters it."""
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            topology.jobs_exchange,
            ROUTING_KEY,
            job_body(job_id),
            pika.BasicProperties(
                delivery_mode=2,
                message_id=job_id,
                headers={"x-attempt": 3, "x-last-error": "provider answered 503"},
            ),
            mandatory=True,
        )
        method, _properties, _body = channel.basic_get(topology.work_queue)
        channel.basic_nack(method.delivery_tag, requeue=False)

    def dead_lettered() -> bool:
        """the broker moved the rejected job to the dead-letter queue"""
        return depth(broker, topology.dead_queue) == 1

    wait_until(dead_lettered, 5)


def test_the_replayed_copy_is_attempt_1_without_its_death_history(broker, idle_topology, idle_jobs):
    url, engine = idle_jobs
    job_id = uuid.uuid4().hex
    record_job(engine, job_id)
    reject_into_the_dead_letter_queue(broker, idle_topology, job_id)

    args = broker_args(broker, idle_topology.prefix)
    result = dlq("replay", "--job-id", job_id, "--database-url", url, *args)

    assert result.code == 0, result
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        method, properties, body = connection.channel().basic_get(
            idle_topology.work_queue, auto_ack=True
        )
    assert method is not None
    assert WelcomeEmailJob.from_bytes(body).job_id == job_id
    assert properties.message_id == job_id
    assert properties.delivery_mode == 2
    assert properties.headers["x-attempt"] == 1
    assert properties.headers["x-replays"] == 1
    assert not {"x-death", "x-first-death-reason", "x-last-error"} & set(properties.headers)
    with engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.state)).scalar_one() == "queued"
    assert depth(broker, idle_topology.dead_queue) == 0


def test_a_copy_the_broker_cannot_route_leaves_the_job_dead_lettered_and_in_the_queue(
    broker, idle_topology, idle_jobs
):
    url, engine = idle_jobs
    job_id = uuid.uuid4().hex
    record_job(engine, job_id)
    reject_into_the_dead_letter_queue(broker, idle_topology, job_id)
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        connection.channel().queue_unbind(
            idle_topology.work_queue, idle_topology.jobs_exchange, routing_key=ROUTING_KEY
        )

    args = broker_args(broker, idle_topology.prefix)
    result = dlq("replay", "--job-id", job_id, "--database-url", url, *args)

    assert result.code == 1
    assert f"FAILED {job_id}" in result.out
    with engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.state)).scalar_one() == "dead_lettered"
        events = conn.execute(sa.select(job_events.c.state, job_events.c.detail)).all()
    assert [state for state, _detail in events] == ["queued", "dead_lettered"]  # reset, undone
    assert events[1].detail.startswith("replay failed: no queue is bound")
    assert dead_letter_ids(broker, idle_topology.prefix) == [job_id]


def test_a_job_that_hit_the_delivery_limit_is_replayed_from_its_sending_state(
    broker, idle_topology, idle_jobs
):
    url, engine = idle_jobs
    job_id = uuid.uuid4().hex
    record_job(engine, job_id, state="sending")  # the worker crashed on it, again and again
    exhaust_the_delivery_limit(broker, idle_topology, job_id)

    args = broker_args(broker, idle_topology.prefix)
    result = dlq("replay", "--job-id", job_id, "--database-url", url, *args)

    assert result.code == 0, result
    with engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.state)).scalar_one() == "queued"
    assert depth(broker, idle_topology.work_queue) == 1
    assert depth(broker, idle_topology.dead_queue) == 0


def test_replay_all_dry_run_lists_every_dead_letter_in_order_and_skips_malformed_ones(
    broker, idle_topology
):
    ids = fill_dead_letters(broker, idle_topology, 3)
    publish(broker, idle_topology.dead_exchange, [b"{not json"], ["poison"])

    result = dlq(
        "replay", "--all", "--dry-run", "--json", *broker_args(broker, idle_topology.prefix)
    )

    report = json.loads(result.out)
    actions = [(o["job_id"], o["action"]) for o in report["outcomes"]]
    assert ("poison", "skipped") in actions
    assert [job for job, action in actions if action == "would_replay"] == ids
    assert result.code == 1  # the malformed one cannot be replayed
    assert depth(broker, idle_topology.dead_queue) == 4


# -- bad input and a missing broker ------------------------------------------------------------


def test_replay_without_the_database_is_refused(async_target, broker):
    result = dlq(
        "replay", "--job-id", uuid.uuid4().hex, *target_args(broker, async_target, database=False)
    )

    assert result.code == 2
    assert "--database-url" in result.err


def test_bad_input_exits_2_with_the_reason(async_target, broker, tmp_path):
    remote = dlq("show", "--amqp-url", "amqp://guest:guest@10.1.2.3:5672/%2F")
    unknown_prefix = dlq("show", *broker_args(broker, f"no.such.{uuid.uuid4().hex[:6]}"))
    missing_db = dlq(
        "show", *target_args(broker, async_target, database=False),
        "--database-url", f"sqlite:///{tmp_path}/nowhere.db",
    )  # fmt: skip
    neither = dlq("replay", *target_args(broker, async_target))

    assert (remote.code, unknown_prefix.code, missing_db.code, neither.code) == (2, 2, 2, 2)
    assert "loopback" in remote.err
    assert "has no queue" in unknown_prefix.err
    assert "no SQLite database" in missing_db.err
    assert not (tmp_path / "nowhere.db").exists()


def test_a_broker_that_does_not_answer_is_a_clear_error_without_the_password():
    url = f"amqp://guest:s3cret@127.0.0.1:{free_port()}/%2F"

    result = dlq("show", "--amqp-url", url)

    assert result.code == 1
    assert "did not answer" in result.err
    assert "s3cret" not in result.err
    assert "guest:***@127.0.0.1" in result.err
