"""The provider process's listeners: opening, closing for outages, and shutting down.

Two ``web.AppRunner``s, one per port, so that closing the public listener for an outage
leaves the admin API untouched. An outage closes the listening socket (new connections are
refused) and asks every kept-alive public connection to close once its current request is
answered (idle ones at once), so pooled clients cannot slip past the outage on an old
connection.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from targets.downstream.app import Provider, build_admin_app, build_public_app
from targets.downstream.log import DeliveryLog
from targets.downstream.profile import FaultProfile

#: listen backlog; the kernel caps it at net.core.somaxconn. Thousands of clients may
#: connect in the same instant when a load test starts.
BACKLOG = 4096


class ProviderServer:
    """One provider: public API on ``port``, admin API on ``admin_port``, one delivery log."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        admin_port: int,
        log_path: str | os.PathLike[str],
        profile: FaultProfile | None = None,
        shutdown_timeout: float = 3.0,
    ) -> None:
        self.host = host
        self.port = port
        self.admin_port = admin_port
        self.log_path = Path(log_path)
        self.initial_profile = profile or FaultProfile()
        self.shutdown_timeout = shutdown_timeout
        self.provider: Provider | None = None
        self._public_runner: web.AppRunner | None = None
        self._public_site: web.TCPSite | None = None
        self._admin_runner: web.AppRunner | None = None

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.admin_port}"

    async def start(self) -> None:
        """Open the log, then the public listener, then the admin one (so admin up = ready)."""
        log = DeliveryLog.open(self.log_path)
        self.provider = Provider(log, self.initial_profile, switch_listener=self._switch_public)
        runner_options = {
            "access_log": None,
            "shutdown_timeout": self.shutdown_timeout,
            # aiohttp's default since 3.9, pinned: a client hanging up must not cancel the
            # handler, or an email the provider already took would silently vanish
            "handler_cancellation": False,
        }
        self._public_runner = web.AppRunner(build_public_app(self.provider), **runner_options)
        await self._public_runner.setup()
        if not self.initial_profile.outage:
            await self._switch_public(True)
        self._admin_runner = web.AppRunner(build_admin_app(self.provider), **runner_options)
        await self._admin_runner.setup()
        admin_site = web.TCPSite(self._admin_runner, self.host, self.admin_port)
        await admin_site.start()
        self.admin_port = admin_site.port

    async def _switch_public(self, open_: bool) -> None:
        """Open or close the public listener; the port stays the same across outages."""
        runner = self._public_runner
        assert runner is not None
        if open_ and self._public_site is None:
            site = web.TCPSite(runner, self.host, self.port, backlog=BACKLOG, reuse_address=True)
            await site.start()
            self._public_site = site
            self.port = site.port  # a requested port 0 is now a real one, kept for reopening
        elif not open_ and self._public_site is not None:
            await self._public_site.stop()
            self._public_site = None
            if runner.server is not None and self.provider is not None:
                busy = self.provider.busy_connections
                for connection in runner.server.connections:
                    if connection in busy:
                        connection.close()  # after its answer: the request was received
                    else:
                        connection.force_close()  # idle keep-alive: close now
            # transports close in a call_soon callback: let them run before the admin API
            # confirms the outage, so no client can reuse a connection after the answer
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Wake every sleeping or hanging request, close both listeners, then the log."""
        if self.provider is not None:
            self.provider.stopping.set()
            await asyncio.sleep(0)  # let woken handlers write their answers
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        if self._public_runner is not None:
            self._public_site = None
            await self._public_runner.cleanup()
        if self.provider is not None:
            self.provider.log.close()


async def serve(server: ProviderServer, stop: asyncio.Event) -> None:
    """Run ``server`` until ``stop`` is set, announcing readiness on stdout."""
    try:
        await server.start()
        print(f"provider ready on {server.public_url} (admin {server.admin_url})", flush=True)
        await stop.wait()
    finally:
        await server.stop()
