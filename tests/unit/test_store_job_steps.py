"""The worker's batched job steps on a real database: what each job of a batch gets back, and
what is recorded for it. SQLite always; PostgreSQL too when one answers on 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from offload.ports import port_open
from targets.common.jobs import JobState
from targets.common.signup import SignupRequest
from targets.common.store import (
    AttemptOutcome,
    Job,
    UserStore,
    create_schema,
    job_events,
    make_engine,
)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UserStore]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        schema = None
    else:
        if not port_open("127.0.0.1", 5432):
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")
        schema = f"store_test_{uuid.uuid4().hex[:12]}"
        with make_engine(POSTGRES_URL).begin() as conn:
            conn.execute(sa.text(f"create schema {schema}"))
        engine = make_engine(POSTGRES_URL, schema)
    create_schema(engine)
    yield UserStore(engine)
    engine.dispose()
    if schema is not None:
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop schema {schema} cascade"))
        admin.dispose()


def _jobs(store: UserStore, count: int) -> list[Job]:
    created = store.create_users_with_jobs(
        [
            (SignupRequest(email=f"{uuid.uuid4().hex}@example.com", display_name="Step"), "cid")
            for _ in range(count)
        ]
    )
    return [pair[1] for pair in created if pair is not None]


def _events(store: UserStore) -> list[tuple[str, str, int, float]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                job_events.c.job_id, job_events.c.state, job_events.c.attempt, job_events.c.at
            ).where(job_events.c.state != JobState.QUEUED.value)
        )
        return sorted((row.job_id, row.state, row.attempt, row.at) for row in rows)


def test_looking_jobs_up_before_their_attempts_returns_them_in_order_and_writes_nothing(
    store: UserStore,
) -> None:
    first, second, third = _jobs(store, 3)

    found = store.find_jobs([second.id, uuid.uuid4().hex, first.id, third.id])

    assert [job.id if job else None for job in found] == [second.id, None, first.id, third.id]
    assert all(job.state is JobState.QUEUED for job in found if job)
    assert _events(store) == []  # the attempt's start is written with its outcome
    assert store.get_job(second.id) == found[0]


def test_an_outcome_records_the_attempt_it_ends_and_when_that_attempt_started(
    store: UserStore,
) -> None:
    delivered, retrying = _jobs(store, 2)

    store.record_outcomes(
        [
            AttemptOutcome(delivered.id, JobState.DELIVERED, 2, started_at=1000.0),
            AttemptOutcome(retrying.id, JobState.RETRYING, 1, "HTTP 503", started_at=1001.5),
        ]
    )

    events = _events(store)
    assert [(job_id, state, attempt) for job_id, state, attempt, _ in events] == sorted(
        [
            (delivered.id, "sending", 2),
            (delivered.id, "delivered", 2),
            (retrying.id, "sending", 1),
            (retrying.id, "retrying", 1),
        ]
    )
    started = {(job_id, state): at for job_id, state, _, at in events}
    assert started[(delivered.id, "sending")] == 1000.0
    assert started[(retrying.id, "sending")] == 1001.5
    assert started[(delivered.id, "delivered")] > 1001.5  # the outcome: when it was written
    job = store.get_job(retrying.id)
    assert job is not None and (job.state, job.attempts, job.last_error) == (
        JobState.RETRYING,
        1,
        "HTTP 503",
    )


def test_a_finished_job_comes_back_finished_so_a_redelivered_copy_is_not_sent_again(
    store: UserStore,
) -> None:
    delivered, fresh = _jobs(store, 2)
    store.record_outcomes([AttemptOutcome(delivered.id, JobState.DELIVERED, 1, started_at=5.0)])

    again, waiting = store.find_jobs([delivered.id, fresh.id])

    assert again is not None and (again.state, again.attempts) == (JobState.DELIVERED, 1)
    assert again.state.finished
    assert waiting is not None and not waiting.state.finished


def test_lookups_and_outcomes_share_one_batch(store: UserStore) -> None:
    ended, next_up = _jobs(store, 2)

    found = store.record_job_steps(
        [next_up.id], [AttemptOutcome(ended.id, JobState.DEAD_LETTERED, 3, "refused", 7.0)]
    )

    assert [job.id for job in found if job] == [next_up.id]
    assert found[0] is not None and found[0].state is JobState.QUEUED
    ended_job = store.get_job(ended.id)
    assert ended_job is not None and ended_job.state is JobState.DEAD_LETTERED
