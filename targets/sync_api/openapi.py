"""The sync design's OpenAPI document, served at ``GET /openapi.json``.

Flask has no schema generator, so the document is written here — but the request body is not:
it is ``SignupRequest.model_json_schema()``, the same pydantic model that validates every
signup, so the document cannot drift from the validation. Every status the app can answer is
listed with its body, because the fuzz tests (``tests/test_fuzz.py``) treat an undocumented
status or content type as a failure, exactly as a client generated from this document would.
"""

from __future__ import annotations

from typing import Any

from targets.common.correlation import HEADER
from targets.common.ledger import LedgerPage, LedgerQuery
from targets.common.signup import SignupRequest

OPENAPI_VERSION = "3.1.0"

_JSON = "application/json"


def openapi_document(*, max_body_bytes: int) -> dict[str, Any]:
    """The complete document; ``max_body_bytes`` is the limit the running app enforces."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "offload sync signup API",
            "version": "1",
            "description": (
                "Synchronous design: the welcome email is sent inside the request, so a failing "
                "provider fails the signup (502/504) and the signup is undone."
            ),
        },
        "paths": {
            "/users": {"post": _create_user(max_body_bytes)},
            "/users/{user_id}": {"get": _get_user()},
            "/healthz": {"get": _healthz()},
            "/ledger": {"get": _ledger()},
        },
        "components": {
            "schemas": {
                **_ledger_schemas(),
                "SignupRequest": SignupRequest.model_json_schema(),
                "User": _USER,
                "UserCreated": _USER_CREATED,
                "Problem": _PROBLEM,
                "Health": _HEALTH,
            },
            "parameters": {"RequestId": _REQUEST_ID_PARAMETER},
            "headers": {"RequestId": _REQUEST_ID_HEADER},
        },
    }


def _create_user(max_body_bytes: int) -> dict[str, Any]:
    return {
        "operationId": "create_user",
        "summary": "Sign up: store the user and send the welcome email before answering",
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/SignupRequest"}}},
        },
        "responses": {
            "201": _response(
                "User stored and welcome email accepted by the provider", "UserCreated"
            ),
            "400": _problem("Body is not valid JSON (invalid_json)"),
            "409": _problem("Email address already registered (email_taken)"),
            "413": _problem(f"Body larger than {max_body_bytes} bytes (body_too_large)"),
            "415": _problem("Content-Type is not application/json (unsupported_media_type)"),
            "422": _problem(
                "Body does not match the schema (validation_failed, with `fields`), or the "
                "provider refused the address for good (recipient_rejected); nothing is stored"
            ),
            "502": _problem("The provider failed (provider_error); nothing is stored, retry"),
            "504": _problem(
                "The provider did not answer in time (provider_timeout); nothing is stored, retry"
            ),
        },
    }


def _get_user() -> dict[str, Any]:
    return {
        "operationId": "get_user",
        "summary": "Read a user (the bystander endpoint: no provider call)",
        "parameters": [
            {
                "name": "user_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "32 lowercase hex characters; anything else is a 404",
            },
            {"$ref": "#/components/parameters/RequestId"},
        ],
        "responses": {
            "200": _response("The user", "User"),
            "404": _problem("No user with that id (not_found)"),
            "414": _URI_TOO_LONG,
        },
    }


def _ledger() -> dict[str, Any]:
    """Its parameters are ``LedgerQuery``'s fields, as in the FastAPI designs' document."""
    schema = LedgerQuery.model_json_schema()
    required = set(schema.get("required", []))
    return {
        "operationId": "ledger",
        "summary": "The users created since a time, with their jobs (offload's HTTP ledger)",
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": field}
            for name, field in schema["properties"].items()
        ],
        "responses": {
            "200": _response("One page of the ledger", "LedgerPage"),
            "422": _problem("A query parameter is missing, unknown or invalid (validation_failed)"),
            "414": _URI_TOO_LONG,
        },
    }


def _ledger_schemas() -> dict[str, Any]:
    """``LedgerPage`` and the models it nests, from the pydantic models that write it."""
    page = LedgerPage.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    return {**page.pop("$defs"), "LedgerPage": page}


def _healthz() -> dict[str, Any]:
    return {
        "operationId": "healthz",
        "summary": "Liveness (the other bystander endpoint)",
        "responses": {
            "200": _response("The process serves requests", "Health"),
            "414": _URI_TOO_LONG,
        },
    }


#: gunicorn refuses a request line longer than its ``limit_request_line`` (4094 bytes) before
#: the app sees it, with an HTML page; a long query string (``GET /ledger``) or path can hit it
_URI_TOO_LONG: dict[str, Any] = {
    "description": "Request line longer than 4094 bytes: refused by gunicorn before the app",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {HEADER: {"$ref": "#/components/headers/RequestId"}},
        "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _problem(description: str) -> dict[str, Any]:
    return _response(description, "Problem")


_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}

_USER: dict[str, Any] = {
    "type": "object",
    "required": ["id", "email", "display_name", "created_at"],
    "properties": {
        "id": _ID,
        "email": {"type": "string"},
        "display_name": {"type": "string"},
        "created_at": {"type": "number", "description": "Unix time"},
    },
}

_USER_CREATED: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/User"},
        {
            "type": "object",
            "required": ["email_status"],
            "properties": {"email_status": {"const": "sent"}},
        },
    ]
}

_PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "Every error both designs answer has this shape (targets.common.problems)",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code, e.g. email_taken"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
        "fields": {
            "type": "array",
            "description": "422 validation_failed only: one entry per offending field",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "design"],
    "properties": {"status": {"const": "ok"}, "design": {"const": "sync"}},
}

_REQUEST_ID_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Correlation id carried to the provider; kept when it is 1-128 characters of "
        "[A-Za-z0-9._:-], replaced otherwise"
    ),
    "schema": {"type": "string"},
}

_REQUEST_ID_HEADER: dict[str, Any] = {
    "description": "The caller's correlation id, or the one the API made up",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
}
