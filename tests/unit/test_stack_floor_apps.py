"""The bare apps of ``offload probe stack`` (``targets/stack_floor``) and how the probe puts
them in a design's own server command.

The floor is only a floor if the bare app does the same work per request as the design's edge:
parse and validate the signup, refuse bad input with the same 4xx, echo the correlation id.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from werkzeug.test import Client

from offload.errors import OffloadError
from offload.run.stack_floor import stack_command
from offload.target.manifest import load_manifest, resolve_target
from targets.stack_floor import asgi, wsgi

pytestmark = pytest.mark.unit

SIGNUP = {"email": "ada@example.com", "display_name": "Ada"}
HEADERS = {"X-Request-ID": "c-42"}


@pytest.mark.parametrize("factory", [asgi.create_app, asgi.create_bare_app])
def test_the_asgi_floor_answers_a_signup_and_refuses_a_bad_one(factory):
    async def ask() -> tuple[httpx.Response, ...]:
        transport = httpx.ASGITransport(app=factory())
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            return (
                await client.post("/users", json=SIGNUP, headers=HEADERS),
                await client.post("/users", json={"email": "nope"}, headers=HEADERS),
                await client.get("/healthz"),
                await client.get(f"/users/{'a' * 32}"),
                await client.get("/users/nobody"),
            )

    ok, bad, health, read, unknown = asyncio.run(ask())
    assert ok.status_code == 202
    assert set(ok.json()) >= {"job_id", "user_id"}
    assert ok.headers["X-Request-ID"] == "c-42"
    assert bad.status_code == 422
    assert "display_name" in bad.text
    assert health.json()["status"] == "ok"
    # a bystander's read answers a user's shape without a lookup; a malformed id is a 404
    assert (read.status_code, read.json()["id"]) == (200, "a" * 32)
    assert unknown.status_code == 404


@pytest.mark.parametrize("factory", [wsgi.create_app, wsgi.create_bare_app])
def test_the_wsgi_floor_answers_a_signup_and_refuses_a_bad_one(factory):
    client = Client(factory())
    ok = client.post("/users", json=SIGNUP, headers=HEADERS)
    bad = client.post("/users", data="{", headers={**HEADERS, "Content-Type": "application/json"})
    health = client.get("/healthz")
    read = client.get(f"/users/{'b' * 32}")
    unknown = client.get("/users/nobody")
    assert (read.status_code, read.json["id"]) == (200, "b" * 32)
    assert unknown.status_code == 404
    assert ok.status_code == 201
    assert ok.headers["X-Request-ID"] == "c-42"
    assert bad.status_code == 400
    assert "not valid JSON" in bad.get_data(as_text=True)
    assert health.json["status"] == "ok"


@pytest.mark.parametrize(
    ("design", "server", "bare"),
    [
        ("async", "uvicorn", "targets.stack_floor.asgi:create_app"),
        ("sync", "gunicorn", "targets.stack_floor.wsgi:create_app()"),
        ("sync-threads", "gunicorn", "targets.stack_floor.wsgi:create_app()"),
    ],
)
def test_only_the_app_of_the_designs_command_is_replaced(design, server, bare):
    manifest = resolve_target(design)
    found, argv = stack_command(manifest, "framework")
    original = manifest.server.command
    assert found == server
    changed = [(a, b) for a, b in zip(original, argv, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1] == bare


def test_the_app_without_a_framework_is_the_bare_factory():
    _, argv = stack_command(resolve_target("sync"), "none")
    assert "targets.stack_floor.wsgi:create_bare_app()" in argv


def test_a_server_the_probe_does_not_know_is_refused(tmp_path):
    (tmp_path / "target.toml").write_text(
        'name = "plain"\nkind = "sync"\nhealth_path = "/healthz"\n'
        '[[process]]\nname = "api"\nrole = "server"\n'
        'command = ["{python}", "-m", "http.server", "{port}"]\n'
    )
    with pytest.raises(OffloadError, match=r"plain: the stack probe runs uvicorn and gunicorn"):
        stack_command(load_manifest(tmp_path), "framework")
