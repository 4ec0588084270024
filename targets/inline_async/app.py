"""The inline-async design: FastAPI on uvicorn, the welcome email awaited inside the request.

``POST /users`` does what the sync design does — validate → insert the user → call the email
provider (bounded by the provider timeout) → 201, or undo the signup and answer 502 / 504 /
422 — but on an event loop: the provider call is awaited on one pooled aiohttp session per
process (the async design's worker uses the same client), so a slow provider holds a
coroutine, not a process. It is the framework control for ``async``: the same stack (FastAPI,
uvicorn, the same edge and client), minus the queue.

Run: ``uvicorn --factory targets.inline_async.app:create_app --workers 4 --port 8003``
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from targets.common.asgi import (
    SIGNUP_REFUSALS,
    UserCreated,
    install_edge,
    install_health,
    install_user_reads,
    read_signup,
    signup_request_body,
)
from targets.common.email import (
    LifespanProviderSession,
    Outcome,
    WelcomeEmail,
    send_welcome_email_async,
)
from targets.common.problems import ApiProblem, Problem
from targets.common.settings import TargetSettings
from targets.common.store import UserStore, make_engine

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SIGNUP_REFUSALS,
    422: {
        "model": Problem,
        "description": (
            "Body does not match the schema (validation_failed), or the provider refused the "
            "address for good (recipient_rejected); nothing is stored"
        ),
    },
    502: {"model": Problem, "description": "The provider failed; nothing is stored, retry"},
    504: {
        "model": Problem,
        "description": "The provider did not answer in time; nothing is stored, retry",
    },
}


def create_app(settings: TargetSettings | None = None) -> FastAPI:
    """Application factory (``uvicorn --factory``); each worker process builds its own."""
    settings = settings or TargetSettings()
    store = UserStore(make_engine(settings.database_url, settings.db_schema))
    provider = LifespanProviderSession(settings.provider_url, timeout_s=settings.provider_timeout_s)

    app = FastAPI(
        title="offload inline-async signup API",
        version="1",
        description=(
            "Inline-async design: the welcome email is awaited inside the request, so a failing "
            "provider fails the signup (502/504) and the signup is undone."
        ),
        lifespan=provider.lifespan,
    )
    install_edge(app, settings)

    @app.post(
        "/users",
        status_code=201,
        response_model=UserCreated,
        responses=_RESPONSES,
        openapi_extra=signup_request_body(),
    )
    async def create_user(request: Request) -> JSONResponse:
        """Store the user, send the welcome email, answer once the provider took it."""
        signup, correlation_id = await read_signup(request, settings)
        user = await run_in_threadpool(store.create_user, signup, correlation_id)
        result = await send_welcome_email_async(
            provider.session,
            WelcomeEmail(
                user_id=user.id,
                email=user.email,
                correlation_id=correlation_id,
                idempotency_key=f"welcome-{user.id}",
            ),
        )
        if result.outcome.accepted:
            return JSONResponse({**user.public(), "email_status": "sent"}, status_code=201)
        await run_in_threadpool(store.discard_signup, user.id)
        if result.timed_out:
            raise ApiProblem(504, "provider_timeout", result.detail)
        if result.outcome is Outcome.PERMANENT:
            raise ApiProblem(422, "recipient_rejected", result.detail)
        raise ApiProblem(502, "provider_error", result.detail)

    install_user_reads(app, store)
    install_health(app, "inline-async")
    return app
