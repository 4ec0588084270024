"""A private RabbitMQ node for one run: its own ports, data directory, config and log.

Broker-fault scenarios stop and block the broker, which offload may only do to a broker it
started. Rather than touch the machine's own node (``rabbit@localhost`` on 5672), offload runs a
second node from the same installation, in the foreground under the run's Supervisor, with
everything that could collide made private:

- node name ``offload-<port>@localhost``, AMQP and distribution ports chosen free, both on
  127.0.0.1 (epmd is shared with the system node, which is harmless);
- data (Mnesia, quorum logs), config, enabled plugins and Erlang cookie under the run's
  work directory; ``RABBITMQ_CONF_ENV_FILE`` points at an empty file so the system's
  ``rabbitmq-env.conf`` (which pins ``NODENAME=rabbit@localhost``) is not applied;
- the real ``rabbitmq-server`` script, not Debian's ``/usr/sbin`` wrapper, which would
  ``su rabbitmq`` and drop this environment.

Measured on the 2-core reference machine: AMQP handshake succeeds ~4-9 s after start.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from offload.errors import ProvisioningError, TargetNotReady
from offload.ports import LOOPBACK, free_port
from offload.provisioning.amqp import amqp_url, wait_for_handshake
from offload.provisioning.control import BrokerControl, rabbitmq_script, rabbitmqctl_runner
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor

#: seconds to wait for the first AMQP handshake of a fresh node
START_TIMEOUT = 60.0

#: the node's memory watermark, written explicitly so that unblock() restores a known value
MEMORY_WATERMARK = 0.4

_CONFIG = """\
# Written by offload for one private node; not the system's /etc/rabbitmq/rabbitmq.conf.
listeners.tcp.local = {host}:{port}
vm_memory_high_watermark.relative = {watermark}
"""


@dataclass(eq=False)
class PrivateNode:
    """A running private node; :meth:`stop` stops it and removes its data (unless ``keep``)."""

    node: str
    port: int
    dist_port: int
    url: str
    data_dir: Path
    log_path: Path
    component: Supervised = field(repr=False)
    control: BrokerControl = field(repr=False)
    #: seconds from process start to the first successful AMQP handshake
    startup_seconds: float
    keep: bool = False
    _own_supervisor: Supervisor | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop the node: ``rabbitmqctl stop`` first (clean shutdown), the group kill as backup."""
        if self._stopped:
            return
        self._stopped = True
        self.component.exit_expected = True
        if self.component.alive:
            with contextlib.suppress(ProvisioningError):
                self.control.ctl("stop", timeout=20)
        self.component.stop(timeout=15)
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def node_environment(*, node: str, port: int, dist_port: int, data_dir: Path) -> dict[str, str]:
    """The environment that makes ``rabbitmq-server`` (and ``rabbitmqctl``) use this node only."""
    return {
        "HOME": str(data_dir / "home"),  # the Erlang cookie shared by the node and rabbitmqctl
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(data_dir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(data_dir / "log"),
        "RABBITMQ_LOGS": "-",  # to stdout, i.e. the supervised log file that outlives data_dir
        "RABBITMQ_CONFIG_FILE": str(data_dir / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(data_dir / "advanced.config"),  # absent on purpose
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(data_dir / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(data_dir / "rabbitmq-env.conf"),
        "ERL_EPMD_ADDRESS": LOOPBACK,
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


def _write_node_files(data_dir: Path, port: int) -> None:
    for sub in ("home", "mnesia", "log"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    (data_dir / "rabbitmq.conf").write_text(
        _CONFIG.format(host=LOOPBACK, port=port, watermark=MEMORY_WATERMARK)
    )
    (data_dir / "enabled_plugins").write_text("[].\n")
    (data_dir / "rabbitmq-env.conf").write_text("")


def start_private_node(
    *,
    work_dir: Path,
    supervisor: Supervisor | None = None,
    keep: bool = False,
    timeout: float = START_TIMEOUT,
) -> PrivateNode:
    """Start a private node on free loopback ports and return once it accepts AMQP.

    The node runs under ``supervisor`` when given (so the run's crash detection and final
    cleanup cover it), else under a Supervisor of its own.
    """
    server = rabbitmq_script("rabbitmq-server")
    ctl = rabbitmq_script("rabbitmqctl")
    if server is None or ctl is None:
        raise ProvisioningError("rabbitmq-server / rabbitmqctl are not installed (not on PATH)")

    port = free_port()
    dist_port = free_port()
    while dist_port == port:
        dist_port = free_port()
    node = f"offload-{port}@localhost"
    work_dir = Path(work_dir).resolve()
    data_dir = work_dir / f"rabbitmq-{port}"
    _write_node_files(data_dir, port)
    env = node_environment(node=node, port=port, dist_port=dist_port, data_dir=data_dir)
    url = amqp_url(LOOPBACK, port)
    log_path = work_dir / f"rabbitmq-{port}.log"
    spec = ProcessSpec(
        name=f"rabbitmq-{port}",
        argv=[server],
        env=env,
        cwd=data_dir,
        log_path=log_path,
        stop_timeout=15.0,
    )
    own_supervisor: Supervisor | None = None
    if supervisor is None:
        supervisor = own_supervisor = Supervisor()
    try:
        component = supervisor.start(spec)
    except TargetNotReady as exc:
        raise ProvisioningError(f"cannot start the private RabbitMQ node: {exc}") from exc

    control = BrokerControl(
        url=url, runner=rabbitmqctl_runner(ctl, node, env), node=node, owned=True
    )
    started = time.monotonic()
    try:
        ready = wait_for_handshake(url, timeout, alive=lambda: component.alive)
    except BaseException:  # Ctrl-C while waiting: the half-started node must not outlive us
        component.stop(timeout=5)
        raise
    startup = time.monotonic() - started
    handle = PrivateNode(
        node=node,
        port=port,
        dist_port=dist_port,
        url=url,
        data_dir=data_dir,
        log_path=log_path,
        component=component,
        control=control,
        startup_seconds=startup,
        keep=keep,
        _own_supervisor=own_supervisor,
    )
    if not ready:
        why = "exited" if not component.alive else f"did not accept AMQP within {timeout:g} s"
        tail = component.tail(25)
        handle.keep = True  # keep the data for a post-mortem next to the log
        handle.stop()
        raise ProvisioningError(
            f"private RabbitMQ node {node} {why} (log: {log_path}; data: {data_dir}). "
            f"Last log lines:\n{tail}"
        )
    return handle
