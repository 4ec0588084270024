"""ASGI middleware at the edge of the FastAPI designs: correlation ids and the body-size limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so that neither adds a task or a copy per request on
the hot path. The size limit refuses a declared ``Content-Length`` before any byte is read,
and caps what is read from a chunked body, so an oversized body is never parsed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from targets.common.correlation import HEADER, correlation_id_from
from targets.common.problems import body_too_large

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER_BYTES = HEADER.lower().encode()


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a chunked body grows past the limit."""


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        correlation_id = correlation_id_from(
            headers.get(_HEADER_BYTES, b"").decode("latin-1") or None
        )
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_correlation(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (_HEADER_BYTES, correlation_id.encode()),
                ]
            await send(message)

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(send_with_correlation, correlation_id)
            return

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, capped_receive, send_with_correlation)
        except BodyTooLarge:
            await self._refuse(send_with_correlation, correlation_id)

    async def _refuse(self, send: Send, correlation_id: str) -> None:
        body = json.dumps(body_too_large(self.max_body_bytes).body(correlation_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
