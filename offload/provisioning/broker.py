"""Find or start the RabbitMQ broker a run uses, in the order docs/design.md gives.

1. ``AMQP_URL`` if set (the user's broker: used as is, never stopped or blocked);
2. a broker already answering AMQP with guest/guest on 127.0.0.1:5672 (same: not ours);
3. a private ``rabbitmq-server`` node on free ports, when RabbitMQ is installed (ours);
4. RabbitMQ in a container through testcontainers, when a Docker engine answers (ours);
5. otherwise a ProvisioningError that says how to get any of the four.

Scenarios that stop or block the broker pass ``require_owned=True`` and get only 3 or 4:
offload never takes down a broker it did not start.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from offload.errors import ProvisioningError
from offload.ports import LOOPBACK, port_open
from offload.provisioning.amqp import amqp_handshake_ok, amqp_url, check_loopback_amqp_url
from offload.provisioning.containers import probe_docker_engine, start_rabbitmq_container
from offload.provisioning.control import BrokerControl, rabbitmq_script, rabbitmqctl_runner
from offload.provisioning.rabbitmq_node import start_private_node
from offload.run.supervisor import Supervisor

BrokerSource = Literal["env", "local", "private", "container"]
SOURCES: tuple[BrokerSource, ...] = ("env", "local", "private", "container")

LOCAL_PORT = 5672
LOCAL_URL = amqp_url(LOOPBACK, LOCAL_PORT)
#: where Debian's rabbitmq user keeps the Erlang cookie rabbitmqctl needs to reach the system node
SYSTEM_COOKIE_HOME = Path("/var/lib/rabbitmq")

#: seconds allowed for one "is a broker there" handshake
PROBE_TIMEOUT = 3.0

HOW_TO_GET_A_BROKER = """\
Get one in any of these ways:
  1. set AMQP_URL to a broker on a loopback address,
     e.g. AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2F
  2. start RabbitMQ on 127.0.0.1:5672 with the guest/guest user,
     e.g. `rabbitmq-server -detached` (or `systemctl start rabbitmq-server`)
  3. install rabbitmq-server (e.g. `apt-get install rabbitmq-server`, `brew install rabbitmq`)
     so that offload starts a private node on free ports for the run
  4. run a Docker engine (DOCKER_HOST or /var/run/docker.sock) so that offload starts
     RabbitMQ in a container with testcontainers"""


@dataclass(eq=False)
class Broker:
    """The broker a run uses.

    ``url`` is always on a loopback host and usable by ``pika.URLParameters``. ``owned`` is
    True when offload started the broker and so may stop or block it; ``control`` administers
    it (None when offload cannot). :meth:`close` stops whatever provisioning started.
    """

    url: str
    source: BrokerSource
    owned: bool
    control: BrokerControl | None = None
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Stop what provisioning started (nothing for env/local brokers); safe to call twice."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Broker(url={redact_url(self.url)!r}, source={self.source!r}, owned={self.owned}, "
            f"control={self.control!r})"
        )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and reprs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
    except ValueError:
        return "<unparseable URL>"


def provision_broker(
    *,
    work_dir: Path,
    require_owned: bool = False,
    allow: Sequence[str] = SOURCES,
    supervisor: Supervisor | None = None,
) -> Broker:
    """Return a usable broker, trying the sources in ``allow`` in the documented order.

    ``require_owned=True`` (scenarios that stop or block the broker) skips the env and local
    brokers; with ``AMQP_URL`` set it refuses outright rather than silently ignore the user's
    choice. A private node runs under ``supervisor`` when one is given.
    """
    unknown = [name for name in allow if name not in SOURCES]
    if unknown:
        raise ProvisioningError(
            f"unknown broker source(s) {unknown}; choose from {', '.join(SOURCES)}"
        )
    env_url = os.environ.get("AMQP_URL", "").strip()
    if require_owned and env_url:
        raise ProvisioningError(
            f"AMQP_URL is set ({redact_url(env_url)}), but this scenario stops or blocks the "
            "broker, and offload refuses to do that to a broker it does not own. Run it with "
            "AMQP_URL unset (e.g. `env -u AMQP_URL offload ...`) so that offload starts a private "
            "RabbitMQ node or container for it."
        )

    tried: list[str] = []
    if require_owned:
        tried.append("env, local: skipped, this scenario needs a broker offload starts itself")
    else:
        if "env" in allow:
            if env_url:
                return _env_broker(env_url)
            tried.append("env: AMQP_URL is not set")
        if "local" in allow:
            if _local_broker_answers():
                return Broker(LOCAL_URL, "local", owned=False, control=local_control(LOCAL_URL))
            tried.append(f"local: nothing completes an AMQP handshake on {LOOPBACK}:{LOCAL_PORT}")

    if "private" in allow:
        if rabbitmq_script("rabbitmq-server") is None:
            tried.append("private: rabbitmq-server is not on PATH")
        else:
            try:
                node = start_private_node(work_dir=Path(work_dir), supervisor=supervisor)
            except ProvisioningError as exc:
                tried.append(f"private: {exc}")
            else:
                return Broker(
                    node.url, "private", owned=True, control=node.control, _stop=node.stop
                )

    if "container" in allow:
        probe = probe_docker_engine(timeout=2.0)
        if not probe.available:
            tried.append(f"container: {probe.detail}")
        else:
            try:
                box = start_rabbitmq_container()
            except ProvisioningError as exc:
                tried.append(f"container: {exc}")
            else:
                return Broker(box.url, "container", owned=True, control=box.control, _stop=box.stop)

    skipped = [name for name in SOURCES if name not in allow]
    if skipped:
        tried.append(f"not allowed here: {', '.join(skipped)}")
    raise ProvisioningError(no_broker_message(tried, require_owned=require_owned))


def no_broker_message(tried: Sequence[str], *, require_owned: bool = False) -> str:
    """The final error: what was tried and why it failed, then the four ways to get a broker."""
    lines = ["no RabbitMQ broker is available. Tried:"]
    lines += [f"  - {reason}" for reason in tried]
    lines.append(HOW_TO_GET_A_BROKER)
    if require_owned:
        lines.append(
            "This scenario stops or blocks the broker, so only 3 (rabbitmq-server installed) "
            "or 4 (a Docker engine) will do."
        )
    return "\n".join(lines)


def _env_broker(url: str) -> Broker:
    check_loopback_amqp_url(url, origin="AMQP_URL")
    if not amqp_handshake_ok(url, timeout=PROBE_TIMEOUT * 2):
        raise ProvisioningError(
            f"AMQP_URL is set to {redact_url(url)}, but no AMQP handshake succeeded there within "
            f"{PROBE_TIMEOUT * 2:g} s. Start that broker, fix the URL (user, password, vhost), or "
            "unset AMQP_URL to let offload find or start one."
        )
    return Broker(url, "env", owned=False, control=None)


def _local_broker_answers() -> bool:
    return port_open(LOOPBACK, LOCAL_PORT, timeout=0.5) and amqp_handshake_ok(
        LOCAL_URL, timeout=PROBE_TIMEOUT
    )


def local_control(url: str = LOCAL_URL) -> BrokerControl | None:
    """An admin-only control (vhosts, users) for the machine's own node, if rabbitmqctl reaches it.

    Accepted only when the node answers quickly and reports an AMQP listener on the URL's
    port, so that the control is sure to administer the broker the run talks to. It is never
    owned: stop_app and block are refused.
    """
    ctl = rabbitmq_script("rabbitmqctl")
    if ctl is None:
        return None
    env: dict[str, str] = {}
    if os.access(SYSTEM_COOKIE_HOME / ".erlang.cookie", os.R_OK):
        env["HOME"] = str(SYSTEM_COOKIE_HOME)
    port = urlsplit(url).port or LOCAL_PORT
    for node in _system_node_names():
        control = BrokerControl(
            url=url, runner=rabbitmqctl_runner(ctl, node, env), node=node, owned=False, timeout=5.0
        )
        with contextlib.suppress(ProvisioningError):
            listeners = control.status().get("listeners") or []
            if any(
                isinstance(item, dict)
                and item.get("protocol") == "amqp"
                and item.get("port") == port
                for item in listeners
            ):
                control.timeout = 30.0
                return control
    return None


def _system_node_names() -> list[str]:
    names = [os.environ.get("RABBITMQ_NODENAME", ""), "rabbit@localhost"]
    names.append(f"rabbit@{socket.gethostname().split('.')[0]}")
    return list(dict.fromkeys(name for name in names if name))
