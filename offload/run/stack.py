"""The system under test as one piece: the email provider, the databases, the broker (and a
run's own access to it) and the targets, started in order and stopped in reverse.

``offload up``, ``offload verify``, one design's run and the tests all start it through
:class:`Stack`, so all four start the same processes the same way — each on a free loopback
port, configured only through the environment, its output in a log file under the work
directory, healthy before it is used — and all four leave nothing behind, however they end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from offload.errors import ProvisioningError, TargetNotReady
from offload.ports import LOOPBACK, free_port, is_loopback
from offload.provisioning.broker import Broker
from offload.provisioning.broker import provision_broker as find_or_start_broker
from offload.provisioning.broker_access import BrokerAccess, open_access
from offload.provisioning.database import Database
from offload.provisioning.database import provision_database as new_database
from offload.run.export import export_tables
from offload.run.provider_admin import ProviderAdmin
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor, python_module
from offload.rundir.traces import RAW_DIR as TRACES_RAW_DIR
from offload.target.design_config import DesignConfig
from offload.target.manifest import (
    ProcessEntry,
    TargetManifest,
    process_count,
    render,
    render_argv,
)
from offload.target.reference import PROVIDER_MODULE, create_schema, make_engine
from targets.common.metrics import MULTIPROC_ENV
from targets.common.metrics import PORT_ENV as METRICS_PORT_ENV
from targets.common.tracing import DIR_ENV as TRACES_DIR_ENV

log = logging.getLogger("offload.run.stack")

#: the order a target's processes stop in: servers first (no new work), then the others, then
#: the workers (they finish the jobs they hold)
_STOP_ORDER = {"server": 0, "other": 1, "worker": 2}


@dataclass
class RunningProvider:
    url: str
    admin_url: str
    log_path: Path
    admin: ProviderAdmin
    process: Supervised
    #: where its Prometheus metrics are scraped (None: metrics off)
    metrics_url: str | None = None


@dataclass
class RunningTarget:
    manifest: TargetManifest
    url: str
    env: dict[str, str]
    values: dict[str, Any]
    database: Database
    #: the broker URLs of the target: administrator for the hooks, one per role when granted
    access: BrokerAccess | None = None
    processes: dict[str, list[Supervised]] = field(default_factory=dict)
    #: (queue name, role) pairs reported by the manifest's ``broker.queues`` hook
    queues: list[tuple[str, str]] = field(default_factory=list)
    #: component name → URL of its Prometheus metrics (the manifest's ``metrics_path`` and
    #: ``metrics = true`` processes; empty when the design's ``metrics`` knob is off)
    metrics_endpoints: dict[str, str] = field(default_factory=dict)
    _queues_released: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        return self.manifest.name

    def workers(self) -> list[Supervised]:
        return [
            p
            for entry in self.manifest.process
            if entry.role == "worker"
            for p in self.processes.get(entry.name, [])
        ]

    def all_processes(self) -> list[Supervised]:
        return [p for group in self.processes.values() for p in group]

    def stop(self) -> None:
        """Stop every process of the target gracefully: servers, then others, then workers."""
        for entry in sorted(self.manifest.process, key=lambda p: _STOP_ORDER[p.role]):
            for process in self.processes.get(entry.name, []):
                process.stop()

    def release_queues(self) -> None:
        """Remove the target's queues once: its vhost goes with them, or the delete hook runs.

        A failure is logged, not raised: it runs while a stack stops, when the broker may be
        gone already, and must not hide why the stack stopped.
        """
        if self._queues_released:
            return
        self._queues_released = True
        if self.access is not None and self.access.vhost is not None:
            self.access.close()
        elif self.manifest.uses_broker:
            try:
                self.run_hook("delete")
            except TargetNotReady as exc:
                log.warning("could not delete the queues of %s: %s", self.name, exc)

    def run_hook(self, hook: str, timeout: float = 30) -> str:
        """Run one of the manifest's broker hooks (declare, queues, delete); returns stdout."""
        argv = getattr(self.manifest.broker, hook, None) if self.manifest.broker else None
        if not argv:
            return ""
        return _run_hook(self.manifest, hook, render_argv(argv, self.values), self.env, timeout)


