"""The outbox design: FastAPI on uvicorn, the welcome email written to an outbox table.

``POST /users``: validate → insert the user, its job and the job's message (the outbox row)
in one transaction → 202 ``{job_id}``. The request never talks to the broker: the relay
(``relay.py``) publishes the outbox, and the async design's worker sends the emails. So a
signup the client was told about always has its message stored with it — the async design's
window between committing the user and the broker's confirm (user stored, publish lost) is
closed — and a broker outage delays emails instead of refusing signups.

Run: ``uvicorn --factory targets.outbox.app:create_app --workers 4 --port 8006``, and one
``python -m targets.outbox.relay``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from targets.async_api.batching import WriteBatcher
from targets.common import tracing
from targets.common.asgi import (
    NOT_FOUND,
    SIGNUP_REFUSALS,
    SignupAccepted,
    accepted,
    install_edge,
    install_health,
    install_user_reads,
    read_signup,
    signup_request_body,
)
from targets.common.ids import is_id
from targets.common.problems import not_found
from targets.common.settings import TargetSettings
from targets.common.signup import SignupRequest
from targets.common.store import Job, OutboxStore, User, email_taken, make_engine


def create_app(settings: TargetSettings | None = None) -> FastAPI:
    """Application factory (``uvicorn --factory``); each worker process builds its own."""
    settings = settings or TargetSettings()
    store = OutboxStore(make_engine(settings.database_url, settings.db_schema))

    def create_users(
        batch: list[tuple[SignupRequest, str, str | None]],
    ) -> list[tuple[User, Job] | None]:
        # the first signup of an address is the one stored: its trace goes with the message
        traceparents: dict[str, str] = {}
        for signup, _, traceparent in batch:
            if traceparent:
                traceparents.setdefault(signup.email, traceparent)
        return store.create_users_with_outbox([(s, c) for s, c, _ in batch], traceparents)

    # concurrent signups of this process share one transaction and one thread hop
    signups: WriteBatcher[tuple[SignupRequest, str, str | None], tuple[User, Job] | None] = (
        WriteBatcher(create_users, name="signups")
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        signups.close()

    app = FastAPI(
        title="offload outbox signup API",
        version="1",
        description="Transactional outbox: the welcome email's job is stored with the user "
        "and published by a relay, then sent by a worker.",
        lifespan=lifespan,
    )
    install_edge(app, settings)

    @app.post(
        "/users",
        status_code=202,
        response_model=SignupAccepted,
        responses=SIGNUP_REFUSALS,
        openapi_extra=signup_request_body(),
    )
    async def create_user(request: Request) -> JSONResponse:
        """Store the user with its job's message, answer without waiting for the broker."""
        signup, correlation_id = await read_signup(request, settings)
        created = await signups.submit((signup, correlation_id, tracing.current_traceparent()))
        if created is None:
            raise email_taken()
        user, job = created
        return accepted(user.id, job.id)

    install_user_reads(app, store)

    @app.get("/jobs/{job_id}", responses=NOT_FOUND)
    async def get_job(job_id: str) -> dict[str, Any]:
        job = await run_in_threadpool(store.get_job, job_id) if is_id(job_id) else None
        if job is None:
            raise not_found("job")
        return job.public()

    install_health(app, "outbox")

    return app
