"""Bad input gets a 4xx with a reason on every design, and leaves nothing behind."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from targets.common.store import make_engine
from tests.factories.processes import design_target

JSON = {"Content-Type": "application/json"}

BAD_REQUESTS = {
    "invalid JSON": (b'{"email": ', JSON, 400, "invalid_json"),
    "not an object": (b"[1, 2]", JSON, 422, "validation_failed"),
    "missing field": (b'{"email": "a@example.com"}', JSON, 422, "validation_failed"),
    "unknown field": (
        b'{"email": "a@example.com", "display_name": "A", "admin": true}',
        JSON,
        422,
        "validation_failed",
    ),
    "wrong type": (b'{"email": 42, "display_name": "A"}', JSON, 422, "validation_failed"),
    "not an email": (b'{"email": "nobody", "display_name": "A"}', JSON, 422, "validation_failed"),
    "empty name": (
        b'{"email": "a@example.com", "display_name": " "}',
        JSON,
        422,
        "validation_failed",
    ),
    "name too long": (
        b'{"email": "a@example.com", "display_name": "' + b"x" * 101 + b'"}',
        JSON,
        422,
        "validation_failed",
    ),
    "control characters": (
        b'{"email": "a@example.com", "display_name": "A\\u0000B"}',
        JSON,
        422,
        "validation_failed",
    ),
    "1 MB body": (b'{"email": "' + b"a" * 1_000_000 + b'"}', JSON, 413, "body_too_large"),
    "wrong content type": (
        b'{"email": "a@example.com", "display_name": "A"}',
        {"Content-Type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    "no content type": (
        b'{"email": "a@example.com", "display_name": "A"}',
        {},
        415,
        "unsupported_media_type",
    ),
}


@pytest.fixture(params=["sync", "async", "sync-threads", "inline-async", "background", "outbox"])
def target(request):
    return design_target(request, request.param)


def stored_rows(target) -> tuple[int, int, int]:
    """Users, jobs and outbox messages (the table exists for every design, empty but for
    the outbox design's)."""
    engine = make_engine(target.values["database_url"], target.values["db_schema"] or None)
    with engine.connect() as conn:
        users = conn.execute(sa.text("select count(*) from users")).scalar_one()
        jobs = conn.execute(sa.text("select count(*) from jobs")).scalar_one()
        outbox = conn.execute(sa.text("select count(*) from outbox")).scalar_one()
    engine.dispose()
    return users, jobs, outbox


def provider_requests(provider) -> int:
    return sum(provider.admin.stats()["outcomes"].values())


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_refused_with_a_reason_and_stores_nothing(target, provider, case):
    body, headers, status, code = BAD_REQUESTS[case]
    before_rows = stored_rows(target)
    before_emails = provider_requests(provider)

    response = httpx.post(f"{target.url}/users", content=body, headers=headers, timeout=10)

    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["error"] == code
    assert problem["detail"]
    assert stored_rows(target) == before_rows
    assert provider_requests(provider) == before_emails


def test_validation_errors_name_every_field(target):
    response = httpx.post(f"{target.url}/users", json={"email": 1, "colour": "red"})

    fields = {f["field"]: f["message"] for f in response.json()["fields"]}
    assert fields == {
        "email": "Input should be a valid string",
        "display_name": "field required",
        "colour": "unknown field (allowed: email, display_name)",
    }


def test_duplicate_email_is_409(target):
    body = {"email": f"{uuid.uuid4().hex}@example.com", "display_name": "Twice"}
    assert httpx.post(f"{target.url}/users", json=body, timeout=10).status_code in (201, 202)

    again = httpx.post(f"{target.url}/users", json=body, timeout=10)

    assert again.status_code == 409
    assert again.json()["error"] == "email_taken"


def test_email_addresses_differing_only_in_domain_case_are_the_same_user(target):
    local = uuid.uuid4().hex
    first = {"email": f"{local}@Example.COM", "display_name": "Case"}
    assert httpx.post(f"{target.url}/users", json=first, timeout=10).status_code in (201, 202)
    second = {"email": f"{local}@example.com", "display_name": "Case"}
    assert httpx.post(f"{target.url}/users", json=second, timeout=10).status_code == 409
