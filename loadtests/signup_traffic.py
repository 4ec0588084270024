"""What signup and bystander requests look like, for the open and the closed loop alike.

Signups use addresses unique across processes and runs (a 409 would mean a bug), a
``poison_fraction`` of them at ``@bounce.invalid``, which the provider rejects for good.
Bystanders read users this generator created, and the health check: the cheap traffic
whose latency shows whether a slow provider cascades into unrelated endpoints.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Protocol

from loadtests.prepared import PreparedRequest

__all__ = ["BYSTANDER", "KNOWN_USERS_CAP", "SIGNUP", "SignupTraffic"]

SIGNUP = "signup"
BYSTANDER = "bystander"
#: known user ids kept for bystander reads; beyond this, new ids replace random old ones
KNOWN_USERS_CAP = 50_000


class _JsonResponse(Protocol):
    def json(self) -> Any: ...


class SignupTraffic:
    """What signup and bystander requests look like; shared by the open and closed loops."""

    def __init__(
        self,
        poison_fraction: float = 0.0,
        rng: random.Random | None = None,
        health_path: str = "/healthz",
    ) -> None:
        self.poison_fraction = poison_fraction
        self.health_path = health_path
        self.known_user_ids: list[str] = []
        self._rng = rng or random.Random()
        self._bystander_reads_user = False

    def signup(self) -> PreparedRequest:
        token = uuid.uuid4().hex  # unique across processes and runs: a 409 means a bug
        poisoned = self.poison_fraction > 0 and self._rng.random() < self.poison_fraction
        domain = "bounce.invalid" if poisoned else "example.com"
        return PreparedRequest(
            method="POST",
            path="/users",
            name="POST /users",
            json={"email": f"load-{token}@{domain}", "display_name": f"Load {token[:8]}"},
            traced=True,
        )

    def bystander(self) -> PreparedRequest:
        """Alternately read a known user and the health check (health only until a user exists)."""
        self._bystander_reads_user = not self._bystander_reads_user
        if self._bystander_reads_user and self.known_user_ids:
            user_id = self._rng.choice(self.known_user_ids)
            return PreparedRequest(method="GET", path=f"/users/{user_id}", name="GET /users/{id}")
        return PreparedRequest(method="GET", path=self.health_path, name=f"GET {self.health_path}")

    def ids_from_signup(self, response: _JsonResponse) -> dict[str, str]:
        """``user_id`` and ``job_id`` of a 201 (sync: ``id``) or 202 (async: ``user_id``)."""
        try:
            body = response.json()
        except ValueError:
            return {}
        if not isinstance(body, dict):
            return {}
        ids = {
            "user_id": str(body.get("id") or body.get("user_id") or ""),
            "job_id": str(body.get("job_id") or ""),
        }
        if ids["user_id"]:
            self.remember(ids["user_id"])
        return ids

    def remember(self, user_id: str) -> None:
        if len(self.known_user_ids) < KNOWN_USERS_CAP:
            self.known_user_ids.append(user_id)
        else:
            self.known_user_ids[self._rng.randrange(KNOWN_USERS_CAP)] = user_id
