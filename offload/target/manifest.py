"""Target manifests: how the harness starts a design, without knowing anything else about it.

Every directory under ``targets/`` with a ``target.toml`` is a target. The manifest names the
processes (argv with ``{placeholders}``), the health path, the design kind and report metadata,
in the spirit of TechEmpower's ``benchmark_config.json``. The harness starts targets only from
manifests, so benchmarking another service means adding one directory.

Placeholders the harness fills (unknown ones are refused when the manifest is loaded):

==================  ==============================================================
``python``          the harness's Python interpreter
``host`` ``port``   the loopback address and free port the server must listen on
``server_processes`` server worker processes (same for every design in a run)
``server_threads``  threads per server process (threaded servers: sync-threads)
``server_timeout_s`` seconds a server may spend on one request before being killed
``workers``         queue worker processes (async designs)
``prefetch``        unacknowledged jobs per worker
``provider_url``    base URL of the email provider
``provider_timeout_s`` seconds to wait for the provider
``amqp_url``        broker URL (async designs)
``publish_timeout_s`` bound on the broker's publisher confirm
``queue_prefix``    prefix for this run's exchanges and queues
``queue_prefix_re`` the same, escaped for a regular expression (broker permissions)
``max_attempts``    delivery attempts before dead-lettering
``retry_delays_s``  comma-separated retry delays
``database_url``    SQLAlchemy URL of this run's database
``db_schema``       PostgreSQL schema of this run (empty for SQLite)
``target_dir``      the directory holding the manifest
``run_dir``         this design's directory inside the run directory
==================  ==============================================================
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from offload.errors import ManifestError

MANIFEST_NAME = "target.toml"
TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"

PLACEHOLDERS = frozenset(
    {
        "python", "host", "port", "server_processes", "server_threads", "server_timeout_s",
        "workers", "prefetch",
        "provider_url", "provider_timeout_s", "amqp_url", "publish_timeout_s", "queue_prefix",
        "max_attempts", "retry_delays_s", "database_url", "db_schema", "target_dir", "run_dir",
        "queue_prefix_re",
    }
)  # fmt: skip


#: placeholders that hold a whole number, and so may stand for a process count
COUNT_PLACEHOLDERS = ("{server_processes}", "{workers}", "{prefetch}", "{max_attempts}")


class ProcessEntry(BaseModel):
    """One kind of process of a target (``count`` copies of it are started)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    role: Literal["server", "worker", "other"] = "other"
    command: list[str] = Field(min_length=1)
    #: a whole number >= 0, or one of COUNT_PLACEHOLDERS (e.g. "{workers}")
    count: int | str = 1
    env: dict[str, str] = Field(default_factory=dict)
    #: the process serves Prometheus metrics on the port the harness gives it in
    #: ``OFFLOAD_METRICS_PORT`` (one per copy), at ``/metrics``; a server's are on its own port
    #: (``metrics_path``). Scraped each second into the design's ``metrics.csv``.
    metrics: bool = False
    #: CPUs the process (and every process it forks) may run on, e.g. ``[1]``; unset = all.
    #: Placement models separate machines on one host ("workers on their own CPU"); the
    #: supervisor applies it with ``os.sched_setaffinity`` and the run's manifest records it.
    cpus: list[int] | None = Field(None, min_length=1)

    @field_validator("cpus")
    @classmethod
    def _cpu_numbers(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(cpu < 0 for cpu in value):
            raise ValueError("CPU numbers start at 0")
        return sorted(set(value))

    @field_validator("count", mode="before")
    @classmethod
    def _whole_number_or_placeholder(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"must be a whole number or one of {', '.join(COUNT_PLACEHOLDERS)}")
        if isinstance(value, int) and value < 0:
            raise ValueError("must not be negative")
        if isinstance(value, str) and value not in COUNT_PLACEHOLDERS:
            raise ValueError(
                f"must be a whole number or one of {', '.join(COUNT_PLACEHOLDERS)}, got {value!r}"
            )
        return value


class RolePermissions(BaseModel):
    """RabbitMQ permission regexes for the user of one process role (default: nothing)."""

    model_config = ConfigDict(extra="forbid")

    configure: str = "^$"
    write: str = "^$"
    read: str = "^$"


class BrokerHooks(BaseModel):
    """Commands the harness runs to prepare, inspect and clean the target's queues, and the
    least privileges each process role needs (``[broker.permissions.<role>]``)."""

    model_config = ConfigDict(extra="forbid")

    declare: list[str] | None = None
    #: prints one ``<queue name> <role>`` line per queue (role: work, retry or dead)
    queues: list[str] | None = None
    delete: list[str] | None = None
    permissions: dict[Literal["server", "worker", "other"], RolePermissions] = Field(
        default_factory=dict
    )


#: how a target's server bounds the requests it serves at once: one per process (gunicorn
#: sync workers), ``server_processes × server_threads`` (gunicorn gthread), or an event loop
#: whose bound is not a process count (uvicorn: the provider client's pool, not a knob)
Concurrency = Literal["processes", "threads", "event-loop"]


class ExternalTarget(BaseModel):
    """A system offload does not start (``kind = "external"``): where its API answers, which
    email provider it calls and where its ledger can be read (see docs/targets.md)."""

    model_config = ConfigDict(extra="forbid")

    #: what the API answers a signup with: 201 (sync) or 202 and a job (async)
    design: Literal["sync", "async"]
    #: the API's base URL, e.g. ``http://127.0.0.1:8000``
    url: str = Field(pattern=r"^https?://[^/\s]+$")
    #: ``offload``: offload's simulated provider, listening on ``provider_listen`` (the
    #: target must call it there); ``none``: the target calls its own stub, so offload can
    #: neither break the provider nor count the emails
    provider: Literal["offload", "none"] = "offload"
    #: ``HOST:PORT`` where offload's provider listens (the target's provider URL)
    provider_listen: str | None = Field(None, pattern=r"^[^:\s]+:[0-9]{1,5}$")
    #: where the run's users and jobs are read: a SQLAlchemy URL of the target's database
    #: (read only: the users and jobs tables); an ``http(s)://`` URL of its ledger endpoint
    #: (``GET`` with ``since``/``after``/``limit``, targets/common/ledger.py); or ``none``: the
    #: report then says the email figures were not measured
    ledger: str
    #: the PostgreSQL schema holding the tables (default: the URL's search path)
    ledger_schema: str | None = None

    @field_validator("ledger")
    @classmethod
    def _ledger_form(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            return value
        parts = urlsplit(value)
        if not parts.hostname or parts.query or parts.fragment or not parts.path.startswith("/"):
            raise ValueError(
                "an HTTP ledger is the endpoint's full URL with a path and no query, e.g. "
                '"http://127.0.0.1:18000/ledger"'
            )
        return value

    @property
    def ledger_kind(self) -> Literal["database", "http", "none"]:
        """How the ledger is read: from the database, from the ledger endpoint, or not."""
        if self.ledger == "none":
            return "none"
        return "http" if self.ledger.startswith(("http://", "https://")) else "database"

    @model_validator(mode="after")
    def _provider_has_an_address(self) -> ExternalTarget:
        if self.provider == "offload" and self.provider_listen is None:
            raise ValueError(
                'provider = "offload" needs provider_listen = "HOST:PORT" (where offload\'s '
                "provider listens, and so the URL the target must call)"
            )
        if self.provider == "none" and self.provider_listen is not None:
            raise ValueError('provider_listen is for provider = "offload"; remove it')
        if self.ledger_kind != "database" and self.ledger_schema is not None:
            raise ValueError("ledger_schema is for a database ledger (a SQLAlchemy URL); remove it")
        return self

    @property
    def provider_host(self) -> str:
        return (self.provider_listen or ":").rsplit(":", 1)[0]

    @property
    def provider_port(self) -> int:
        return int((self.provider_listen or ":0").rsplit(":", 1)[1])

    @property
    def provider_url(self) -> str | None:
        return f"http://{self.provider_listen}" if self.provider == "offload" else None

    @property
    def has_ledger(self) -> bool:
        """The email ledger needs the users table and the deliveries offload's provider saw."""
        return self.ledger != "none" and self.provider == "offload"


class TargetManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    kind: Literal["sync", "async"]
    #: decides whether the capacity model's worker model applies to a design without a queue;
    #: a manifest written before the field keeps the model it always had (processes)
    concurrency: Concurrency = "processes"
    description: str = ""
    health_path: str = "/healthz"
    #: where a job's state can be read, with ``{job_id}``; async designs
    jobs_path: str | None = None
    #: where the server answers Prometheus metrics (never part of the load); unset: none
    metrics_path: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    process: list[ProcessEntry] = Field(default_factory=list)
    broker: BrokerHooks | None = None
    #: ``kind = "external"`` in the file: offload starts nothing (``kind`` is then the
    #: design's, from ``external.design``)
    external: ExternalTarget | None = None
    #: set by :func:`load_manifest`: the directory the manifest came from
    directory: Path = Path(".")

    @field_validator("health_path", "metrics_path")
    @classmethod
    def _absolute_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be a path starting with /, e.g. /healthz")
        return value

    @model_validator(mode="before")
    @classmethod
    def _external_kind(cls, data: object) -> object:
        """``kind = "external"`` needs an ``[external]`` table and no processes to start."""
        if not isinstance(data, dict) or data.get("kind") != "external":
            if isinstance(data, dict) and data.get("external") is not None:
                raise ValueError('an [external] table needs kind = "external"')
            return data
        external = data.get("external")
        if not isinstance(external, dict):
            raise ValueError('kind = "external" needs an [external] table (design, url, ledger)')
        if data.get("process") or data.get("broker"):
            raise ValueError(
                'kind = "external": offload starts nothing, so [[process]] and [broker] '
                "have no place here"
            )
        return {**data, "kind": external.get("design", "external")}

    @field_validator("process")
    @classmethod
    def _one_server(cls, processes: list[ProcessEntry]) -> list[ProcessEntry]:
        if not processes:
            return processes  # an external target (checked below); else refused below
        servers = [p for p in processes if p.role == "server"]
        if len(servers) != 1:
            raise ValueError(
                f'exactly one process must have role = "server" (found {len(servers)})'
            )
        if servers[0].count != 1:
            raise ValueError(
                f"the server process {servers[0].name!r} must have count = 1: copies would "
                "compete for one port (use the server's own worker option, e.g. "
                "{server_processes})"
            )
        names = [p.name for p in processes]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique (got {names})")
        return processes

    @model_validator(mode="after")
    def _something_to_start(self) -> TargetManifest:
        if self.external is None and not self.process:
            raise ValueError('at least one [[process]] (or kind = "external")')
        return self

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_as_text(cls, value: object) -> object:
        """Report metadata is text; numbers and booleans are accepted and written as text."""
        if isinstance(value, dict):
            return {
                k: str(v).lower()
                if isinstance(v, bool)
                else str(v)
                if isinstance(v, int | float)
                else v
                for k, v in value.items()
            }
        return value

    @property
    def server(self) -> ProcessEntry:
        return next(p for p in self.process if p.role == "server")

    @property
    def is_external(self) -> bool:
        return self.external is not None

    @property
    def uses_broker(self) -> bool:
        return self.broker is not None

    def uses_placeholder(self, name: str) -> bool:
        """True when a process's command, count or environment reads ``{name}``: the knob
        behind it reaches this target (a knob no process reads is not recorded for it)."""
        texts = [
            text
            for entry in self.process
            for text in (*entry.command, *entry.env.values(), str(entry.count))
        ]
        return any(
            field == name for text in texts for _, field, _, _ in string.Formatter().parse(text)
        )


def load_manifest(path: Path | str) -> TargetManifest:
    """Read and check a manifest (a ``target.toml`` or the directory holding one)."""
    path = Path(path)
    file = path / MANIFEST_NAME if path.is_dir() else path
    if not file.is_file():
        raise ManifestError(f"{file}: no target manifest here (expected a {MANIFEST_NAME})")
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{file}: not valid TOML: {exc}") from exc
    try:
        manifest = TargetManifest.model_validate({**data, "directory": file.parent.resolve()})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = _location(first["loc"], data)
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ManifestError(f"{file}: field '{where}': {message}{more}") from exc
    _check_placeholders(manifest, file)
    return manifest


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """``process.worker.count`` rather than ``process.1.count.int``: name what the user wrote."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and loc[i - 1] == "process":
            processes = data.get("process") or []
            name = processes[part].get("name") if part < len(processes) else None
            parts.append(str(name) if isinstance(name, str) else str(part))
        elif isinstance(part, str) and (part in ("int", "str") or "[" in part):
            continue  # a branch of a union type, not a field
        else:
            parts.append(str(part))
    return ".".join(parts) or "(top level)"


def _check_placeholders(manifest: TargetManifest, file: Path) -> None:
    def check(text: str, where: str) -> None:
        for _, field_name, _, _ in string.Formatter().parse(text):
            if field_name is not None and field_name not in PLACEHOLDERS:
                known = ", ".join(sorted(PLACEHOLDERS))
                raise ManifestError(
                    f"{file}: field '{where}': unknown placeholder {{{field_name}}} "
                    f"(known: {known})"
                )

    for entry in manifest.process:
        for i, arg in enumerate(entry.command):
            check(arg, f"process.{entry.name}.command[{i}]")
        for key, value in entry.env.items():
            check(value, f"process.{entry.name}.env.{key}")
    if manifest.broker is not None:
        for hook in ("declare", "queues", "delete"):
            for i, arg in enumerate(getattr(manifest.broker, hook) or []):
                check(arg, f"broker.{hook}[{i}]")
        for role, grant in manifest.broker.permissions.items():
            for kind in ("configure", "write", "read"):
                check(getattr(grant, kind), f"broker.permissions.{role}.{kind}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{placeholders}``; braces are only for placeholders (write ``{{`` for a brace)."""
    return string.Formatter().vformat(
        template, (), {k: "" if v is None else v for k, v in values.items()}
    )


def render_argv(argv: list[str], values: Mapping[str, object]) -> list[str]:
    return [render(arg, values) for arg in argv]


def process_count(entry: ProcessEntry, values: Mapping[str, object]) -> int:
    raw = render(entry.count, values) if isinstance(entry.count, str) else entry.count
    try:
        count = int(raw)
    except ValueError as exc:
        raise ManifestError(
            f"process {entry.name}: count must be a whole number, got {raw!r}"
        ) from exc
    if count < 0:
        raise ManifestError(f"process {entry.name}: count must not be negative, got {count}")
    return count


def builtin_targets() -> dict[str, Path]:
    """The targets shipped in this repository, by name."""
    found = {}
    for file in sorted(TARGETS_DIR.glob(f"*/{MANIFEST_NAME}")):
        found[load_manifest(file).name] = file.parent
    return found


def resolve_target(name_or_path: str, relative_to: Path | None = None) -> TargetManifest:
    """A built-in target by name (``sync``, ``async``) or any directory holding a manifest.

    A relative path is looked up beside ``relative_to`` (the scenario file naming it) first,
    then in the current directory.
    """
    if relative_to is not None and not Path(name_or_path).is_absolute():
        beside = relative_to / name_or_path
        if beside.exists():
            return load_manifest(beside)
    if re.fullmatch(r"[a-z][a-z0-9_-]*", name_or_path) and not Path(name_or_path).exists():
        builtins = builtin_targets()
        if name_or_path not in builtins:
            raise ManifestError(
                f"no target named {name_or_path!r} (built-in: {', '.join(builtins)}; "
                "or give the path of a directory holding a target.toml)"
            )
        return load_manifest(builtins[name_or_path])
    return load_manifest(name_or_path)
