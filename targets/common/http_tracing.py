"""A server span per request at the edge of the Flask designs, when tracing is on.

(The FastAPI designs need none of their own: FastAPI's built-in telemetry makes one as soon
as a tracer provider is set, see ``targets.common.asgi.install_edge``.)

The span continues the caller's trace (``traceparent``, from the load generator) and is the
current span while the application works, so what the request does next — publishing the
job, calling the provider — becomes its child. Named ``<METHOD> <route template>`` once the
router has matched (``POST /users``), never the raw path. ``GET /metrics`` is not traced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from targets.common import tracing
from targets.common.http_metrics import StartResponse, StatusRecorder, WSGIApp, read_answer
from targets.common.metrics import METRICS_PATH


class WsgiTracing:
    """Wraps ``app.wsgi_app``."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == METRICS_PATH:
            return self.app(environ, start_response)
        parent = tracing.extract({"traceparent": environ.get("HTTP_TRACEPARENT", "")})
        method = environ.get("REQUEST_METHOD", "GET")
        with tracing.current_span(method, "server", parent) as span:
            status = StatusRecorder(start_response)
            try:
                return read_answer(self.app, environ, status)
            finally:
                rule = environ.get("werkzeug.request")
                route = getattr(getattr(rule, "url_rule", None), "rule", None)
                if span is not None:
                    span.update_name(f"{method} {route or environ.get('PATH_INFO', '')}")
                    span.set_attribute("http.response.status_code", int(status.code))
