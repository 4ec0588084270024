"""How both designs talk to the email provider, and how they read its answers.

The request (path, body, headers) and the classification of the answer are shared, so the
designs send identical emails and agree on what is worth retrying: a timeout, a dropped
connection, 408, 429 and 5xx are transient; any other 4xx is permanent (retrying cannot help).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import httpx

from targets.common import tracing
from targets.common.correlation import HEADER as CORRELATION_HEADER

EMAILS_PATH = "/emails"
_TRANSIENT_4XX = {408, 425, 429}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    #: the provider had this idempotency key already: the email went out before
    DUPLICATE = "duplicate"
    TRANSIENT = "transient"
    PERMANENT = "permanent"

    @property
    def accepted(self) -> bool:
        return self in (Outcome.DELIVERED, Outcome.DUPLICATE)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status: int | None
    detail: str
    #: seconds the provider asked us to wait (429 Retry-After), if any
    retry_after_s: float | None = None
    timed_out: bool = False


@dataclass(frozen=True, kw_only=True)
class WelcomeEmail:
    user_id: str
    email: str
    correlation_id: str
    idempotency_key: str
    job_id: str | None = None
    attempt: int = 1

    def json(self) -> dict[str, Any]:
        return {
            "to": self.email,
            "user_id": self.user_id,
            "job_id": self.job_id,
            "correlation_id": self.correlation_id,
            "template": "welcome",
        }

    def headers(self) -> dict[str, str]:
        """The request's headers; with tracing on, the ``traceparent`` of the current span
        (the provider call's own client span, made by the send functions below)."""
        headers = {
            "Idempotency-Key": self.idempotency_key,
            CORRELATION_HEADER: self.correlation_id,
            "X-Attempt": str(self.attempt),
        }
        tracing.inject(headers)
        return headers


def classify_response(response: httpx.Response) -> SendResult:
    return classify_answer(
        response.status_code, response.content, response.headers.get("Retry-After")
    )


def classify_answer(status: int, body: bytes, retry_after: str | None) -> SendResult:
    """What an HTTP answer of the provider means, whichever client received it."""
    if 200 <= status < 300:
        duplicate = False
        with contextlib.suppress(ValueError, AttributeError):
            duplicate = bool(json.loads(body).get("duplicate"))
        outcome = Outcome.DUPLICATE if duplicate else Outcome.DELIVERED
        return SendResult(outcome, status, "accepted")
    detail = f"provider answered {status}: {body[:200].decode(errors='replace')}"
    if status >= 500 or status in _TRANSIENT_4XX:
        return SendResult(Outcome.TRANSIENT, status, detail, _retry_after(retry_after))
    return SendResult(Outcome.PERMANENT, status, detail)


def classify_error(exc: httpx.HTTPError) -> SendResult:
    """A request that got no HTTP answer: always transient; timeouts are flagged apart."""
    timed_out = isinstance(exc, httpx.TimeoutException)
    kind = "timed out" if timed_out else "connection failed"
    return SendResult(
        Outcome.TRANSIENT, None, f"provider {kind}: {type(exc).__name__}", timed_out=timed_out
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def send_welcome_email(client: httpx.Client, email: WelcomeEmail) -> SendResult:
    """Blocking send (the sync design)."""
    with tracing.current_span(f"POST {EMAILS_PATH}", "client", attempt=email.attempt) as span:
        try:
            response = client.post(EMAILS_PATH, json=email.json(), headers=email.headers())
        except httpx.HTTPError as exc:
            result = classify_error(exc)
        else:
            result = classify_response(response)
        tracing.set_attribute(span, "offload.outcome", result.outcome.value)
        return result


async def send_welcome_email_async(
    session: aiohttp.ClientSession, email: WelcomeEmail
) -> SendResult:
    """Non-blocking send (the async design's worker).

    aiohttp rather than ``httpx.AsyncClient`` here: its C HTTP parser and leaner connection
    pool cost a fraction of the CPU per request, which is what a worker spends per job (see
    docs/performance.md). The request and the classification are the same as the sync send.
    """
    with tracing.current_span(f"POST {EMAILS_PATH}", "client", attempt=email.attempt) as span:
        result = await _send_async(session, email)
        tracing.set_attribute(span, "offload.outcome", result.outcome.value)
        return result


async def _send_async(session: aiohttp.ClientSession, email: WelcomeEmail) -> SendResult:
    try:
        async with session.post(
            EMAILS_PATH,
            data=json.dumps(email.json()).encode(),
            headers={**email.headers(), "Content-Type": "application/json"},
        ) as response:
            body = await response.read()
            return classify_answer(response.status, body, response.headers.get("Retry-After"))
    except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
        return SendResult(
            Outcome.TRANSIENT, None, f"provider timed out: {type(exc).__name__}", timed_out=True
        )
    except aiohttp.ClientError as exc:
        return SendResult(
            Outcome.TRANSIENT, None, f"provider connection failed: {type(exc).__name__}"
        )


def provider_session(base_url: str, *, timeout_s: float, connections: int) -> aiohttp.ClientSession:
    """One pooled session for every provider call of a process (keep-alive connections)."""
    return aiohttp.ClientSession(
        base_url=base_url,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        # the provider's answers carry no cookies worth keeping
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


#: provider connections per process of an event-loop design: httpx's default pool, which the
#: sync designs use, so every design can hold as many provider calls at once per process
PROVIDER_CONNECTIONS = 100


class LifespanProviderSession:
    """The one provider session of an ASGI process, opened and closed by the app's lifespan.

    An aiohttp session belongs to the event loop that made it, and uvicorn's loop exists only
    once the app starts, so the session cannot be made in the factory.
    """

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        self._session = provider_session(
            self._base_url, timeout_s=self._timeout_s, connections=PROVIDER_CONNECTIONS
        )
        try:
            yield
        finally:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the provider session exists only while the app runs")
        return self._session
