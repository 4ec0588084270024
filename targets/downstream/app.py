"""The provider's two aiohttp applications: the public email API and the admin API.

The public API is what the designs call (``POST /emails``); the admin API, on its own port,
is how the harness switches faults and reads the delivery log, and it keeps answering while
the public listener is closed for an outage.

Everything slow is ``asyncio.sleep`` or an event wait, never a thread, so thousands of
requests can hang at once. aiohttp's ``handler_cancellation`` stays off (its default since
3.9): a client that gives up during the latency sleep does not stop the provider from
accepting the email, just as a real provider would not know the client left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from targets.common import tracing
from targets.common.metrics import PROVIDER_REQUESTS, count
from targets.downstream.faults import ActiveProfile, Fate
from targets.downstream.log import DeliveryLog, Outcome, read_log
from targets.downstream.message import new_record, parse_email
from targets.downstream.profile import FaultProfile, ProfileError, parse_profile

#: how often a hanging ("timeout") request checks whether its client is still there
_HANG_POLL_S = 0.5


class Provider:
    """The simulated email provider's state: profile, delivery log, in-flight requests."""

    def __init__(
        self,
        log: DeliveryLog,
        profile: FaultProfile,
        switch_listener: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.log = log
        self.active = ActiveProfile(profile, version=1)
        self.in_flight = 0
        #: the most email requests ever held at once: shows latency costs no threads
        self.peak_in_flight = 0
        #: connections (aiohttp protocols) with an email request in progress, so that an
        #: outage can close idle kept-alive connections now and busy ones after their answer
        self.busy_connections: Counter[object] = Counter()
        self.started_at = time.time()
        #: set at shutdown: wakes every latency sleep and every hanging request
        self.stopping = asyncio.Event()
        #: opens (True) or closes (False) the public listener; set by the server
        self._switch_listener = switch_listener
        self._install_lock = asyncio.Lock()

    async def install(self, profile: FaultProfile) -> dict[str, object]:
        """Make ``profile`` the current one (new version, fresh dice and bucket)."""
        async with self._install_lock:
            if self._switch_listener is not None:
                await self._switch_listener(not profile.outage)
            self.active = ActiveProfile(profile, version=self.active.version + 1)
            return self.active.as_dict()

    # -- public API -------------------------------------------------------------------------

    async def send_email(self, request: web.Request) -> web.StreamResponse:
        """``POST /emails``: roll the dice on arrival, then walk the fault checklist."""
        received = time.time()
        active = self.active
        fate = active.roll()
        connection = request.protocol
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.busy_connections[connection] += 1
        parent = tracing.extract(request.headers)
        try:
            with tracing.current_span("POST /emails", "server", parent):
                return await self._serve(request, received, active, fate)
        finally:
            self.in_flight -= 1
            self.busy_connections[connection] -= 1
            if not self.busy_connections[connection]:
                del self.busy_connections[connection]

    async def _serve(
        self, request: web.Request, received: float, active: ActiveProfile, fate: Fate
    ) -> web.StreamResponse:
        """reset → timeout → latency → (bad input) → reject → error → rate limit → accept."""
        try:
            raw = await request.read()
        except ConnectionError:  # the client left before its body arrived
            raw = None
        body, problem = parse_email(raw)
        record = new_record(request.headers, received, body, raw, active.version)
        profile = active.profile

        if raw is None:
            self._finish(record, Outcome.BAD_REQUEST, None)
            return _unsent()
        if fate.reset:
            self._finish(record, Outcome.RESET, None)
            _reset_connection(request)
            return _unsent()
        if fate.timeout:
            self._finish(record, Outcome.TIMEOUT, None, done_ts=received)
            await self._hang(request)
            _reset_connection(request)
            return _unsent()
        if not await self._pause(fate.delay_s):
            return self._answer(record, Outcome.ERROR, 503, {"error": "provider shutting down"})
        if body is None:
            return self._answer(
                record, Outcome.BAD_REQUEST, 400, {"error": "bad request", "reason": problem}
            )
        if body.domain in profile.reject_domains:
            return self._answer(record, Outcome.REJECTED, 422, {"error": "recipient rejected"})
        if fate.error:
            return self._answer(
                record, Outcome.ERROR, profile.error_status, {"error": "injected failure"}
            )
        if not active.within_rate_limit():
            return self._answer(
                record,
                Outcome.RATE_LIMITED,
                429,
                {"error": "rate limited", "retry_after_s": profile.retry_after_s},
                {"Retry-After": str(profile.retry_after_s)},
            )
        return self._accept(record)

    def _accept(self, record: dict[str, Any]) -> web.Response:
        """Check-and-set the idempotency key with no await in between: one email per key."""
        key = record["key"]
        if key is not None and key in self.log.delivered:
            record["message_id"] = self.log.delivered[key]
            return self._answer(
                record,
                Outcome.DUPLICATE,
                200,
                {"message_id": record["message_id"], "duplicate": True},
            )
        record["message_id"] = f"msg-{uuid.uuid4().hex}"
        return self._answer(
            record,
            Outcome.DELIVERED,
            202,
            {"message_id": record["message_id"], "duplicate": False},
        )

    def _answer(
        self,
        record: dict[str, Any],
        outcome: Outcome,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """Log the outcome, then answer: the line exists before the client can see a reply."""
        self._finish(record, outcome, status)
        headers = dict(headers or {})
        if record["correlation_id"]:
            headers["X-Request-ID"] = record["correlation_id"]
        return web.json_response(payload, status=status, headers=headers)

    def _finish(
        self,
        record: dict[str, Any],
        outcome: Outcome,
        status: int | None,
        done_ts: float | None = None,
    ) -> None:
        record.update(outcome=outcome.value, status=status, done_ts=done_ts or time.time())
        self.log.append(record)
        count(PROVIDER_REQUESTS, outcome.value)
        tracing.set_current_attribute("offload.outcome", outcome.value)

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the provider is stopping; False when cut short."""
        if self.stopping.is_set():
            return False
        if seconds <= 0:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        except TimeoutError:
            return True
        return False

    async def _hang(self, request: web.Request) -> None:
        """Never answer: wait until the client disconnects or the provider stops."""
        while not self.stopping.is_set() and _connected(request):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_HANG_POLL_S):
                    await self.stopping.wait()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    # -- admin API --------------------------------------------------------------------------

    async def get_profile(self, request: web.Request) -> web.Response:
        return web.json_response(self.active.as_dict())

    async def put_profile(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _bad_profile({"(body)": f"not JSON: {exc}"})
        try:
            profile = parse_profile(data)
        except ProfileError as exc:
            return _bad_profile(exc.problems)
        return await self._install_answer(profile)

    async def reset_healthy(self, request: web.Request) -> web.Response:
        return await self._install_answer(FaultProfile())

    async def _install_answer(self, profile: FaultProfile) -> web.Response:
        try:
            return web.json_response(await self.install(profile))
        except OSError as exc:
            return web.json_response(
                {"error": f"cannot reopen the public listener: {exc}"}, status=500
            )

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "outcomes": dict(self.log.counts),
                "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight,
                "delivered_keys": len(self.log.delivered),
                "uptime_s": round(time.time() - self.started_at, 3),
                "profile_version": self.active.version,
                "outage": self.active.profile.outage,
                "log_path": str(self.log.path),
            }
        )

    async def delivery_log(self, request: web.Request) -> web.StreamResponse:
        since_text = request.query.get("since")
        if since_text is None:
            return web.FileResponse(self.log.path, headers={"Content-Type": "application/x-ndjson"})
        try:
            since = float(since_text)
        except ValueError:
            return web.json_response({"error": "since must be epoch seconds"}, status=400)
        text = await asyncio.to_thread(_log_lines_since, self.log.path, since)
        return web.Response(text=text, content_type="application/x-ndjson")


def build_public_app(provider: Provider) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post("/emails", provider.send_email)
    app.router.add_get("/healthz", provider.healthz)
    return app


def build_admin_app(provider: Provider) -> web.Application:
    app = web.Application()
    app.router.add_get("/admin/profile", provider.get_profile)
    app.router.add_put("/admin/profile", provider.put_profile)
    app.router.add_post("/admin/healthy", provider.reset_healthy)
    app.router.add_get("/admin/stats", provider.stats)
    app.router.add_get("/admin/log", provider.delivery_log)
    app.router.add_get("/healthz", provider.healthz)
    return app


def _unsent() -> web.Response:
    """What a handler returns once its connection is gone: aiohttp drops it quietly."""
    return web.Response(status=500)


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _reset_connection(request: web.Request) -> None:
    """Close with RST instead of FIN: SO_LINGER on, zero timeout, then abort the transport."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _bad_profile(problems: dict[str, str]) -> web.Response:
    reason = "; ".join(f"{field}: {message}" for field, message in problems.items())
    return web.json_response(
        {"error": "invalid profile", "reason": reason, "fields": problems}, status=400
    )


def _log_lines_since(path: Path, since: float) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in read_log(path, since))
