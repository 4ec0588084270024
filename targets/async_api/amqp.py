"""pika on asyncio: one reconnecting connection per process and publisher confirms as futures.

Why pika's asyncio adapter rather than a publisher thread: pika is not thread-safe, so either
every pika call happens on one thread or calls are marshalled onto it. The FastAPI app already
runs an event loop (uvloop under uvicorn), and ``AsyncioConnection`` runs pika on that same
loop: a request handler publishes, then awaits a future that the broker's Basic.Ack resolves,
with no thread hop and many publishes in flight at once. Measured on this kind of machine
(``docs/measured-facts.md``): ~1,800-1,950 confirmed publishes/s through one connection, against
~610/s for a dedicated ``BlockingConnection`` thread fed with ``add_callback_threadsafe``, which
confirms one message at a time. The worker uses the same adapter so that it too can hold
``prefetch`` jobs in flight while each waits on the provider.

Rules this module keeps (see NOTES): delivery tags are counted here, restart at 1 on every new
channel, and may be acknowledged with ``multiple=True``; a publish that timed out leaves a
cancelled future that a late ack must skip; a publish whose outcome is unknown (timeout, lost
connection) may still be enqueued — consumers must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.channel import Channel

log = logging.getLogger("offload.amqp")

# pika logs several ERROR lines (with tracebacks) for every failed connection attempt; this
# module logs one line of its own instead.
logging.getLogger("pika").setLevel(logging.CRITICAL)


class PublishFailed(Exception):
    """The broker did not take the message (or we cannot tell that it did)."""


class BrokerUnavailable(PublishFailed):
    """No open connection or channel to publish on right now."""


class BrokerBlocked(PublishFailed):
    """The broker throttles publishers (memory or disk alarm)."""


class PublishTimeout(PublishFailed):
    """No confirm within the bound; the message may or may not have been enqueued."""


def publish_failure(exc: PublishFailed) -> str:
    """A failed publish's ``outcome`` label in the metrics: ``refused`` is a nack or an
    unroutable message, the broker's own answer."""
    if isinstance(exc, BrokerUnavailable):
        return "unavailable"
    if isinstance(exc, BrokerBlocked):
        return "blocked"
    if isinstance(exc, PublishTimeout):
        return "timeout"
    return "refused"


