"""Check that a target honours the contract the harness relies on, before any benchmark.

A benchmark of a target that answers 500 to bad input, never sends the email or stores its
users where the ledger cannot see them produces numbers that look fine and mean nothing. So
``offload verify`` starts the target exactly as a run would (from its manifest, with the real
provider, database and broker on loopback), sends one of each kind of request the load
generator and the analysis depend on, and says which promise is broken and why. The contract
is documented for target authors in ``docs/targets.md``; keep the two in step.

Each check yields one :class:`CheckResult`; a failed check does not stop the others, except
where they have nothing to work on (no target running, no user created), which are skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from offload.errors import TargetNotReady
from offload.provisioning.database import Database
from offload.run.external_ledger import read_only_engine
from offload.run.stack import RunningTarget, Stack
from offload.target.contract import DEFAULT_BOUNDS, Bounds, CheckResult, ContractRun
from offload.target.design_config import DesignConfig
from offload.target.ledger_reader import HttpLedgerReader, LedgerReader, SqlLedgerReader
from offload.target.manifest import MANIFEST_NAME, ExternalTarget, TargetManifest

#: a contract check needs few processes; the benchmark's budget is the scenario's business
VERIFY_CONFIG = DesignConfig(server_processes=2, workers=1)
#: log lines of the server kept for a failed verdict
SERVER_LOG_LINES = 15


@dataclass
class VerifyResult:
    manifest: TargetManifest
    checks: list[CheckResult] = field(default_factory=list)
    #: the server's last log lines when a check failed (its log may live in a temporary dir)
    server_log_tail: str = ""

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failed


def verify_target(
    manifest: TargetManifest,
    *,
    work_dir: Path,
    config: DesignConfig = VERIFY_CONFIG,
    bounds: Bounds = DEFAULT_BOUNDS,
    on_check: Callable[[CheckResult], None] = lambda check: None,
) -> VerifyResult:
    """Start ``manifest``'s target with the real provider (and broker), run every check.

    Every process started here is stopped before returning, also on Ctrl-C. Raises
    ``ManifestError`` for a manifest that cannot be started as written, and
    ``ProvisioningError`` / ``TargetNotReady`` for a broken harness environment (no broker,
    provider did not start); everything the target itself does wrong is a failed check.
    """
    result = VerifyResult(manifest)

    def record(check: CheckResult) -> None:
        result.checks.append(check)
        on_check(check)

    record(CheckResult("manifest", "pass", f"{manifest.directory / MANIFEST_NAME} loads"))
    if manifest.external is not None:
        _verify_external(manifest, manifest.external, work_dir, bounds, record)
        return result
    with Stack(work_dir) as stack:
        if manifest.uses_broker:
            stack.provision_broker()
        provider = stack.start_provider()
        database = stack.provision_database(manifest.name)
        started = time.monotonic()
        try:
            target = stack.start_target(
                manifest,
                config=config,
                queue_prefix=f"offload.target.verify.{manifest.name}.{uuid.uuid4().hex[:8]}",
                database=database,
                ready_timeout=bounds.start,
            )
        except TargetNotReady as exc:
            record(CheckResult("starts", "fail", str(exc)))
            record(CheckResult("contract", "skip", "the target is not running"))
            return result
        record(
            CheckResult(
                "starts",
                "pass",
                f"GET {target.url}{manifest.health_path} answered 200 after "
                f"{time.monotonic() - started:.1f} s",
            )
        )
        with ContractRun(target, provider, bounds) as run:
            for check in run.checks():
                record(check)
        if not result.ok:
            server = target.processes[manifest.server.name][0]
            result.server_log_tail = server.tail(SERVER_LOG_LINES)
    return result


def _verify_external(
    manifest: TargetManifest,
    external: ExternalTarget,
    work_dir: Path,
    bounds: Bounds,
    record: Callable[[CheckResult], None],
) -> None:
    """The same checks over HTTP against a target offload did not start: offload's provider
    on ``provider_listen`` (unless the target calls its own), the tables read only or the
    ledger endpoint."""
    with Stack(work_dir, host=external.provider_host or "127.0.0.1") as stack:
        provider = (
            stack.start_provider(port=external.provider_port)
            if external.provider == "offload"
            else None
        )
        target = RunningTarget(
            manifest=manifest,
            url=external.url,
            env={},
            values={},
            # not opened: the checks read the ledger through the reader below
            database=Database(
                url=external.ledger,
                kind="postgresql" if external.ledger.startswith("postgres") else "sqlite",
                schema=external.ledger_schema,
            ),
        )
        health = external.url + manifest.health_path
        try:
            response = httpx.get(health, timeout=bounds.request, trust_env=False)
            ok, detail = response.status_code == 200, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, detail = False, type(exc).__name__
        if not ok:
            record(CheckResult("starts", "fail", f"GET {health}: {detail}, want 200"))
            record(CheckResult("contract", "skip", "the target does not answer"))
            return
        record(CheckResult("starts", "pass", f"GET {health} answered 200 (external target)"))
        ledger = _ledger_reader(external)
        with ContractRun(target, provider, bounds, ledger=ledger) as run:
            for check in run.checks():
                record(check)


def _ledger_reader(external: ExternalTarget) -> LedgerReader | None:
    """The database read only, the ledger endpoint, or nothing (``ledger = "none"``)."""
    if external.ledger_kind == "http":
        return HttpLedgerReader(external.ledger)
    if external.ledger_kind == "database":
        return SqlLedgerReader(read_only_engine(external.ledger, external.ledger_schema))
    return None
