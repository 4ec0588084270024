"""The background design, against the real provider: 201 at once, the email sent afterwards
by the same process, once. These tests pin what it loses as much as what it does: an email
whose only attempt fails is gone, though the client was told 201 and the user is stored."""

from __future__ import annotations

import time
import uuid

import httpx

from offload.run.stack import RunningTarget
from tests.factories.processes import provider_records, wait_until


def signup(url: str, email: str | None = None, **headers: str) -> httpx.Response:
    email = email or f"{uuid.uuid4().hex}@example.com"
    return httpx.post(
        f"{url}/users",
        json={"email": email, "display_name": "Barbara"},
        headers=headers,
        timeout=10,
    )


def attempts(provider, user_id: str) -> list[dict]:
    return provider_records(provider, user_id=user_id)


def given_up(target: RunningTarget, user_id: str) -> None:
    """Wait until the server logs that it gave up on the user's email (its only attempt)."""
    server = target.processes["api"][0]

    def logged() -> bool:
        """the server's log says the user's welcome email was lost"""
        return f"welcome email for user {user_id} lost" in server.tail(400)

    wait_until(logged, 10)


def settled(target: RunningTarget, provider) -> None:
    """Wait until a signup made now has had its email delivered: the provider answers in
    order of arrival here, so every earlier send has had its one attempt by then."""
    probe = signup(target.url).json()["id"]

    def probe_delivered() -> bool:
        """the probe signup's email was delivered"""
        return bool(provider_records(provider, user_id=probe, outcome="delivered"))

    wait_until(probe_delivered, 10)


def test_signup_answers_before_the_provider_does_and_the_email_arrives_once(
    background_target, provider
):
    provider.admin.set_profile(latency_ms=1000)
    started = time.monotonic()

    response = signup(background_target.url, **{"X-Request-ID": "req-background-1"})

    assert response.status_code == 201
    assert time.monotonic() - started < 0.5  # well under the provider's 1 s
    user = response.json()
    assert user["email_status"] == "scheduled"
    assert response.headers["X-Request-ID"] == "req-background-1"

    def delivered() -> list[dict]:
        """the user's email was delivered"""
        return provider_records(provider, user_id=user["id"], outcome="delivered")

    wait_until(delivered, 5)
    settled(background_target, provider)
    assert len(delivered()) == 1
    assert delivered()[0]["correlation_id"] == "req-background-1"
    assert delivered()[0]["key"] == f"welcome-{user['id']}"


def test_a_provider_error_loses_the_email_of_an_accepted_signup(background_target, provider):
    provider.admin.set_profile(error_rate=1.0, error_status=503)

    response = signup(background_target.url)

    assert response.status_code == 201  # the client is told all is well
    user_id = response.json()["id"]

    def failed_once() -> bool:
        """the provider refused the one attempt"""
        return bool(provider_records(provider, user_id=user_id, outcome="error"))

    wait_until(failed_once, 5)
    given_up(background_target, user_id)
    provider.admin.healthy()
    settled(background_target, provider)
    # a transient error the async design would retry: here one attempt, no email, ever
    assert [r["outcome"] for r in attempts(provider, user_id)] == ["error"]
    assert httpx.get(f"{background_target.url}/users/{user_id}").status_code == 200


def test_a_provider_that_never_answers_loses_the_email_after_the_timeout(
    background_target, provider
):
    provider.admin.set_profile(timeout_rate=1.0)  # accepted by the provider, never answered

    response = signup(background_target.url)

    assert response.status_code == 201
    user_id = response.json()["id"]

    def hung() -> bool:
        """the provider holds the one attempt"""
        return bool(provider_records(provider, user_id=user_id, outcome="timeout"))

    wait_until(hung, 5)
    given_up(background_target, user_id)  # after its provider timeout (2 s in the tests)
    provider.admin.healthy()
    settled(background_target, provider)
    assert [r["outcome"] for r in attempts(provider, user_id)] == ["timeout"]


def test_an_address_the_provider_refuses_for_good_is_stored_and_answered_201(
    background_target, provider
):
    """The sync designs refuse this signup (422, nothing stored); this design has answered
    before it could know, so the user exists without a welcome email."""
    response = signup(background_target.url, f"{uuid.uuid4().hex}@bounce.invalid")

    assert response.status_code == 201
    user_id = response.json()["id"]
    given_up(background_target, user_id)
    assert [r["outcome"] for r in attempts(provider, user_id)] == ["rejected"]
    assert httpx.get(f"{background_target.url}/users/{user_id}").status_code == 200
