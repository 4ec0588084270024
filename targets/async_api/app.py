"""The asynchronous design: FastAPI on uvicorn, the welcome email handed to a queue.

``POST /users``: validate → insert the user and its job (one transaction) → publish
``SEND_WELCOME_EMAIL`` (persistent, mandatory, publisher-confirmed) → 202 ``{job_id}``. The
request never waits for the provider, only for the broker's confirm, and that wait is bounded:
no confirm within ``publish_timeout_s`` (or no broker, or a blocked one) → the signup is undone
and the client gets 503 with ``Retry-After``. ``GET /jobs/{id}`` reports the job's state.

Run: ``uvicorn --factory targets.async_api.app:create_app --workers 4 --port 8002``
(each uvicorn worker process holds its own AMQP connection; see ``amqp.py`` for why pika's
asyncio adapter).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from targets.async_api.amqp import (
    AmqpClient,
    BrokerBlocked,
    BrokerUnavailable,
    ConfirmingPublisher,
    PublishFailed,
    open_channel,
    publish_failure,
)
from targets.async_api.batching import WriteBatcher
from targets.async_api.topology import (
    Topology,
    declare_topology,
    publish_first,
)
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
from targets.common.jobs import WelcomeEmailJob
from targets.common.metrics import PUBLISH_DURATION, PUBLISHES, count, timed
from targets.common.problems import ApiProblem, Problem, not_found
from targets.common.settings import TargetSettings
from targets.common.signup import SignupRequest
from targets.common.store import Job, User, UserStore, email_taken, make_engine

log = logging.getLogger("offload.async_api")

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SIGNUP_REFUSALS,
    503: {
        "model": Problem,
        "description": "The broker did not take the job in time; retry after the delay",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    },
}


class JobPublisher:
    """Publishes jobs on this process's AMQP connection; fails fast when it cannot."""

    def __init__(self, settings: TargetSettings, topology: Topology) -> None:
        self.settings = settings
        self.topology = topology
        self._publisher: ConfirmingPublisher | None = None
        self.client = AmqpClient(
            settings.amqp_url, name="offload-async-api", on_connected=self._on_connected
        )
        self.client.on_lost(self._on_lost)

    async def _on_connected(self, connection: Any) -> None:
        self._publisher = ConfirmingPublisher(await open_channel(connection))

    def _on_lost(self) -> None:
        if self._publisher is not None:
            self._publisher.fail_all("connection to the broker lost")
        self._publisher = None

    async def publish(self, job: WelcomeEmailJob) -> None:
        """Publish and wait for the confirm; counted and timed by result."""
        outcome = ["confirmed"]
        with timed(PUBLISH_DURATION, outcome):
            try:
                await self._publish(job)
            except PublishFailed as exc:
                outcome[0] = publish_failure(exc)
                count(PUBLISHES, outcome[0])
                raise
        count(PUBLISHES, outcome[0])

    async def _publish(self, job: WelcomeEmailJob) -> None:
        if self.client.blocked:
            raise BrokerBlocked("the broker is blocking publishers (resource alarm)")
        publisher = self._publisher
        if publisher is None or not publisher.usable:
            raise BrokerUnavailable("not connected to the broker")
        await publish_first(
            publisher,
            self.topology.jobs_exchange,
            job,
            job.to_bytes(),
            timeout=self.settings.publish_timeout_s,
        )


def create_app(settings: TargetSettings | None = None) -> FastAPI:
    """Application factory (``uvicorn --factory``); each worker process builds its own."""
    settings = settings or TargetSettings()
    topology = Topology(settings.queue_prefix, settings.retry_delays_s)
    store = UserStore(make_engine(settings.database_url, settings.db_schema))
    publisher = JobPublisher(settings, topology)
    # concurrent signups of this process share one transaction and one thread hop
    signups: WriteBatcher[tuple[SignupRequest, str], tuple[User, Job] | None] = WriteBatcher(
        store.create_users_with_jobs, name="signups"
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.declare_topology:
            try:
                await run_in_threadpool(declare_topology, settings.amqp_url, topology)
            except Exception as exc:  # the broker may be down at start: serve 503s meanwhile
                log.warning("could not declare the topology at start: %s", exc)
        publisher.client.start()
        await publisher.client.wait_ready(timeout=5)
        yield
        await publisher.client.stop()
        signups.close()

    app = FastAPI(
        title="offload async signup API",
        version="1",
        description="Queue-backed design: the welcome email is sent by a worker.",
        lifespan=lifespan,
    )
    install_edge(app, settings)

    @app.post(
        "/users",
        status_code=202,
        response_model=SignupAccepted,
        responses=_ERROR_RESPONSES,
        openapi_extra=signup_request_body(),
    )
    async def create_user(request: Request) -> JSONResponse:
        """Store the user, enqueue the welcome email, answer without waiting for it."""
        signup, correlation_id = await read_signup(request, settings)
        created = await signups.submit((signup, correlation_id))
        if created is None:
            raise email_taken()
        user, job = created
        message = WelcomeEmailJob.new(
            job_id=job.id, user_id=user.id, email=user.email, correlation_id=correlation_id
        )
        try:
            await publisher.publish(message)
        except PublishFailed as exc:
            # undo the signup: the client is told to retry, and a retry must not hit 409
            await asyncio.shield(run_in_threadpool(store.discard_signup, user.id))
            raise ApiProblem(
                503, "queue_unavailable", str(exc), headers={"Retry-After": "1"}
            ) from exc
        return accepted(user.id, job.id)

    install_user_reads(app, store)

    @app.get("/jobs/{job_id}", responses=NOT_FOUND)
    async def get_job(job_id: str) -> dict[str, Any]:
        job = await run_in_threadpool(store.get_job, job_id) if is_id(job_id) else None
        if job is None:
            raise not_found("job")
        return job.public()

    def broker_state() -> dict[str, str]:
        if publisher.client.blocked:
            return {"broker": "blocked"}
        return {"broker": "connected" if publisher.client.ready.is_set() else "disconnected"}

    install_health(app, "async", broker_state)

    return app
