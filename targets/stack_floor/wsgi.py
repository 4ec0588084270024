"""The Flask designs' HTTP stack with nothing behind it: what gunicorn and Flask cost alone.

The WSGI counterpart of :mod:`targets.stack_floor.asgi`: ``offload probe stack`` starts the
sync designs' own gunicorn command with :func:`create_app` (Flask with the designs' edge) or
:func:`create_bare_app` (a plain WSGI callable doing the same parsing) in place of theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request

from targets.common.correlation import HEADER, correlation_id_from
from targets.common.ids import is_id, new_id
from targets.common.problems import ApiProblem, not_found
from targets.common.settings import TargetSettings
from targets.common.signup import parse_signup
from targets.stack_floor.answers import DESIGN, bare_user
from targets.sync_api.edge import install_edge

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def create_app() -> Flask:
    """Flask with the sync designs' edge: ``POST /users`` parses the signup and answers 201."""
    settings = TargetSettings()
    app = Flask("offload.stack_floor")
    install_edge(app, settings)

    @app.post("/users")
    def create_user() -> tuple[Response, int]:
        parse_signup(request.content_type, request.get_data(cache=False), settings.max_body_bytes)
        return jsonify({"id": new_id(), "correlation_id": g.correlation_id}), 201

    @app.get("/users/<user_id>")
    def get_user(user_id: str) -> Response:
        if not is_id(user_id):
            raise not_found("user")
        return jsonify(bare_user(user_id))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "design": DESIGN})

    return app


def create_bare_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """No framework: the same correlation id and parsing as a plain WSGI callable."""
    settings = TargetSettings()
    health = json.dumps({"status": "ok", "design": DESIGN}).encode()
    header = "HTTP_" + HEADER.upper().replace("-", "_")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        correlation_id = correlation_id_from(environ.get(header))
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(min(length, settings.max_body_bytes + 1))
            try:
                parse_signup(environ.get("CONTENT_TYPE"), body, settings.max_body_bytes)
            except ApiProblem as problem:
                status = f"{problem.status} Refused"
                answer = json.dumps(problem.body(correlation_id)).encode()
            else:
                status, answer = "201 Created", json.dumps({"id": new_id()}).encode()
        elif environ["PATH_INFO"].startswith("/users/"):
            user_id = environ["PATH_INFO"].removeprefix("/users/")
            if is_id(user_id):
                status, answer = "200 OK", json.dumps(bare_user(user_id)).encode()
            else:
                status, answer = "404 Not Found", b'{"error": "not_found"}'
        else:
            status, answer = "200 OK", health
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(answer))),
                (HEADER, correlation_id),
            ],
        )
        return [answer]

    return app