class Stack:
    """Everything a target needs to run, owned by one context manager.

    Each ``provision_*``, ``open_*`` and ``start_*`` call adds a piece. Leaving the block —
    normally, on an exception or on Ctrl-C — first stops every process: what the caller
    started on :attr:`supervisor` itself (the load generator), then each target (newest
    first; servers, then others, then workers), then the provider. Then the other pieces go
    in the reverse of the order they came: a target's queues (its vhost, or the manifest's
    ``delete`` hook), the run's broker users, a database (its tables copied out first where
    the caller asked; a PostgreSQL schema is dropped, a SQLite file stays in the work
    directory), the broker if the stack provisioned it. Whatever fails on the way, every
    later step still runs.
    """

    def __init__(self, work_dir: Path, *, host: str = LOOPBACK) -> None:
        self.work_dir = work_dir
        self.host = host
        self.supervisor = Supervisor()
        self.broker: Broker | None = None
        self.provider: RunningProvider | None = None
        self.targets: list[RunningTarget] = []
        #: row counts of the tables copied out of each database (see :meth:`provision_database`)
        self.kept_tables: dict[Database, dict[str, int]] = {}
        #: why the tables of a database could not be copied out (the run then has no ledger)
        self.tables_not_kept: dict[Database, str] = {}
        #: processes of the system that are not a target's: the provider, a private broker node
        self._infrastructure: list[Supervised] = []
        # an ExitStack undoes last-in first-out, and runs every step even when one fails
        self._undo = contextlib.ExitStack()
        self._undo.callback(self.supervisor.stop_all)
        work_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- starting, in this order ---------------------------------------------------------------

    def provision_broker(self) -> Broker:
        """Find a broker or start one (a private node runs under this stack's supervisor);
        targets started afterwards use it unless told otherwise."""
        before = set(self.supervisor)
        broker = find_or_start_broker(work_dir=self.work_dir / "broker", supervisor=self.supervisor)
        self._infrastructure.extend(c for c in self.supervisor if c not in before)
        self._undo.callback(broker.close)
        self.broker = broker
        return broker

    def start_provider(
        self,
        *,
        ready_timeout: float = 15,
        port: int | None = None,
        metrics: bool = False,
        tracing: bool = False,
    ) -> RunningProvider:
        """Start the simulated email provider, its delivery log in the work directory;
        ``port``: where it must listen (an external target calls it there), else a free one;
        with ``metrics``, serving Prometheus metrics on a port of its own; with ``tracing``,
        writing its spans under the work directory."""
        port, admin_port = port or free_port(self.host), free_port(self.host)
        log_path = self.work_dir / "provider-log.jsonl"
        metrics_env: dict[str, str] = {}
        metrics_url = None
        if metrics:
            metrics_port = free_port(self.host)
            metrics_env = metrics_process_env(self.work_dir, "provider", metrics_port)
            metrics_url = f"http://{self.host}:{metrics_port}/metrics"
        if tracing:
            metrics_env.update(tracing_process_env(self.work_dir, "provider"))
        process = self.supervisor.start(
            ProcessSpec(
                name="provider",
                argv=python_module(
                    PROVIDER_MODULE,
                    "--host",
                    self.host,
                    "--port",
                    str(port),
                    "--admin-port",
                    str(admin_port),
                    "--log",
                    str(log_path),
                    # an external target's provider_listen, allowed by --allow-remote
                    *([] if is_loopback(self.host) else ["--allow-remote"]),
                ),
                log_path=self.work_dir / "logs" / "provider.log",
                env=metrics_env,
            )
        )
        self._infrastructure.append(process)
        admin = ProviderAdmin(f"http://{self.host}:{admin_port}")
        self._undo.callback(admin.close)
        try:
            admin.wait_ready(ready_timeout)
        except TargetNotReady as exc:
            raise TargetNotReady(f"the provider did not start: {exc}\n{process.tail()}") from exc
        self.provider = RunningProvider(
            url=f"http://{self.host}:{port}",
            admin_url=admin.admin_url,
            log_path=log_path,
            admin=admin,
            process=process,
            metrics_url=metrics_url,
        )
        return self.provider

    def provision_database(self, name: str, *, keep_tables_in: Path | None = None) -> Database:
        """A fresh database for one target (see :mod:`offload.provisioning.database`).

        With ``keep_tables_in``, its tables are copied there as CSV once every process has
        stopped and before the database goes; :attr:`kept_tables` has their row counts.
        """
        database = new_database(work_dir=self.work_dir, name=name)
        self._undo.callback(_drop_schema, database)
        if keep_tables_in is not None:
            self._undo.callback(self._keep_tables, database, keep_tables_in)
        return database

    def open_broker_access(
        self, broker: Broker, manifest: TargetManifest, *, run_name: str, queue_prefix: str
    ) -> BrokerAccess:
        """A vhost of the run's own and a least-privilege user per process role, where the
        broker can be administered (:mod:`offload.provisioning.broker_access`)."""
        access = open_access(
            broker,
            manifest,
            run_name=run_name,
            values={"queue_prefix": queue_prefix, "queue_prefix_re": re.escape(queue_prefix)},
        )
        self._undo.callback(access.close)
        return access

    def start_target(
        self,
        manifest: TargetManifest,
        *,
        config: DesignConfig,
        queue_prefix: str = "offload",
        database: Database | None = None,
        access: BrokerAccess | None = None,
        broker: Broker | None = None,
        ready_timeout: float = 30,
        port: int | None = None,
        provider_url: str | None = None,
    ) -> RunningTarget:
        """Create the target's tables and queues, start its processes, wait until it is healthy.

        ``database`` defaults to a fresh one named after the target. The target reaches the
        broker through ``access`` (from :meth:`open_broker_access`), else through ``broker``
        or the stack's own, with the same credentials for everything. A target that does not
        start is stopped and its queues removed before the error is raised. ``port``: where
        the server listens (default: a free port); ``provider_url``: the provider the target
        calls instead of the stack's (``offload up --provider-url``: the one a bench starts
        for an external target).
        """
        if self.provider is None and provider_url is None:
            raise RuntimeError("start the provider before any target: the target calls it")
        broker = broker or self.broker
        if access is None and broker is not None:
            access = BrokerAccess(admin_url=broker.url)
        if manifest.uses_broker and access is None:
            raise TargetNotReady(f"target {manifest.name} needs a broker and none was provided")
        if database is None:
            database = self.provision_database(manifest.name)
        engine = make_engine(database.url, database.schema)
        try:
            create_schema(engine)
        finally:
            engine.dispose()

        port = port or free_port(self.host)
        values = target_values(
            manifest,
            host=self.host,
            port=port,
            config=config,
            provider_url=provider_url or (self.provider.url if self.provider else ""),
            database=database,
            amqp_url=access.admin_url if access else "",
            queue_prefix=queue_prefix,
            run_dir=self.work_dir,
        )
        target = RunningTarget(
            manifest=manifest,
            url=f"http://{self.host}:{port}",
            env=target_env(values, config),
            values=values,
            database=database,
            access=access,
        )
        self.targets.append(target)
        self._undo.callback(target.release_queues)
        self._undo.callback(target.stop)
        try:
            if manifest.uses_broker:
                target.run_hook("declare")
                target.queues = _parse_queues(target.run_hook("queues"))
            _start_processes(target, self.supervisor, self.work_dir, config)
            wait_healthy(target, ready_timeout)
        except BaseException:
            self.remove(target)  # the caller never gets the target: nothing of it may run on
            raise
        return target

    # -- stopping ------------------------------------------------------------------------------

    def remove(self, target: RunningTarget) -> None:
        """Stop one target now and remove its queues (its database goes with the stack)."""
        target.stop()
        target.release_queues()

    def _stop_processes(self) -> None:
        """Stop every process, the system's last; the queues and the databases stay for now."""
        system = {p for t in self.targets for p in t.all_processes()} | set(self._infrastructure)
        for component in reversed(list(self.supervisor)):
            if component not in system:
                component.stop()
        for target in reversed(self.targets):
            target.stop()
        if self.provider is not None:
            self.provider.process.stop()

    def stop(self) -> None:
        """Stop everything, in the reverse of the order it started (see the class)."""
        try:
            self._stop_processes()
        finally:
            self._undo.close()

    def _keep_tables(self, database: Database, directory: Path) -> None:
        try:
            self.kept_tables[database] = export_tables(database.url, database.schema, directory)
        except Exception as exc:  # any driver error: record it, and let the other steps go on
            log.warning("could not copy the tables of %s to %s: %s", database, directory, exc)
            self.tables_not_kept[database] = f"{type(exc).__name__}: {exc}"


