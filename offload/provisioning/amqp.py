"""AMQP URLs and handshakes: the one test of "is there a usable broker here".

An open TCP port proves little (a RabbitMQ node with its app stopped, a Docker port proxy, or
another service can all accept connections), so every probe in provisioning is a full AMQP
handshake with bounded timeouts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pika
import pika.exceptions

from offload.errors import ProvisioningError
from offload.ports import is_loopback, port_open

AMQP_SCHEMES = ("amqp", "amqps")


def amqp_url(host: str, port: int, *, user: str = "guest", password: str = "guest") -> str:
    """The URL of the default vhost ``/`` on ``host:port``, in the form pika.URLParameters reads."""
    return f"amqp://{user}:{password}@{host}:{port}/%2F"


def url_host_port(url: str) -> tuple[str, int]:
    """Host and port of an AMQP URL (5672 / 5671 when the URL names none)."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return parts.hostname or "localhost", parts.port or default


def check_loopback_amqp_url(url: str, *, origin: str) -> None:
    """Refuse URLs offload must not use: other schemes, or a broker on another machine.

    Load targets are loopback only (a run must never send load across a network), and the
    broker is part of the system under load. ``origin`` names where the URL came from so the
    message points at the thing to fix.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ProvisioningError(f"{origin} is not a valid AMQP URL ({exc}): {url!r}") from exc
    if parts.scheme not in AMQP_SCHEMES:
        raise ProvisioningError(
            f"{origin} must be an amqp:// (or amqps://) URL, got scheme {parts.scheme!r}; "
            "example: amqp://guest:guest@127.0.0.1:5672/%2F"
        )
    if not host or not is_loopback(host):
        raise ProvisioningError(
            f"{origin} points at {host or 'no host'!r}, but offload only uses a broker on a "
            "loopback address (127.0.0.1, ::1 or localhost): load is never sent across a network"
        )


@contextlib.contextmanager
def quiet_pika() -> Iterator[None]:
    """Silence pika's ERROR logs while probing: a refused probe is an expected answer here."""
    logger = logging.getLogger("pika")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def bounded_parameters(url: str, timeout: float) -> pika.URLParameters:
    """Connection parameters for ``url`` with every wait bounded by ``timeout`` and one attempt:
    a broker that accepts but never answers (stopped app, blocked node) costs at most that."""
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    params.retry_delay = 0
    return params


def blocking_connection(url: str, timeout: float = 5.0) -> pika.BlockingConnection:
    """A short-lived blocking connection (sampling queue depths, reading the broker version)."""
    return pika.BlockingConnection(bounded_parameters(url, timeout))


def amqp_handshake_ok(url: str, timeout: float = 3.0) -> bool:
    """True when an AMQP connection to ``url`` opens within ``timeout`` seconds (then closes it).

    Every pika timeout is bounded so that a port that accepts but never answers (a stopped
    app behind a proxy, a blocked broker) costs at most ``timeout``, never a hang.
    """
    try:
        params = bounded_parameters(url, timeout)
    except Exception:  # pika raises assorted errors for bad URLs
        return False
    with quiet_pika():
        try:
            connection = pika.BlockingConnection(params)
        except (pika.exceptions.AMQPError, OSError, ValueError):
            return False
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.close()
    return True


def wait_for_handshake(
    url: str, timeout: float, *, alive: Callable[[], bool] | None = None
) -> bool:
    """Poll until an AMQP handshake on ``url`` succeeds or ``timeout`` seconds pass.

    ``alive`` is an optional zero-argument callable; polling stops early when it returns
    False (the broker process died, no point waiting).
    """
    host, port = url_host_port(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        remaining = max(0.5, min(3.0, deadline - time.monotonic()))
        if port_open(host, port, timeout=0.5) and amqp_handshake_ok(url, timeout=remaining):
            return True
        time.sleep(0.1)
    return False


def wait_for_broker_down(url: str, timeout: float) -> bool:
    """Poll until ``url`` no longer completes a handshake (port refused, or AMQP refused)."""
    host, port = url_host_port(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(host, port, timeout=0.5) or not amqp_handshake_ok(url, timeout=1.0):
            return True
        time.sleep(0.1)
    return False
