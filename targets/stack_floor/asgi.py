"""The FastAPI designs' HTTP stack with nothing behind it: what uvicorn and FastAPI cost alone.

``offload probe stack`` starts a design's own server command with this app in place of the
design's, so a request pays for the server, the framework, the shared edge (correlation ids,
body limit) and the parsing and validation of the signup — and for no database, broker or
provider. The design's CPU per signup minus this is what its architecture adds on this machine.

Two apps: :func:`create_app` is the framework's (FastAPI, exactly as the designs install it);
:func:`create_bare_app` is the least ASGI app that does the same parsing, to show what the
framework itself adds over the server.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from targets.common.asgi import NOT_FOUND, accepted, install_edge, install_health, read_signup
from targets.common.edge import EdgeMiddleware, Message, Receive, Scope, Send
from targets.common.ids import is_id, new_id
from targets.common.problems import ApiProblem, not_found
from targets.common.settings import TargetSettings
from targets.common.signup import parse_signup
from targets.stack_floor.answers import DESIGN, bare_user


def create_app() -> FastAPI:
    """FastAPI with the designs' edge: ``POST /users`` parses the signup and answers 202."""
    settings = TargetSettings()
    app = FastAPI(title="offload stack floor (FastAPI)")
    install_edge(app, settings)

    @app.post("/users", status_code=202)
    async def create_user(request: Request) -> JSONResponse:
        await read_signup(request, settings)
        return accepted(new_id(), new_id())

    @app.get("/users/{user_id}", responses=NOT_FOUND)
    async def get_user(user_id: str) -> dict[str, str]:
        if not is_id(user_id):
            raise not_found("user")
        return bare_user(user_id)

    install_health(app, DESIGN)
    return app


def create_bare_app() -> EdgeMiddleware:
    """No framework: the same edge and parsing as a plain ASGI callable."""
    settings = TargetSettings()
    health = json.dumps({"status": "ok", "design": DESIGN}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            try:
                parse_signup(content_type, bytes(body), settings.max_body_bytes)
            except ApiProblem as problem:
                refusal = problem.body(scope["state"]["correlation_id"])
                await _respond(send, problem.status, json.dumps(refusal).encode())
                return
            answer = json.dumps({"job_id": new_id(), "user_id": new_id()}).encode()
            await _respond(send, 202, answer)
        elif scope["path"].startswith("/users/"):
            user_id = scope["path"].removeprefix("/users/")
            if is_id(user_id):
                await _respond(send, 200, json.dumps(bare_user(user_id)).encode())
            else:
                await _respond(send, 404, b'{"error": "not_found"}')
        else:
            await _respond(send, 200, health)

    return EdgeMiddleware(app, max_body_bytes=settings.max_body_bytes)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