def _drop_schema(database: Database) -> None:
    """Drop a PostgreSQL schema; a failure is logged, as it must not hide why the stack stopped."""
    if database.kind != "postgresql":
        return
    try:
        database.drop()
    except ProvisioningError as exc:
        log.warning("could not drop %s: %s", database, exc)


def target_values(
    manifest: TargetManifest,
    *,
    host: str,
    port: int,
    config: DesignConfig,
    provider_url: str,
    database: Database,
    amqp_url: str,
    queue_prefix: str,
    run_dir: Path,
) -> dict[str, Any]:
    """Every placeholder a manifest may use (see :mod:`offload.target.manifest`)."""
    return {
        "python": sys.executable,
        "host": host,
        "port": port,
        "server_processes": config.server_processes,
        "server_threads": config.server_threads,
        "server_timeout_s": server_timeout_s(config),
        "workers": config.workers,
        "prefetch": config.prefetch,
        "provider_url": provider_url,
        "provider_timeout_s": f"{config.provider_timeout_s:g}",
        "amqp_url": amqp_url,
        "publish_timeout_s": f"{config.publish_timeout_s:g}",
        "queue_prefix": queue_prefix,
        "queue_prefix_re": re.escape(queue_prefix),
        "max_attempts": config.max_attempts,
        "retry_delays_s": ",".join(f"{d:g}" for d in config.retry_delays_s),
        "database_url": database.url,
        "db_schema": database.schema or "",
        "target_dir": str(manifest.directory),
        "run_dir": str(run_dir),
    }


