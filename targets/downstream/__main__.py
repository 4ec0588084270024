"""``python -m targets.downstream``: run the simulated email provider.

    python -m targets.downstream --host 127.0.0.1 --port 8025 --admin-port 8026 \\
        --log provider.jsonl [--profile '{"latency_ms": 200}' | --profile @profile.json]

Prints ``provider ready on http://H:P (admin http://H:A)`` once both listeners are up, and
stops promptly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import resource
import signal
import sys
from pathlib import Path

from targets.common import tracing
from targets.common.metrics import serve_metrics_port
from targets.downstream.log import DeliveryLogError
from targets.downstream.profile import FaultProfile, ProfileError, parse_profile
from targets.downstream.server import ProviderServer, serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m targets.downstream", description="simulated email provider"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, required=True, help="public API port")
    parser.add_argument("--admin-port", type=int, required=True, help="admin API port")
    parser.add_argument("--log", type=Path, required=True, help="delivery log (JSON Lines)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on a non-loopback --host (offload bench --allow-remote, for an external "
        "target on another host; the admin API listens there too)",
    )
    parser.add_argument(
        "--profile", default=None, help="initial fault profile: JSON text, or @file with JSON"
    )
    return parser


def _load_profile(text: str | None) -> FaultProfile:
    if text is None:
        return FaultProfile()
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    return parse_profile(json.loads(text))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only addresses the provider listens on."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def raise_open_file_limit() -> None:
    """Thousands of concurrent connections need thousands of descriptors: soft → hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            print(f"warning: cannot raise the open-file limit from {soft}: {exc}", file=sys.stderr)


async def _main(server: ProviderServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(server, stop)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"refusing to listen on {args.host}: offload only serves loopback addresses "
            "(127.0.0.1, ::1, localhost) unless given --allow-remote",
            file=sys.stderr,
        )
        return 2
    try:
        profile = _load_profile(args.profile)
    except (OSError, json.JSONDecodeError, ProfileError) as exc:
        print(f"bad --profile: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    try:
        serve_metrics_port()
    except OSError as exc:
        print(f"provider cannot serve metrics: {exc}", file=sys.stderr)
        return 1
    tracing.setup("provider")
    server = ProviderServer(
        host=args.host,
        port=args.port,
        admin_port=args.admin_port,
        log_path=args.log,
        profile=profile,
    )
    try:
        asyncio.run(_main(server))
    except (OSError, DeliveryLogError) as exc:  # a port already taken, an unreadable log
        print(f"provider cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
