"""The background design: FastAPI answers 201, then sends the welcome email in-process.

``POST /users``: validate → insert the user → 201 → after the response has gone out, the same
process sends the email (Starlette's ``BackgroundTasks``) on its pooled aiohttp session. This
is the naive "async" many teams ship: the client never waits for the provider, and no broker
is needed. What it gives up is deliberate here, because the benchmark's ledger is meant to
show it: the email lives only in the memory of the process that answered. When the provider
fails, times out or refuses the address, or the process dies (or is stopped for longer than
its graceful shutdown) before the send, the user is stored, the client was told 201, and no
email is ever sent — there is no retry, no record of the attempt, nothing to re-drive.

Run: ``uvicorn --factory targets.background.app:create_app --workers 4 --port 8004``
"""

from __future__ import annotations

import logging

from fastapi import BackgroundTasks, FastAPI, Request
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
    WelcomeEmail,
    send_welcome_email_async,
)
from targets.common.settings import TargetSettings
from targets.common.store import UserStore, make_engine

log = logging.getLogger("offload.background")


def create_app(settings: TargetSettings | None = None) -> FastAPI:
    """Application factory (``uvicorn --factory``); each worker process builds its own."""
    settings = settings or TargetSettings()
    store = UserStore(make_engine(settings.database_url, settings.db_schema))
    provider = LifespanProviderSession(settings.provider_url, timeout_s=settings.provider_timeout_s)

    async def send_after_response(email: WelcomeEmail) -> None:
        """One attempt, after the 201: a failure is logged and the email is gone."""
        result = await send_welcome_email_async(provider.session, email)
        if not result.outcome.accepted:
            log.warning(
                "welcome email for user %s lost (no retry in this design): %s",
                email.user_id,
                result.detail,
            )

    app = FastAPI(
        title="offload background signup API",
        version="1",
        description=(
            "Background design: the user is stored and the signup answered 201; the welcome "
            "email is sent afterwards by the same process, once, and lost if that fails."
        ),
        lifespan=provider.lifespan,
    )
    install_edge(app, settings)

    @app.post(
        "/users",
        status_code=201,
        response_model=UserCreated,
        responses=SIGNUP_REFUSALS,
        openapi_extra=signup_request_body(),
    )
    async def create_user(request: Request, background: BackgroundTasks) -> JSONResponse:
        """Store the user, answer, then send the welcome email from this process."""
        signup, correlation_id = await read_signup(request, settings)
        user = await run_in_threadpool(store.create_user, signup, correlation_id)
        email = WelcomeEmail(
            user_id=user.id,
            email=user.email,
            correlation_id=correlation_id,
            idempotency_key=f"welcome-{user.id}",
        )
        # FastAPI runs these after the response it returns has been sent
        background.add_task(send_after_response, email)
        return JSONResponse({**user.public(), "email_status": "scheduled"}, status_code=201)

    install_user_reads(app, store)
    install_health(app, "background")
    return app