def server_timeout_s(config: DesignConfig) -> int:
    """Seconds a server may spend on one request: generous, so that the client and provider
    timeouts decide, never a killed worker."""
    return int(max(30, config.provider_timeout_s * 4))


def target_env(values: Mapping[str, Any], config: DesignConfig) -> dict[str, str]:
    """The environment of every process of a target: the ``OFFLOAD_*`` settings."""
    env = {
        "OFFLOAD_DATABASE_URL": str(values["database_url"]),
        "OFFLOAD_PROVIDER_URL": str(values["provider_url"]),
        "OFFLOAD_AMQP_URL": str(values["amqp_url"]),
        "OFFLOAD_QUEUE_PREFIX": str(values["queue_prefix"]),
        **config.target_env(),
    }
    if values["db_schema"]:
        env["OFFLOAD_DB_SCHEMA"] = str(values["db_schema"])
    return env


def _start_processes(
    target: RunningTarget, supervisor: Supervisor, work_dir: Path, config: DesignConfig
) -> None:
    manifest, values = target.manifest, target.values
    role_urls = target.access.role_urls if target.access else {}
    for entry in manifest.process:
        count = process_count(entry, values)
        started = target.processes.setdefault(entry.name, [])
        for index in range(count):
            name = (
                entry.name if count == 1 and entry.role != "worker" else f"{entry.name}-{index + 1}"
            )
            env = {**target.env, **{k: render(v, values) for k, v in entry.env.items()}}
            if config.metrics:
                env.update(_metrics_for(target, entry, f"{manifest.name}-{name}", work_dir))
            if config.tracing:
                env.update(tracing_process_env(work_dir, f"{manifest.name}-{name}"))
            if entry.role in role_urls:
                env["OFFLOAD_AMQP_URL"] = role_urls[entry.role]
                # a least-privilege user may not declare: the harness did it in the hook
                env["OFFLOAD_DECLARE_TOPOLOGY"] = "false"
            spec = ProcessSpec(
                name=f"{manifest.name}-{name}",
                argv=render_argv(entry.command, values),
                env=env,
                cwd=manifest.directory,
                log_path=work_dir / "logs" / f"{manifest.name}-{name}.log",
                stop_timeout=max(15.0, config.provider_timeout_s + config.publish_timeout_s + 5),
                cpus=frozenset(entry.cpus) if entry.cpus is not None else None,
            )
            started.append(supervisor.start(spec))


