"""The synchronous design, against the real provider: the email is part of the request."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.factories.processes import provider_records


def signup(url: str, email: str | None = None, **headers: str) -> httpx.Response:
    email = email or f"{uuid.uuid4().hex}@example.com"
    return httpx.post(
        f"{url}/users", json={"email": email, "display_name": "Ada"}, headers=headers, timeout=10
    )


def test_signup_is_created_and_exactly_one_email_is_delivered(sync_target, provider):
    response = signup(sync_target.url, **{"X-Request-ID": "req-sync-1"})

    assert response.status_code == 201
    user = response.json()
    assert user["email_status"] == "sent"
    assert response.headers["X-Request-ID"] == "req-sync-1"
    delivered = provider_records(provider, user_id=user["id"], outcome="delivered")
    assert len(delivered) == 1
    assert delivered[0]["correlation_id"] == "req-sync-1"
    assert httpx.get(f"{sync_target.url}/users/{user['id']}").json()["email"] == user["email"]


def test_provider_error_fails_the_signup_with_502_and_leaves_nothing_behind(sync_target, provider):
    provider.admin.set_profile(error_rate=1.0, error_status=500)
    email = f"{uuid.uuid4().hex}@example.com"

    response = signup(sync_target.url, email)

    assert response.status_code == 502
    assert response.json()["error"] == "provider_error"
    provider.admin.healthy()
    # the failed signup was undone, so the client's retry succeeds instead of hitting 409
    assert signup(sync_target.url, email).status_code == 201


def test_provider_slower_than_the_timeout_gives_504(sync_target, provider):
    provider.admin.set_profile(latency_ms=3000)  # the design's provider timeout is 2 s
    started = time.monotonic()

    response = signup(sync_target.url)

    assert response.status_code == 504
    assert response.json()["error"] == "provider_timeout"
    assert time.monotonic() - started < 2.9


def test_provider_refusing_the_address_for_good_gives_422(sync_target, provider):
    response = signup(sync_target.url, f"{uuid.uuid4().hex}@bounce.invalid")

    assert response.status_code == 422
    assert response.json()["error"] == "recipient_rejected"


@pytest.mark.parametrize("path", ["/users/nope", f"/users/{uuid.uuid4().hex}"])
def test_unknown_user_is_404(sync_target, path):
    response = httpx.get(sync_target.url + path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
