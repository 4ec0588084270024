"""Start the provider and both designs on free loopback ports, for exploring by hand.

Provisions the broker and a database per design, prints every URL and a Locust command, and
keeps everything running until Ctrl-C (or ``--for`` seconds); then stops every process and
removes the designs' queues (and their PostgreSQL schemas; SQLite files stay in the work dir).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from offload.errors import TargetNotReady
from offload.ports import LOOPBACK, is_loopback
from offload.provisioning.broker import Broker, redact_url
from offload.run.remote import RemoteRefused, add_allow_remote_argument, refusal_hint
from offload.run.scrape_config import write_scrape_config
from offload.run.stack import RunningProvider, RunningTarget, Stack
from offload.run.supervisor import Supervisor, terminate_as_interrupt
from offload.target.design_config import DesignConfig
from offload.target.manifest import resolve_target

console = Console(highlight=False, soft_wrap=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        action="append",
        dest="targets",
        metavar="NAME_OR_DIR",
        help="target to start (repeatable; default: sync and async)",
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=DesignConfig().server_processes,
        metavar="N",
        help="server processes per design",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DesignConfig().workers,
        metavar="N",
        help="queue worker processes of the async design",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where logs and SQLite files go (default: .offload/up-<time>)",
    )
    parser.add_argument(
        "--port", type=int, default=None, metavar="PORT",
        help="the design's API port (one --target only; default: a free port)",
    )  # fmt: skip
    parser.add_argument(
        "--provider-url", default=None, metavar="URL",
        help="the email provider the designs call, instead of starting one: e.g. the one "
        "offload bench starts for an external target (its provider_listen)",
    )  # fmt: skip
    parser.add_argument(
        "--metrics", action="store_true",
        help="turn on every component's Prometheus metrics and write a scrape configuration "
        "for their ports (WORK_DIR/prometheus.yml; docs/observability.md)",
    )  # fmt: skip
    parser.add_argument(
        "--host", default=LOOPBACK, metavar="ADDR",
        help="the address the designs and the provider listen on (default: %(default)s); "
        "another address needs --allow-remote, e.g. a design on another host that an "
        "external-target bench loads (docs/scale-out.md)",
    )  # fmt: skip
    add_allow_remote_argument(parser, lets="listen on a non-loopback --host")
    parser.add_argument(
        "--for", dest="duration", type=float, default=None, metavar="SECONDS",
        help="stop by itself after this many seconds (default: until Ctrl-C)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work_dir = (args.work_dir or Path(".offload") / f"up-{stamp}").resolve()
    manifests = [resolve_target(name) for name in (args.targets or ["sync", "async"])]
    config = DesignConfig(
        server_processes=args.server_processes, workers=args.workers, metrics=args.metrics
    )
    if args.port is not None and len(manifests) != 1:
        console.print("--port needs exactly one --target (two designs cannot share a port)")
        return 2
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise RemoteRefused(f"refusing to listen on {args.host}: {refusal_hint('up')}")
        console.print(f"remote address: {args.host} (where the designs and the provider listen)")

    with terminate_as_interrupt(), Stack(work_dir, host=args.host) as stack:
        if any(m.uses_broker for m in manifests):
            console.print("provisioning the broker ...")
            stack.provision_broker()
        provider = stack.start_provider(metrics=args.metrics) if args.provider_url is None else None
        running = [
            stack.start_target(
                manifest,
                config=config,
                queue_prefix=f"offload.up.{manifest.name}",
                port=args.port,
                provider_url=args.provider_url,
            )
            for manifest in manifests
        ]
        _print_urls(provider, running, stack.broker, work_dir, args.provider_url)
        if args.metrics:
            _print_metrics(provider, running, work_dir)
        try:
            _wait(stack.supervisor, args.duration)
        except KeyboardInterrupt:  # the normal way to stop `up`
            console.print("\nstopping ...")
    console.print("stopped every process.")
    return 0


def _print_urls(
    provider: RunningProvider | None,
    running: list[RunningTarget],
    broker: Broker | None,
    work_dir: Path,
    provider_url: str | None = None,
) -> None:
    table = Table(title="offload is up", show_header=True, header_style="bold")
    table.add_column("component")
    table.add_column("URL", overflow="fold")
    if provider is not None:
        table.add_row("email provider", provider.url)
        table.add_row("provider admin", provider.admin_url + "/admin/profile")
    else:
        table.add_row("email provider (not started here)", str(provider_url))
    for target in running:
        table.add_row(f"{target.name} design ({target.manifest.kind})", target.url)
        # an external manifest's ledger (and schema) when a bench loads this design
        database = make_url(target.database.url).render_as_string(hide_password=True)
        schema = f" (schema {target.database.schema})" if target.database.schema else ""
        table.add_row(f"{target.name} database", database + schema)
    if broker is not None:
        table.add_row(f"broker ({broker.source})", redact_url(broker.url))
    console.print(table)
    if provider is None:
        console.print(f"\nLogs: {work_dir}\nCtrl-C stops everything.")
        return
    first = running[0]
    console.print(
        "\nTry a signup:\n"
        f"  curl -si -X POST {first.url}/users -H 'Content-Type: application/json' "
        '-d \'{"email": "ada@example.com", "display_name": "Ada"}\'\n'
        "Make the provider slow (1 s):\n"
        f"  curl -s -X PUT {provider.admin_url}/admin/profile -H 'Content-Type: application/json' "
        "-d '{\"latency_ms\": 1000}'\n"
        "Load it with Locust (open loop, 20 signups/s for 60 s):\n"
        f"  .venv/bin/locust -f loadtests/signup.py --headless --host {first.url} "
        "-u 1 -r 1 --run-time 70s --rate 20 --duration 60\n"
        f"\nLogs and the provider's delivery log: {work_dir}\nCtrl-C stops everything."
    )


def _print_metrics(
    provider: RunningProvider | None, running: list[RunningTarget], work_dir: Path
) -> None:
    """Every metrics endpoint, and a Prometheus configuration that scrapes them all."""
    endpoints = {
        f"{target.name}/{component}": url
        for target in running
        for component, url in target.metrics_endpoints.items()
    }
    if provider is not None and provider.metrics_url is not None:
        endpoints["provider"] = provider.metrics_url
    table = Table(title="Prometheus metrics", show_header=True, header_style="bold")
    table.add_column("component")
    table.add_column("URL", overflow="fold")
    for name, url in endpoints.items():
        table.add_row(name, url)
    console.print(table)
    path = write_scrape_config(work_dir / "prometheus.yml", endpoints)
    console.print(
        f"Prometheus scrape configuration: {path}\n"
        f"  prometheus --config.file={path}\n"
        "then import docs/grafana/offload-reference-designs.json into Grafana"
    )


def _wait(supervisor: Supervisor, duration: float | None) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        crashed = supervisor.crashed()
        if crashed:
            names = ", ".join(f"{c.name} (exit {c.returncode})" for c in crashed)
            raise TargetNotReady(f"component(s) exited: {names}\n{crashed[0].tail()}")
        time.sleep(0.5)
