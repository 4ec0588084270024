"""Synchronous client for the provider's admin API, as the harness's fault timeline uses it.

The provider (``targets/downstream``) knows nothing of the harness; this client is the
harness's side of its admin API.

Errors are translated where they enter: a provider that does not answer is
``TargetNotReady``; a profile it refuses is ``ScenarioError`` carrying the provider's reason
(the profile came from a scenario's fault timeline).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from offload.errors import ScenarioError, TargetNotReady


class ProviderAdmin:
    """Talks to ``http://host:admin_port``; every call is one short HTTP request."""

    def __init__(self, admin_url: str, timeout: float = 5.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout
        # trust_env off: a proxy from the environment must never sit between us and loopback
        self._client = httpx.Client(base_url=self.admin_url, timeout=timeout, trust_env=False)

    def profile(self) -> dict[str, Any]:
        """The current fault profile, with its ``version``."""
        return self._call("GET", "/admin/profile")

    def set_profile(self, **fields: Any) -> dict[str, Any]:
        """Replace the whole profile (fields not given take their healthy default)."""
        return self._call("PUT", "/admin/profile", json=fields)

    def healthy(self) -> dict[str, Any]:
        """Back to the all-defaults profile."""
        return self._call("POST", "/admin/healthy")

    def stats(self) -> dict[str, Any]:
        """Outcome counts, requests in flight, delivered keys, uptime, profile version."""
        return self._call("GET", "/admin/stats")

    def log_text(self, since: float | None = None) -> str:
        """The delivery log as JSON Lines (records with ts >= ``since`` when given)."""
        params = {"since": repr(since)} if since is not None else None
        response = self._request("GET", "/admin/log", params=params)
        return response.text

    def wait_ready(self, timeout: float) -> None:
        """Poll the admin API until it answers; it only listens once the public API does."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self._client.get("/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last_error = exc
            time.sleep(0.05)
        raise TargetNotReady(
            f"email provider admin API {self.admin_url} not ready after {timeout:.1f} s"
            + (f" (last error: {last_error})" if last_error else "")
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ProviderAdmin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(method, path, **kwargs).json()
        return answer

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TargetNotReady(f"email provider admin API {self.admin_url}: {exc}") from exc
        if response.status_code == 400:
            raise ScenarioError(f"email provider refused the profile: {_reason(response)}")
        if response.status_code >= 400:
            status, reason = response.status_code, _reason(response)
            raise TargetNotReady(f"email provider admin API {method} {path}: {status} {reason}")
        return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or body)
    return str(body)