class AmqpClient:
    """One AMQP connection that reopens itself after it drops, on the running event loop.

    ``on_connected`` runs after every (re)connection to open channels and consumers; when it
    fails, the connection is closed and tried again.
    """

    def __init__(
        self,
        amqp_url: str,
        *,
        name: str,
        on_connected: Callable[[AsyncioConnection], Awaitable[None]],
        reconnect_delay_s: float = 1.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.amqp_url = amqp_url
        self.name = name
        self._on_connected = on_connected
        self._reconnect_delay_s = reconnect_delay_s
        self._connect_timeout_s = connect_timeout_s
        self.connection: AsyncioConnection | None = None
        self.blocked = False
        self.ready = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconnect_handle: asyncio.TimerHandle | None = None
        self._failures = 0
        self._last_complaint = 0.0
        self._lost_callbacks: list[Callable[[], None]] = []

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the connection drops (to fail what waits on it)."""
        self._lost_callbacks.append(callback)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._connect()

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)
        return self.ready.is_set()

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stopping = True
        if self._reconnect_handle is not None:
            self._reconnect_handle.cancel()
        connection = self.connection
        if connection is not None and connection.is_open:
            closed = asyncio.Event()
            self._lost_callbacks.append(closed.set)
            connection.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), 5)

    # -- pika callbacks --------------------------------------------------------------------
    def _connect(self) -> None:
        self._reconnect_handle = None
        params = pika.URLParameters(self.amqp_url)
        params.connection_attempts = 1
        params.stack_timeout = self._connect_timeout_s
        params.socket_timeout = self._connect_timeout_s
        params.heartbeat = 30
        params.client_properties = {"connection_name": self.name}
        AsyncioConnection(
            params,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
            custom_ioloop=self._loop,
        )

    def _schedule_reconnect(self) -> None:
        if self._stopping or self._reconnect_handle is not None or self._loop is None:
            return
        self._reconnect_handle = self._loop.call_later(self._reconnect_delay_s, self._connect)

    def _complain(self, message: str) -> None:
        """Log connection trouble at most every 10 s, with the number of failed attempts."""
        self._failures += 1
        now = time.monotonic()
        if now - self._last_complaint >= 10:
            self._last_complaint = now
            log.warning(
                "%s (%d failed attempt(s) so far; retrying every %.1fs)",
                message,
                self._failures,
                self._reconnect_delay_s,
            )

    def _on_open(self, connection: AsyncioConnection) -> None:
        self.connection = connection
        self.blocked = False
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)
        asyncio.get_running_loop().create_task(self._setup(connection))

    async def _setup(self, connection: AsyncioConnection) -> None:
        try:
            await self._on_connected(connection)
        except Exception as exc:
            log.warning("setting up the AMQP connection failed: %s", exc)
            if connection.is_open:
                connection.close()
            return
        if self._failures:
            log.warning(
                "AMQP connection to the broker restored after %d failed attempt(s)", self._failures
            )
        self._failures = 0
        self.ready.set()

    def _on_open_error(self, _connection: AsyncioConnection, exc: BaseException | str) -> None:
        self._complain(f"cannot connect to the broker: {exc}")
        self._schedule_reconnect()

    def _on_closed(self, _connection: AsyncioConnection, exc: BaseException) -> None:
        self.connection = None
        self.ready.clear()
        self.blocked = False
        for callback in list(self._lost_callbacks):
            callback()
        if not self._stopping:
            self._complain(f"AMQP connection lost: {exc}")
            self._schedule_reconnect()

    def _on_blocked(self, _connection: AsyncioConnection, _frame: Any) -> None:
        log.warning("broker blocked this connection (resource alarm); publishes fail fast")
        self.blocked = True

    def _on_unblocked(self, _connection: AsyncioConnection, _frame: Any) -> None:
        log.warning("broker unblocked this connection")
        self.blocked = False


async def open_channel(connection: AsyncioConnection, timeout: float = 5.0) -> Channel:
    future: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
    connection.channel(on_open_callback=future.set_result)
    return await asyncio.wait_for(future, timeout)


async def set_prefetch(channel: Channel, prefetch: int, timeout: float = 5.0) -> None:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    channel.basic_qos(prefetch_count=prefetch, callback=future.set_result)
    await asyncio.wait_for(future, timeout)


class ConfirmingPublisher:
    """Publishes in confirm mode: ``publish`` returns once the broker has taken the message.

    Messages are published ``mandatory``: a message no queue is bound for comes back as
    Basic.Return before its ack, and counts as failed rather than silently dropped.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._next_tag = 0
        self._pending: dict[int, tuple[asyncio.Future[None], str | None]] = {}
        self._returned: set[str] = set()
        self._closed_reason: str | None = None
        channel.confirm_delivery(ack_nack_callback=self._on_confirm)
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(self._on_channel_closed)

    @property
    def usable(self) -> bool:
        return self._closed_reason is None and self.channel.is_open

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        timeout: float,
    ) -> None:
        if not self.usable:
            raise BrokerUnavailable(f"channel closed: {self._closed_reason or 'not open'}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        except (pika.exceptions.AMQPError, AssertionError) as exc:
            raise BrokerUnavailable(f"cannot publish: {exc!r}") from exc
        self._next_tag += 1
        self._pending[self._next_tag] = (future, properties.message_id)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise PublishTimeout(f"no confirm from the broker within {timeout:g}s") from exc

    def fail_all(self, reason: str) -> None:
        """Fail every publish still waiting for a confirm (the channel or connection is gone)."""
        self._closed_reason = self._closed_reason or reason
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailable(f"outcome unknown: {reason}"))

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        if method.multiple:
            tags = [tag for tag in self._pending if tag <= method.delivery_tag]
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            entry = self._pending.pop(tag, None)
            if entry is None:
                continue
            future, message_id = entry
            if future.done():  # cancelled by a timeout: nobody waits any more
                self._returned.discard(message_id or "")
                continue
            if not acked:
                future.set_exception(PublishFailed("the broker refused the message (nack)"))
            elif message_id is not None and message_id in self._returned:
                self._returned.discard(message_id)
                future.set_exception(PublishFailed("no queue is bound for the message"))
            else:
                future.set_result(None)

    def _on_return(self, _channel: Channel, _method: Any, properties: Any, _body: bytes) -> None:
        if properties.message_id:
            self._returned.add(properties.message_id)

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        self.fail_all(f"channel closed ({reason})")
