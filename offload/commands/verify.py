"""Check that a target honours the contract offload relies on, before benchmarking it.

Starts the target from its manifest on a free loopback port with the real email provider (and
a broker, for targets with [broker] hooks), then checks, one line each: it becomes healthy;
a signup answers 201 (sync) or 202 (async) with the user id and echoes X-Request-ID; the user
is stored and can be read back; bad input gets a 4xx with a JSON body and stores nothing; a
duplicate email gets 409; exactly one email reaches the provider, with the correlation id and
an Idempotency-Key; async targets also finish the job. Exit code 0 when every check passes,
1 when one fails, 2 when the manifest is broken. The contract: docs/targets.md.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from offload.errors import ManifestError
from offload.run.remote import (
    RemoteRefused,
    add_allow_remote_argument,
    check_remote,
    remote_addresses,
)
from offload.run.supervisor import terminate_as_interrupt
from offload.target.contract import Bounds, CheckResult
from offload.target.design_config import DesignConfig
from offload.target.manifest import TargetManifest, resolve_target
from offload.target.verify import VERIFY_CONFIG, VerifyResult, verify_target

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_MARK = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "skip": "[dim]–[/]"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="a built-in target name or a directory")
    parser.add_argument(
        "--server-processes", type=_at_least(1), default=VERIFY_CONFIG.server_processes,
        help=f"server processes to start (default {VERIFY_CONFIG.server_processes})",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=_at_least(0), default=VERIFY_CONFIG.workers,
        help=f"queue worker processes, async targets (default {VERIFY_CONFIG.workers})",
    )  # fmt: skip
    parser.add_argument(
        "--keep-logs", type=Path, default=None, metavar="DIR",
        help="keep the processes' logs and the provider's delivery log in DIR "
        "(default: a temporary directory, removed at the end)",
    )  # fmt: skip
    add_allow_remote_argument(parser, lets="an external target may name non-loopback addresses")
    parser.add_argument(
        "--email-timeout", type=_seconds, default=Bounds().email, metavar="SECONDS",
        help=f"how long the email may take to reach the provider (default {Bounds().email:g})",
    )  # fmt: skip


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= 64:
            raise argparse.ArgumentTypeError(f"must be between {low} and 64, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 600 seconds, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        manifest = resolve_target(args.target)
        config = VERIFY_CONFIG.model_copy(
            update={"server_processes": args.server_processes, "workers": args.workers}
        )
        bounds = Bounds(email=args.email_timeout)
        addresses = remote_addresses([manifest])
        check_remote(addresses, allowed=args.allow_remote, command="verify")
        for address in addresses:
            console.print(escape(address.line()))
        console.print(
            f"verifying target [bold]{escape(manifest.name)}[/] ({manifest.kind}) "
            f"from {escape(str(manifest.directory))}"
        )
        with terminate_as_interrupt():
            if args.keep_logs is not None:
                result = _verify(manifest, args.keep_logs.resolve(), config, bounds)
            else:
                with tempfile.TemporaryDirectory(prefix="offload-verify-") as scratch:
                    result = _verify(manifest, Path(scratch), config, bounds)
    except ManifestError as exc:
        err_console.print(f"[red]✗[/] manifest: {escape(str(exc))}")
        return exc.exit_code
    except RemoteRefused as exc:
        err_console.print(f"[red]✗[/] {escape(str(exc))}")
        return exc.exit_code
    _print_verdict(result, args.keep_logs)
    return 0 if result.ok else 1


def _verify(
    manifest: TargetManifest, work_dir: Path, config: DesignConfig, bounds: Bounds
) -> VerifyResult:
    return verify_target(
        manifest, work_dir=work_dir, config=config, bounds=bounds, on_check=_print_check
    )


def _print_check(check: CheckResult) -> None:
    console.print(f"{_MARK[check.status]} {escape(check.name)}: {escape(check.detail)}")


def _print_verdict(result: VerifyResult, kept: Path | None) -> None:
    passed = sum(c.status == "pass" for c in result.checks)
    skipped = sum(c.status == "skip" for c in result.checks)
    counts = f"{passed} passed, {len(result.failed)} failed" + (
        f", {skipped} skipped" if skipped else ""
    )
    name = result.manifest.name
    if result.ok:
        console.print(f"[green]{name} honours the target contract[/] ({counts})")
    else:
        if result.server_log_tail:
            console.print(f"[dim]last lines of {name}'s server log:[/]")
            console.print(escape(result.server_log_tail))
        failed = ", ".join(c.name for c in result.failed)
        console.print(
            f"[red]{name} does not honour the target contract[/] ({counts}; failed: "
            f"{escape(failed)}). The contract is described in docs/targets.md."
        )
    if kept is not None:
        console.print(f"logs: {kept / 'logs'}, the provider's delivery log: {kept}")
