"""The designs that send the email inside the request, against the real provider: ``sync``
(gunicorn sync workers), ``sync-threads`` (the same app on gthread workers) and
``inline-async`` (FastAPI awaiting the provider). Each promises the same: 201 once the
provider took the email, and a failed provider call fails the signup and leaves nothing."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import httpx
import pytest

from offload.run.stack import RunningTarget
from tests.factories.processes import (
    TEST_CONFIG,
    design_target,
    launch,
    provider_records,
    wait_until,
)

#: the designs whose 201 means the provider already took the email
INLINE_DESIGNS = ["sync", "sync-threads", "inline-async"]


@pytest.fixture(params=INLINE_DESIGNS)
def target(request: pytest.FixtureRequest) -> RunningTarget:
    return design_target(request, request.param)


def signup(url: str, email: str | None = None, **headers: str) -> httpx.Response:
    email = email or f"{uuid.uuid4().hex}@example.com"
    return httpx.post(
        f"{url}/users", json={"email": email, "display_name": "Ada"}, headers=headers, timeout=10
    )


def test_signup_is_created_and_exactly_one_email_is_delivered(target, provider):
    response = signup(target.url, **{"X-Request-ID": "req-inline-1"})

    assert response.status_code == 201
    user = response.json()
    assert user["email_status"] == "sent"
    assert response.headers["X-Request-ID"] == "req-inline-1"
    delivered = provider_records(provider, user_id=user["id"], outcome="delivered")
    assert len(delivered) == 1
    assert delivered[0]["correlation_id"] == "req-inline-1"
    assert httpx.get(f"{target.url}/users/{user['id']}").json()["email"] == user["email"]


def test_provider_error_fails_the_signup_with_502_and_leaves_nothing_behind(target, provider):
    provider.admin.set_profile(error_rate=1.0, error_status=500)
    email = f"{uuid.uuid4().hex}@example.com"

    response = signup(target.url, email)

    assert response.status_code == 502
    assert response.json()["error"] == "provider_error"
    provider.admin.healthy()
    # the failed signup was undone, so the client's retry succeeds instead of hitting 409
    assert signup(target.url, email).status_code == 201


def test_provider_slower_than_the_timeout_gives_504(target, provider):
    provider.admin.set_profile(latency_ms=3000)  # the design's provider timeout is 2 s
    started = time.monotonic()

    response = signup(target.url)

    assert response.status_code == 504
    assert response.json()["error"] == "provider_timeout"
    assert time.monotonic() - started < 2.9


def test_provider_refusing_the_address_for_good_gives_422(target, provider):
    response = signup(target.url, f"{uuid.uuid4().hex}@bounce.invalid")

    assert response.status_code == 422
    assert response.json()["error"] == "recipient_rejected"


@pytest.mark.parametrize("path", ["/users/nope", f"/users/{uuid.uuid4().hex}"])
def test_unknown_user_is_404(target, path):
    response = httpx.get(target.url + path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("design", ["sync-threads", "inline-async"])
def test_one_server_process_holds_several_slow_provider_calls_at_once(
    design, stack, provider, request
):
    """What the controls are for: one process of ``sync`` waits on one provider call at a
    time; one process of these waits on many (threads, or coroutines on an event loop)."""
    target = launch(
        stack,
        design,
        config=TEST_CONFIG.model_copy(update={"server_processes": 1, "server_threads": 4}),
    )
    provider.admin.set_profile(latency_ms=1500)
    try:
        with httpx.Client(timeout=10) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = [
                pool.submit(
                    client.post,
                    f"{target.url}/users",
                    json={"email": f"{uuid.uuid4().hex}@example.com", "display_name": "Ada"},
                )
                for _ in range(4)
            ]

            def four_in_flight() -> bool:
                """the provider holds four calls of the one server process at once"""
                return provider.admin.stats()["in_flight"] >= 4

            wait_until(four_in_flight, 5, interval=0.02)
            assert [a.result().status_code for a in answers] == [201] * 4
    finally:
        stack.remove(target)