def metrics_process_env(work_dir: Path, component: str, port: int | None) -> dict[str, str]:
    """The environment that turns a process's metrics on: a fresh directory of its own for
    prometheus_client's multi-process files (shared by a server's workers; kept across a
    restart, so counters continue), and the port to serve them on when it has no API."""
    # absolute: the process runs in its target's directory, not ours, and a relative run
    # directory (the default `reports/`) would point it somewhere that does not exist
    directory = (work_dir / "prometheus" / component).absolute()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env = {MULTIPROC_ENV: str(directory)}
    if port is not None:
        env[METRICS_PORT_ENV] = str(port)
    return env


def tracing_process_env(work_dir: Path, component: str) -> dict[str, str]:
    """The environment that turns a process's tracing on: a fresh directory of its own for
    its span files (one per pid, so a server's workers and a restarted process never share
    one); :func:`offload.rundir.traces.gather` joins them after the run."""
    directory = (work_dir / TRACES_RAW_DIR / component).absolute()  # as for metrics, above
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {TRACES_DIR_ENV: str(directory)}


def _metrics_for(
    target: RunningTarget, entry: ProcessEntry, component: str, work_dir: Path
) -> dict[str, str]:
    """Metrics environment of one process copy, its endpoint recorded on the target."""
    host = str(target.values["host"])
    if entry.role == "server" and target.manifest.metrics_path is not None:
        target.metrics_endpoints[entry.name] = target.url + target.manifest.metrics_path
        return metrics_process_env(work_dir, component, None)
    if entry.metrics:
        port = free_port(host)
        target.metrics_endpoints[component.removeprefix(f"{target.name}-")] = (
            f"http://{host}:{port}/metrics"
        )
        return metrics_process_env(work_dir, component, port)
    return {}


def replace_process(target: RunningTarget, fresh: Supervised) -> None:
    """Put a restarted process in the place of the one of the same name (after a kill fault)."""
    for group in target.processes.values():
        for i, process in enumerate(group):
            if process.name == fresh.name:
                group[i] = fresh


def wait_healthy(target: RunningTarget, timeout: float) -> None:
    """Poll the health path until 200; fail early, with the log, if a process dies."""
    server = target.processes[target.manifest.server.name][0]
    others = [p for p in target.all_processes() if p is not server]
    wait_for_health(
        target.url + target.manifest.health_path,
        [server, *others],
        timeout,
        what=f"target {target.name}",
    )


def wait_for_health(
    url: str, processes: Sequence[Supervised], timeout: float, *, what: str
) -> None:
    """Poll ``url`` until 200; fail early, with its log, if one of ``processes`` dies, and at
    the timeout with the log of the first (the server)."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            for process in processes:
                if not process.alive:
                    raise TargetNotReady(
                        f"{process.name} exited with code {process.returncode} while starting:\n"
                        f"{process.tail()}"
                    )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            time.sleep(0.2)
    raise TargetNotReady(
        f"{what} not healthy at {url} after {timeout:g}s ({last_error}):\n{processes[0].tail()}"
    )


def _run_hook(
    manifest: TargetManifest, hook: str, argv: list[str], env: Mapping[str, str], timeout: float
) -> str:
    try:
        result = subprocess.run(
            argv,
            env={**os.environ, **env},
            cwd=manifest.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetNotReady(f"target {manifest.name}: broker hook '{hook}' failed: {exc}") from exc
    if result.returncode != 0:
        raise TargetNotReady(
            f"target {manifest.name}: broker hook '{hook}' exited {result.returncode}:\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    return result.stdout


def _parse_queues(text: str) -> list[tuple[str, str]]:
    queues = []
    for line in text.splitlines():
        parts = line.split()
        if parts:
            queues.append((parts[0], parts[1] if len(parts) > 1 else "work"))
    return queues
