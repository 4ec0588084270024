"""Administer a RabbitMQ node through ``rabbitmqctl``: the broker faults and the vhost/user setup.

Broker-fault scenarios need to take the broker down and bring it back (``stop_app`` /
``start_app``) and to make it refuse publishes (a memory alarm, which is what a real broker
under memory pressure does: publishers receive ``connection.blocked`` and stall). Least-privilege
setup needs vhosts, users and permissions. All of it goes through ``rabbitmqctl`` because that is
what every RabbitMQ installation ships, without the management plugin.

Only a broker offload owns may be stopped or blocked; a control for a broker somebody else runs
refuses those operations, so a scenario can never take down a developer's own RabbitMQ.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from offload.errors import ProvisioningError
from offload.provisioning.amqp import wait_for_broker_down, wait_for_handshake

#: where Debian/Ubuntu keep the real scripts; /usr/sbin holds wrappers that ``su rabbitmq``
DEBIAN_RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")

#: RabbitMQ's own default for vm_memory_high_watermark, restored when nothing else is known
DEFAULT_WATERMARK: dict[str, Any] = {"relative": 0.4}


def rabbitmq_script(name: str) -> str | None:
    """Path of a RabbitMQ script (``rabbitmq-server``, ``rabbitmqctl``), or None if absent.

    Prefers the real script over Debian's ``/usr/sbin`` wrapper, which switches to the
    ``rabbitmq`` user with ``su`` and so loses the environment a private node depends on.
    """
    real = DEBIAN_RABBITMQ_BIN / name
    if real.is_file() and os.access(real, os.X_OK):
        return str(real)
    return shutil.which(name)


@dataclass(frozen=True)
class CtlResult:
    returncode: int
    stdout: str
    stderr: str


class CtlRunner(Protocol):
    """Runs one ``rabbitmqctl`` command (arguments after the node selection) with a timeout,
    ``stdin`` on its standard input (``import_definitions`` reads its document there)."""

    def __call__(
        self, args: Sequence[str], timeout: float, stdin: str | None = None
    ) -> CtlResult: ...


def rabbitmqctl_runner(ctl: str, node: str, env: Mapping[str, str]) -> CtlRunner:
    """A runner that calls ``rabbitmqctl -n node -q ...`` with ``env`` on top of ours.

    The command runs in its own process group so that a timeout kills the Erlang VM the
    script starts, not just the shell around it.
    """

    def run(args: Sequence[str], timeout: float, stdin: str | None = None) -> CtlResult:
        argv = [ctl, "-n", node, "-q", *args]
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ProvisioningError(
                f"rabbitmqctl {' '.join(args[:1])} on {node} did not answer within {timeout:g} s"
            ) from exc
        return CtlResult(process.returncode, stdout, stderr)

    return run


@dataclass(frozen=True)
class QueueDepth:
    """Messages in one queue: ``ready`` waiting for a consumer, ``unacked`` being worked on."""

    ready: int
    unacked: int

    @property
    def total(self) -> int:
        return self.ready + self.unacked


class BrokerControl:
    """Administrative handle on one RabbitMQ node.

    ``owned`` says whether offload started the node: only then are :meth:`stop_app`,
    :meth:`start_app`, :meth:`block` and :meth:`unblock` allowed.
    """

    def __init__(
        self,
        *,
        url: str,
        runner: CtlRunner,
        node: str,
        owned: bool,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.node = node
        self.owned = owned
        self.timeout = timeout
        self._run = runner
        self._saved_watermark: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<BrokerControl node={self.node} owned={self.owned}>"

    # -- plumbing ---------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float | None = None, stdin: str | None = None) -> str:
        """Run one rabbitmqctl command; a non-zero exit becomes a ProvisioningError with stderr."""
        result = self._run(args, self.timeout if timeout is None else timeout, stdin)
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip() or "no output")[-2000:]
            raise ProvisioningError(
                f"rabbitmqctl {' '.join(args[:2])} on {self.node} failed "
                f"(exit {result.returncode}): {detail}"
            )
        return result.stdout

    def _ctl_json(self, *args: str) -> Any:
        out = self.ctl(*args, "--formatter", "json")
        try:
            return json.loads(out or "null")
        except json.JSONDecodeError as exc:
            raise ProvisioningError(
                f"rabbitmqctl {args[0]} on {self.node} printed unreadable JSON: {out[:500]!r}"
            ) from exc

    def _require_owned(self, action: str) -> None:
        if not self.owned:
            raise ProvisioningError(
                f"refusing to {action} broker node {self.node}: offload did not start it "
                "(it belongs to this machine or to AMQP_URL). Scenarios that stop or block the "
                "broker need one offload owns: unset AMQP_URL and let offload start a private node."
            )

    def status(self) -> dict[str, Any]:
        """``rabbitmqctl status`` as a dict (listeners, alarms, memory watermark, ...)."""
        status: dict[str, Any] = self._ctl_json("status")
        return status

    # -- faults (owned brokers only) ---------------------------------------------------------

    def stop_app(self, wait: float = 30.0) -> None:
        """Take the broker down (the VM stays up): connections drop, the AMQP port refuses."""
        self._require_owned("stop")
        self.ctl("stop_app")
        if not wait_for_broker_down(self.url, wait):
            raise ProvisioningError(f"broker {self.node} still accepts AMQP after stop_app")

    def start_app(self, wait: float = 60.0) -> None:
        """Bring the broker back after :meth:`stop_app`; returns once a handshake succeeds."""
        self._require_owned("start")
        self.ctl("start_app", timeout=max(self.timeout, wait))
        if not wait_for_handshake(self.url, wait):
            raise ProvisioningError(f"broker {self.node} did not accept AMQP after start_app")

    def memory_alarm(self) -> bool:
        """True while a memory alarm is raised, i.e. publishers are blocked."""
        alarms = self.status().get("alarms") or []
        return any(isinstance(a, dict) and a.get("resource") == "memory" for a in alarms)

    def block(self, wait: float = 10.0) -> None:
        """Raise a memory alarm so that publishing connections receive ``connection.blocked``.

        Sets the memory high watermark to one byte; :meth:`unblock` restores the setting found
        here (the first one, if block is called twice).
        """
        self._require_owned("block")
        if self._saved_watermark is None:
            setting = self.status().get("vm_memory_high_watermark_setting")
            self._saved_watermark = setting if _is_watermark(setting) else DEFAULT_WATERMARK
        self.ctl("set_vm_memory_high_watermark", "absolute", "1")
        self._wait_alarm(True, wait)

    def unblock(self, wait: float = 10.0) -> None:
        """Restore the memory watermark saved by :meth:`block` and wait for the alarm to clear."""
        self._require_owned("unblock")
        setting = self._saved_watermark or DEFAULT_WATERMARK
        if "absolute" in setting:
            limit = setting["absolute"]
            limit = limit if isinstance(limit, str) else str(int(limit))
            self.ctl("set_vm_memory_high_watermark", "absolute", limit)
        else:
            self.ctl("set_vm_memory_high_watermark", repr(float(setting["relative"])))
        self._saved_watermark = None
        self._wait_alarm(False, wait)

    def _wait_alarm(self, raised: bool, wait: float) -> None:
        deadline = time.monotonic() + wait
        while self.memory_alarm() != raised:
            if time.monotonic() > deadline:
                state = "raise" if raised else "clear"
                raise ProvisioningError(f"memory alarm on {self.node} did not {state} in {wait} s")
            time.sleep(0.2)

    # -- inspection --------------------------------------------------------------------------

    def queue_stats(self, vhost: str = "/") -> dict[str, QueueDepth]:
        """Ready and unacknowledged messages per queue, read from the node itself (no lag of
        the management API's sampled statistics)."""
        rows = self._ctl_json(
            "list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"
        )
        return {
            row["name"]: QueueDepth(
                ready=int(row.get("messages_ready") or 0),
                unacked=int(row.get("messages_unacknowledged") or 0),
            )
            for row in rows or []
        }

    def queue_depths(self, vhost: str = "/") -> dict[str, int]:
        """Messages per queue (ready + unacknowledged) in ``vhost``."""
        return {name: depth.total for name, depth in self.queue_stats(vhost).items()}

    # -- least-privilege setup ---------------------------------------------------------------

    def delete_vhost(self, vhost: str) -> None:
        """Delete ``vhost`` and everything in it (no error if it is already gone)."""
        self._ctl_tolerating("does not exist", "delete_vhost", vhost)

    def import_definitions(self, definitions: Mapping[str, Any]) -> None:
        """Create what ``definitions`` describes (vhosts, users, permissions: RabbitMQ's
        definitions format) in one call. Why not one call per object: each ``rabbitmqctl``
        starts an Erlang VM (~0.3 s of CPU), and a run's vhost with its users and permissions
        took 1.2–1.5 s that way on 2 cores against ~0.35 s in one import. An import adds and
        updates; it deletes nothing."""
        self.ctl("import_definitions", stdin=json.dumps(definitions))

    def delete_user(self, user: str) -> None:
        """Delete ``user`` (no error if it is already gone)."""
        self._ctl_tolerating("does not exist", "delete_user", user)

    def _ctl_tolerating(self, message: str, *args: str) -> bool:
        """Run a command; False instead of an error when it fails with ``message``."""
        try:
            self.ctl(*args)
        except ProvisioningError as exc:
            if message in str(exc):
                return False
            raise
        return True


def _is_watermark(setting: object) -> bool:
    return isinstance(setting, dict) and (
        isinstance(setting.get("relative"), int | float)
        or isinstance(setting.get("absolute"), int | float | str)
    )
