"""The synchronous design: Flask on gunicorn, the welcome email sent inside the request.

``POST /users``: validate → insert the user → call the email provider (bounded by the
provider timeout) → 201. When the provider fails the signup is undone and the request fails
(502 for an error, 504 for a timeout, 422 when the provider refuses the address for good), so a
failed signup leaves nothing behind and the client may simply retry. Each gunicorn sync worker
serves one request at a time: while it waits for a slow provider it serves nothing else —
which is exactly the coupling the benchmark measures on the bystander endpoints.

Run: ``gunicorn -w 4 -b 127.0.0.1:8001 'targets.sync_api.app:create_app()'``
"""

from __future__ import annotations

import httpx
from flask import Flask, Response, g, jsonify, request

from targets.common import tracing
from targets.common.email import Outcome, WelcomeEmail, send_welcome_email
from targets.common.http_metrics import WsgiMetrics
from targets.common.http_tracing import WsgiTracing
from targets.common.ids import is_id
from targets.common.ledger import parse_ledger_query, read_ledger_page
from targets.common.metrics import ENABLED as METRICS_ENABLED
from targets.common.problems import ApiProblem, not_found
from targets.common.settings import TargetSettings
from targets.common.signup import parse_signup
from targets.common.store import UserStore, make_engine
from targets.sync_api.edge import install_edge
from targets.sync_api.openapi import openapi_document


def create_app(settings: TargetSettings | None = None) -> Flask:
    """Application factory; gunicorn calls it once in every worker process."""
    settings = settings or TargetSettings()
    app = Flask("offload.sync_api")
    install_edge(app, settings)
    store = UserStore(make_engine(settings.database_url, settings.db_schema))
    provider = httpx.Client(base_url=settings.provider_url, timeout=settings.provider_timeout_s)

    @app.post("/users")
    def create_user() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        signup = parse_signup(request.content_type, body, settings.max_body_bytes)
        user = store.create_user(signup, g.correlation_id)
        result = send_welcome_email(
            provider,
            WelcomeEmail(
                user_id=user.id,
                email=user.email,
                correlation_id=g.correlation_id,
                idempotency_key=f"welcome-{user.id}",
            ),
        )
        if result.outcome.accepted:
            return jsonify({**user.public(), "email_status": "sent"}), 201
        store.discard_signup(user.id)
        if result.timed_out:
            raise ApiProblem(504, "provider_timeout", result.detail)
        if result.outcome is Outcome.PERMANENT:
            raise ApiProblem(422, "recipient_rejected", result.detail)
        raise ApiProblem(502, "provider_error", result.detail)

    @app.get("/users/<user_id>")
    def get_user(user_id: str) -> Response:
        user = store.get_user(user_id) if is_id(user_id) else None
        if user is None:
            raise not_found("user")
        return jsonify(user.public())

    @app.get("/ledger")
    def ledger() -> Response:
        """The run's users and jobs for offload's HTTP ledger (targets/common/ledger.py)."""
        query = parse_ledger_query(request.args.to_dict(flat=False))
        return jsonify(read_ledger_page(store.engine, query).model_dump(mode="json"))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "design": "sync"})

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(max_body_bytes=settings.max_body_bytes))

    if METRICS_ENABLED:
        app.wsgi_app = WsgiMetrics(app.wsgi_app, app.url_map)  # type: ignore[method-assign]
    if tracing.ENABLED:  # outermost: the server span covers everything the server does
        tracing.setup("api")
        app.wsgi_app = WsgiTracing(app.wsgi_app)  # type: ignore[method-assign]
    return app
