"""Request metrics at the edge of both kinds of API, and their ``GET /metrics``.

One middleware per server interface (ASGI for the FastAPI designs, WSGI for the Flask ones),
outermost, so the time measured is the server's whole handling of a request — from the moment
the application is handed the request to its answer — and a refusal at the edge (413) counts
like any answer. The label is the route template (``/users/{user_id}``), never the raw path,
so that ids do not make a series each; a path no route matches is ``unmatched``.

``GET /metrics`` is answered here, before routing: it is not in any OpenAPI document (the
fuzzer never sees it), not in the latency histogram, and a load test never requests it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from targets.common.edge import ASGIApp, Message, Receive, Scope, Send
from targets.common.metrics import HTTP_DURATION, HTTP_IN_FLIGHT, METRICS_PATH, exposition

UNMATCHED = "unmatched"
_BRACES = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class AsgiMetrics:
    """Latency histogram and in-flight gauge per method and route template (FastAPI)."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:  # PARTIAL: the path matched, not the method (405)
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if scope["path"] == METRICS_PATH and method == "GET":
            body, content_type = exposition()
            headers = [(b"content-type", content_type.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        route = self._template(scope)
        status = [500]  # an exception before any answer: the server answers 500

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        in_flight = HTTP_IN_FLIGHT.labels(method, route)
        in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            HTTP_DURATION.labels(method, route, str(status[0])).observe(time.perf_counter() - start)
            in_flight.dec()


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class StatusRecorder:
    """A ``start_response`` that remembers the status code the application answered with
    (``500`` until it answers: an application that raised answered nothing)."""

    def __init__(self, start_response: StartResponse) -> None:
        self.code = "500"
        self._start_response = start_response

    def __call__(self, code: str, headers: Any, *args: Any) -> Any:
        self.code = code.split(" ", 1)[0]
        return self._start_response(code, headers, *args)


def read_answer(app: WSGIApp, environ: dict[str, Any], start: StatusRecorder) -> list[bytes]:
    """Call ``app`` and read its whole answer, closed as WSGI asks. Flask builds the body
    inside the call, so reading it here is the answer's end: what a middleware times or
    spans around it covers the whole request."""
    answer = app(environ, start)
    try:
        return list(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()


class WsgiMetrics:
    """The same for the Flask designs: wraps ``app.wsgi_app``, reads templates from the
    application's URL map."""

    def __init__(self, app: WSGIApp, url_map: Map) -> None:
        self.app = app
        self.url_map = url_map

    def _template(self, environ: dict[str, Any]) -> str:
        adapter = self.url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except HTTPException as exc:  # 404, or 405: the path matched, not the method
            allowed = getattr(exc, "valid_methods", None)
            if not allowed:
                return UNMATCHED
            try:
                rule, _ = adapter.match(method=allowed[0], return_rule=True)
            except HTTPException:
                return UNMATCHED
        # /users/<user_id> spelled as in the FastAPI designs, /users/{user_id}
        return _BRACES.sub(r"{\1}", str(rule.rule))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO") == METRICS_PATH and method == "GET":
            body, content_type = exposition()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        route = self._template(environ)
        status = StatusRecorder(start_response)
        in_flight = HTTP_IN_FLIGHT.labels(method, route)
        in_flight.inc()
        start = time.perf_counter()
        try:
            return read_answer(self.app, environ, status)
        finally:
            HTTP_DURATION.labels(method, route, status.code).observe(time.perf_counter() - start)
            in_flight.dec()
