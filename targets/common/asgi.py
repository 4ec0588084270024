"""What the FastAPI designs (async, inline-async, background) share around their signup.

The same edge (correlation ids, body-size limit), the same error bodies, the same read
endpoints: so that between the FastAPI designs only what ``POST /users`` does with the email
differs, and between them and the Flask designs only the framework and the architecture.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from targets.common import tracing
from targets.common.edge import EdgeMiddleware
from targets.common.http_metrics import AsgiMetrics
from targets.common.ids import is_id
from targets.common.ledger import LedgerPage, LedgerQuery, read_ledger_page
from targets.common.metrics import ENABLED as METRICS_ENABLED
from targets.common.problems import ApiProblem, Problem, not_found
from targets.common.settings import TargetSettings
from targets.common.signup import SignupRequest, parse_signup
from targets.common.store import UserStore

log = logging.getLogger("offload.asgi")

#: the refusals every FastAPI design's ``POST /users`` answers (the designs add their own)
SIGNUP_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Body is not valid JSON"},
    409: {"model": Problem, "description": "Email address already registered"},
    413: {"model": Problem, "description": "Body too large"},
    415: {"model": Problem, "description": "Content-Type is not application/json"},
    422: {"model": Problem, "description": "Body does not match the schema"},
}
LEDGER_REFUSALS: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "A query parameter is missing, unknown or invalid"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such id"}}


class UserCreated(BaseModel):
    """201 body of the designs that answer with the user: what ``GET /users/{id}`` returns,
    and what became of the welcome email by the time of the answer."""

    id: str
    email: str
    display_name: str
    created_at: float
    #: ``sent``: the provider took it before the answer; ``scheduled``: it is sent after
    email_status: Literal["sent", "scheduled"]


class SignupAccepted(BaseModel):
    """202 body of the queue-backed designs: the job that will send the welcome email, and
    where to follow it."""

    job_id: str
    user_id: str
    status_url: str


def accepted(user_id: str, job_id: str) -> JSONResponse:
    """The 202 answer of a signup whose email a job will send (:class:`SignupAccepted`)."""
    return JSONResponse(
        {"job_id": job_id, "user_id": user_id, "status_url": f"/jobs/{job_id}"},
        status_code=202,
    )


def correlation(request: Request) -> str:
    """The request's correlation id, set by :class:`EdgeMiddleware`."""
    return str(request.scope["state"]["correlation_id"])


async def read_signup(request: Request, settings: TargetSettings) -> tuple[SignupRequest, str]:
    """The request's signup, parsed and checked (a refusal raises its problem), and its
    correlation id: how every FastAPI design's ``POST /users`` begins."""
    body = await request.body()
    signup = parse_signup(request.headers.get("content-type"), body, settings.max_body_bytes)
    return signup, correlation(request)


def install_edge(app: FastAPI, settings: TargetSettings) -> None:
    """Correlation ids and the body limit at the edge; every error as a :class:`Problem`;
    request metrics and ``GET /metrics`` when metrics are on (``targets.common.metrics``); a
    server span per request when tracing is on (``targets.common.tracing``)."""
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes)
    if METRICS_ENABLED:  # added after the edge, so outside it: it times the edge's refusals too
        app.add_middleware(AsgiMetrics, routes=app.router.routes)
    if tracing.ENABLED:
        # FastAPI's own telemetry makes the server span (continuing the caller's traceparent)
        # once a tracer provider is set; the handler's spans are its children
        tracing.setup("api")
        _flush_spans_at_shutdown(app)

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, problem: ApiProblem) -> JSONResponse:
        return JSONResponse(
            problem.body(correlation(request)), status_code=problem.status, headers=problem.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        problem = ApiProblem(exc.status_code, code, str(exc.detail))
        return JSONResponse(problem.body(correlation(request)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = ApiProblem(422, "validation_failed", str(exc.errors()))
        return JSONResponse(problem.body(correlation(request)), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        problem = ApiProblem(500, "internal_error", f"unexpected {type(exc).__name__}")
        return JSONResponse(problem.body(correlation(request)), status_code=500)


def _flush_spans_at_shutdown(app: FastAPI) -> None:
    """Export the spans still held when the app shuts down. A uvicorn worker process never
    reaches its exit handlers: uvicorn ends it by raising the SIGTERM it caught again."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            tracing.shutdown()

    app.router.lifespan_context = lifespan


def install_user_reads(app: FastAPI, store: UserStore) -> None:
    """``GET /users/{id}``: the bystander endpoint (no provider, no broker); and ``GET
    /ledger``, the run's users and jobs for offload's HTTP ledger (never part of the load)."""

    @app.get("/ledger", response_model=LedgerPage, responses=LEDGER_REFUSALS)
    async def ledger(query: Annotated[LedgerQuery, Query()]) -> LedgerPage:
        return await run_in_threadpool(read_ledger_page, store.engine, query)

    @app.get("/users/{user_id}", responses=NOT_FOUND)
    async def get_user(user_id: str) -> dict[str, Any]:
        user = await run_in_threadpool(store.get_user, user_id) if is_id(user_id) else None
        if user is None:
            raise not_found("user")
        return user.public()


def install_health(app: FastAPI, design: str, extra: Callable[[], dict[str, str]] = dict) -> None:
    """``GET /healthz``: the process serves requests (the other bystander endpoint)."""

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "design": design, **extra()})


def signup_request_body() -> dict[str, Any]:
    """The ``requestBody`` of ``POST /users`` in the document: the validating model's schema
    (the handler reads raw bytes so that every design refuses bad input the same way)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SignupRequest.model_json_schema()}},
        }
    }
