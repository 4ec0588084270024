"""What the Flask designs (sync, sync-threads) and their bare stack share at the edge.

Correlation ids in and out, the body-size limit, and every error as a ``Problem``: the Flask
counterpart of :func:`targets.common.asgi.install_edge`, so that the sync design and the bare
app that measures its stack's own cost (``targets/stack_floor``) do the same work per request
around their handlers.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from targets.common.correlation import HEADER, correlation_id_from
from targets.common.problems import ApiProblem, body_too_large
from targets.common.settings import TargetSettings

log = logging.getLogger("offload.sync_api")


def install_edge(app: Flask, settings: TargetSettings) -> None:
    """Correlation ids, the body limit and the error bodies of a Flask design."""
    # werkzeug refuses a larger declared body (413) before reading it; a chunked body it cuts
    # off at the limit without an error, so allow one byte more and let parse_signup see that
    # the body is too large instead of parsing a truncated prefix
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1

    @app.before_request
    def _correlation() -> None:
        g.correlation_id = correlation_id_from(request.headers.get(HEADER))

    @app.after_request
    def _echo_correlation(response: Response) -> Response:
        response.headers[HEADER] = g.get("correlation_id", "")
        return response

    @app.errorhandler(ApiProblem)
    def _problem(problem: ApiProblem) -> tuple[Response, int, dict[str, str]]:
        return jsonify(problem.body(g.get("correlation_id"))), problem.status, problem.headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        if exc.code == 413:
            return _problem(body_too_large(settings.max_body_bytes))[:2]
        code = (exc.name or "error").lower().replace(" ", "_")
        problem = ApiProblem(exc.code or 500, code, exc.description or exc.name)
        return jsonify(problem.body(g.get("correlation_id"))), problem.status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        problem = ApiProblem(500, "internal_error", f"unexpected {type(exc).__name__}")
        return jsonify(problem.body(g.get("correlation_id"))), 500
