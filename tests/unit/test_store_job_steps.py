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


def _sending_events(store: UserStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(job_events.c.job_id, job_events.c.attempt).where(
                job_events.c.state == JobState.SENDING.value
            )
        )
        return {row.job_id: row.attempt for row in rows}


def test_each_job_of_a_batch_starts_with_its_own_attempt_number_in_order(
    store: UserStore,
) -> None:
    first, second, third = _jobs(store, 3)

    started = store.start_attempts([(second.id, 3), (first.id, 1), (third.id, 1)])

    assert [job.id if job else None for job in started] == [second.id, first.id, third.id]
    assert [(job.state, job.attempts) for job in started if job] == [
        (JobState.SENDING, 3),
        (JobState.SENDING, 1),
        (JobState.SENDING, 1),
    ]
    assert _sending_events(store) == {second.id: 3, first.id: 1, third.id: 1}
    assert store.get_job(second.id) == started[0]


def test_a_finished_job_in_a_batch_comes_back_unchanged_and_a_gone_one_as_none(
    store: UserStore,
) -> None:
    delivered, fresh = _jobs(store, 2)
    store.start_attempt(delivered.id, 1)
    store.record_outcomes([AttemptOutcome(delivered.id, JobState.DELIVERED, 1)])

    again, started, gone = store.start_attempts(
        [(delivered.id, 2), (fresh.id, 1), (uuid.uuid4().hex, 1)]
    )

    assert again is not None and (again.state, again.attempts) == (JobState.DELIVERED, 1)
    assert started is not None and started.state is JobState.SENDING
    assert gone is None
    # the redelivered copy of the finished job records no second attempt
    assert _sending_events(store) == {delivered.id: 1, fresh.id: 1}
