"""RabbitMQ in a container, when a Docker engine answers.

Detection asks the ENGINE (``GET /_ping`` on ``DOCKER_HOST`` or ``/var/run/docker.sock``)
with a short timeout, never the ``docker`` client binary: machines often have the client
without a running engine, and the Docker SDK's own connection attempts can take long to fail.
The SDK and testcontainers are imported only once an engine has answered.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from offload.errors import ProvisioningError
from offload.ports import LOOPBACK, is_loopback
from offload.provisioning.amqp import amqp_url
from offload.provisioning.control import BrokerControl, CtlResult, CtlRunner

DEFAULT_SOCKET = Path("/var/run/docker.sock")

#: the release line of the system broker that docs/measured-facts.md was measured on
RABBITMQ_IMAGE = "rabbitmq:3.10"

_PING = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"

T = TypeVar("T")


@dataclass(frozen=True)
class EngineProbe:
    """Whether a Docker engine answered, and where (or why not), for messages."""

    available: bool
    detail: str


def _http_ping(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(max(0.05, deadline - time.monotonic()))
    sock.sendall(_PING)
    reply = b""
    while b"\r\n" not in reply and len(reply) < 1024:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(1024)
        if not chunk:
            break
        reply += chunk
    status = reply.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[0].startswith(b"HTTP/") and status[1] == b"200"


def _ping_unix(path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        return _http_ping(sock, deadline)


def _tls_context() -> ssl.SSLContext:
    cert_dir = Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    ca = cert_dir / "ca.pem"
    context = ssl.create_default_context(cafile=str(ca) if ca.exists() else None)
    context.check_hostname = False  # Docker's own certificates rarely name the host
    if (cert_dir / "cert.pem").exists() and (cert_dir / "key.pem").exists():
        context.load_cert_chain(str(cert_dir / "cert.pem"), str(cert_dir / "key.pem"))
    return context


def _ping_tcp(host: str, port: int, timeout: float, tls: bool) -> bool:
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if not tls:
            return _http_ping(raw, deadline)
        with _tls_context().wrap_socket(raw, server_hostname=host) as sock:
            return _http_ping(sock, deadline)


def _call_bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``fn`` in a daemon thread and give up after ``timeout`` s (it may go on, unseen)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"offload-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what} did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


def probe_docker_engine(timeout: float = 2.0) -> EngineProbe:
    """Ask the Docker engine testcontainers would use whether it is up; never hangs.

    Reads the same settings as the Docker SDK: ``DOCKER_HOST`` (unix://, tcp:// with
    ``DOCKER_TLS_VERIFY``, or anything else such as ssh:// through the SDK itself, bounded),
    else the default socket ``/var/run/docker.sock``.
    """
    host = os.environ.get("DOCKER_HOST", "").strip()
    where = f"DOCKER_HOST={host}" if host else str(DEFAULT_SOCKET)
    try:
        if not host:
            if not DEFAULT_SOCKET.exists():
                return EngineProbe(False, f"DOCKER_HOST is not set and {DEFAULT_SOCKET} is absent")
            ok = _ping_unix(where, timeout)
        else:
            parts = urlsplit(host)
            if parts.scheme == "unix":
                ok = _ping_unix(parts.path, timeout)
            elif parts.scheme in ("tcp", "http", "https") and parts.hostname:
                tls = parts.scheme == "https" or bool(os.environ.get("DOCKER_TLS_VERIFY"))
                port = parts.port or (2376 if tls else 2375)
                ok = _ping_tcp(parts.hostname, port, timeout, tls)
            else:
                ok = _call_bounded(_sdk_ping, timeout, "docker ping")
    except (OSError, TimeoutError, ValueError, ssl.SSLError) as exc:
        return EngineProbe(False, f"no Docker engine answers at {where}: {exc}")
    except Exception as exc:  # the SDK's own errors, for exotic DOCKER_HOST schemes
        return EngineProbe(False, f"no Docker engine answers at {where}: {exc}")
    if not ok:
        return EngineProbe(False, f"{where} answered, but not to the Docker ping")
    return EngineProbe(True, where)


def _sdk_ping() -> bool:
    import docker  # imported lazily: only reached when DOCKER_HOST names an exotic scheme

    client = docker.from_env(timeout=5)
    try:
        return bool(client.ping())
    finally:
        client.close()


@dataclass(eq=False)
class RabbitContainer:
    """A RabbitMQ container started for one run; :meth:`stop` removes it."""

    url: str
    control: BrokerControl = field(repr=False)
    container: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):  # best effort: Ryuk reaps it if this fails
            self.container.stop()


def _container_runner(container: Any) -> CtlRunner:
    """rabbitmqctl inside the container (its default node is the container's broker)."""

    def run(args: Sequence[str], timeout: float, stdin: str | None = None) -> CtlResult:
        command = ["rabbitmqctl", "-q", *args]
        if stdin is not None:  # exec has no standard input: the text travels in the command
            encoded = base64.b64encode(stdin.encode()).decode()
            command = ["sh", "-c", f"echo {encoded} | base64 -d | {shlex.join(command)}"]
        try:
            result = _call_bounded(lambda: container.exec(command), timeout, "rabbitmqctl")
        except TimeoutError as exc:
            raise ProvisioningError(f"rabbitmqctl {args[0]} in the container: {exc}") from exc
        output = result.output.decode(errors="replace") if result.output else ""
        return CtlResult(result.exit_code, output, output if result.exit_code else "")

    return run


def start_rabbitmq_container(*, image: str = RABBITMQ_IMAGE) -> RabbitContainer:
    """Start RabbitMQ with testcontainers; returns once it accepts AMQP on a loopback port."""
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer(image).start()
    except Exception as exc:
        raise ProvisioningError(f"could not start a RabbitMQ container ({image}): {exc}") from exc
    host = container.get_container_host_ip()
    host = LOOPBACK if host == "localhost" else host
    if not is_loopback(host):
        with contextlib.suppress(Exception):
            container.stop()
        raise ProvisioningError(
            f"the Docker engine publishes container ports on {host}, not on a loopback address; "
            "offload only sends load to loopback, use a local engine"
        )
    url = amqp_url(host, int(container.get_exposed_port(container.port)))
    control = BrokerControl(
        url=url, runner=_container_runner(container), node="container", owned=True
    )
    return RabbitContainer(url=url, control=control, container=container)
