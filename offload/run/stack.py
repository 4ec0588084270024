"""Start the system under test: the email provider and any target, from its manifest.

Used by ``offload up``, by the run orchestrator and by the tests, so that all three start the
same processes the same way: each on a free loopback port, configured only through the
environment, its output in a log file under the work directory, healthy before it is used.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from offload.errors import TargetNotReady
from offload.ports import LOOPBACK, free_port
from offload.run.provider_admin import ProviderAdmin
from offload.run.supervisor import ProcessSpec, Supervised, Supervisor, python_module
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest, process_count, render, render_argv


class BrokerLike(Protocol):
    url: str


class DatabaseLike(Protocol):
    url: str
    schema: str | None


@dataclass
class RunningProvider:
    url: str
    admin_url: str
    log_path: Path
    admin: ProviderAdmin
    process: Supervised


def start_provider(
    supervisor: Supervisor, work_dir: Path, *, host: str = LOOPBACK, ready_timeout: float = 15
) -> RunningProvider:
    """Start the simulated email provider with its delivery log in ``work_dir``."""
    port, admin_port = free_port(host), free_port(host)
    log_path = work_dir / "provider-log.jsonl"
    process = supervisor.start(
        ProcessSpec(
            name="provider",
            argv=python_module(
                "targets.downstream",
                "--host",
                host,
                "--port",
                str(port),
                "--admin-port",
                str(admin_port),
                "--log",
                str(log_path),
            ),
            log_path=work_dir / "logs" / "provider.log",
        )
    )
    admin = ProviderAdmin(f"http://{host}:{admin_port}")
    try:
        admin.wait_ready(ready_timeout)
    except TargetNotReady as exc:
        raise TargetNotReady(f"the provider did not start: {exc}\n{process.tail()}") from exc
    return RunningProvider(
        url=f"http://{host}:{port}",
        admin_url=admin.admin_url,
        log_path=log_path,
        admin=admin,
        process=process,
    )


@dataclass
class RunningTarget:
    manifest: TargetManifest
    url: str
    env: dict[str, str]
    values: dict[str, Any]
    processes: dict[str, list[Supervised]] = field(default_factory=dict)
    #: (queue name, role) pairs reported by the manifest's ``broker.queues`` hook
    queues: list[tuple[str, str]] = field(default_factory=list)

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

    def stop(self, *, delete_queues: bool = True) -> None:
        """Stop every process of the target and (by default) remove its queues."""
        for process in self.all_processes():
            process.stop()
        if delete_queues and self.manifest.uses_broker:
            with contextlib.suppress(Exception):
                self.run_hook("delete")

    def run_hook(self, hook: str, timeout: float = 30) -> str:
        """Run one of the manifest's broker hooks (declare, queues, delete); returns stdout."""
        argv = getattr(self.manifest.broker, hook, None) if self.manifest.broker else None
        if not argv:
            return ""
        return _run_hook(self.manifest, hook, render_argv(argv, self.values), self.env, timeout)


def target_values(
    manifest: TargetManifest,
    *,
    host: str,
    port: int,
    config: DesignConfig,
    provider_url: str,
    database: DatabaseLike,
    broker: BrokerLike | None,
    queue_prefix: str,
    run_dir: Path,
) -> dict[str, Any]:
    """Every placeholder a manifest may use (see :mod:`offload.target.manifest`)."""
    return {
        "python": sys.executable,
        "host": host,
        "port": port,
        "server_processes": config.server_processes,
        # generous: the client and provider timeouts decide, never a killed worker
        "server_timeout_s": int(max(30, config.provider_timeout_s * 4)),
        "workers": config.workers,
        "prefetch": config.prefetch,
        "provider_url": provider_url,
        "provider_timeout_s": f"{config.provider_timeout_s:g}",
        "amqp_url": broker.url if broker else "",
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


def start_target(
    manifest: TargetManifest,
    *,
    supervisor: Supervisor,
    work_dir: Path,
    provider_url: str,
    database: DatabaseLike,
    broker: BrokerLike | None,
    config: DesignConfig,
    queue_prefix: str = "offload",
    host: str = LOOPBACK,
    ready_timeout: float = 30,
    role_urls: Mapping[str, str] | None = None,
) -> RunningTarget:
    """Prepare the target's queues and tables, start its processes, wait until it is healthy.

    ``broker.url`` serves the manifest's hooks; ``role_urls`` (from
    :mod:`offload.provisioning.broker_access`) give each process role its own least-privilege user.
    """
    if manifest.uses_broker and broker is None:
        raise TargetNotReady(f"target {manifest.name} needs a broker and none was provided")
    from targets.common.store import create_schema, make_engine

    engine = make_engine(database.url, database.schema)
    try:
        create_schema(engine)
    finally:
        engine.dispose()

    port = free_port(host)
    values = target_values(
        manifest,
        host=host,
        port=port,
        config=config,
        provider_url=provider_url,
        database=database,
        broker=broker,
        queue_prefix=queue_prefix,
        run_dir=work_dir,
    )
    target = RunningTarget(
        manifest=manifest,
        url=f"http://{host}:{port}",
        env=target_env(values, config),
        values=values,
    )
    if manifest.uses_broker:
        target.run_hook("declare")
        try:
            target.queues = _parse_queues(target.run_hook("queues"))
            _start_processes(target, supervisor, work_dir, config, values, role_urls)
            wait_healthy(target, ready_timeout)
        except BaseException:
            # the caller never gets the target: stop what started and remove the queues here
            target.stop()
            raise
        return target
    _start_processes(target, supervisor, work_dir, config, values, role_urls)
    wait_healthy(target, ready_timeout)
    return target


def _start_processes(
    target: RunningTarget,
    supervisor: Supervisor,
    work_dir: Path,
    config: DesignConfig,
    values: Mapping[str, Any],
    role_urls: Mapping[str, str] | None,
) -> None:
    manifest = target.manifest
    for entry in manifest.process:
        count = process_count(entry, values)
        started = []
        for index in range(count):
            name = (
                entry.name if count == 1 and entry.role != "worker" else f"{entry.name}-{index + 1}"
            )
            env = {**target.env, **{k: render(v, values) for k, v in entry.env.items()}}
            if role_urls and entry.role in role_urls:
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
            )
            started.append(supervisor.start(spec))
        target.processes[entry.name] = started


def wait_healthy(target: RunningTarget, timeout: float) -> None:
    """Poll the health path until 200; fail early, with the log, if a process dies."""
    url = target.url + target.manifest.health_path
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            for process in target.all_processes():
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
    server = target.processes[target.manifest.server.name][0]
    raise TargetNotReady(
        f"target {target.name} not healthy at {url} after {timeout:g}s ({last_error}):\n"
        f"{server.tail()}"
    )


def _run_hook(
    manifest: TargetManifest, hook: str, argv: list[str], env: Mapping[str, str], timeout: float
) -> str:
    import os

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
