"""Measure the harness itself, and the broker alone, on this machine.

``offload probe generator --rate R`` runs the real load generator at R requests/s for a few
seconds against a built-in server on loopback that answers at once, and prints its floor:
latency p50/p99 from the scheduled time and from the send, how late it sent (lateness), and
its CPU per request. No target, broker or database is started.

``offload probe broker`` publishes persistent messages with publisher confirms to a quorum
queue of its own (declared for the probe, deleted after), paced at a rate and then back to
back, and prints the confirm latency and one publisher's ceiling: the physical floor under the
async design's accept path. It uses the broker a bench would (AMQP_URL, the local broker, or a
private node it starts and stops).

``offload probe stack`` starts a design's own server command with a bare app in place of the
design's (the same server, flags and process count; the app parses and validates each signup
and answers, with no database, broker or provider), sends it signups at a steady rate, and
prints the server's CPU per signup: what the stack costs before the design does anything.

Run each while nothing else heavy runs on the machine: the figures are timings. See
docs/measurement.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from loadtests.plan import Arrivals
from offload.run.broker_probe import DEFAULT_MESSAGE_BYTES
from offload.run.floor import measure_floor
from offload.rundir.broker_probe import BrokerProbe
from offload.rundir.floor import GeneratorFloor, Quantiles
from offload.rundir.stack_floor import App, StackFloor
from offload.target.design_config import DesignConfig

#: the designs ``offload probe stack`` measures unless told: one per stack the high-rate
#: scenario compares (gunicorn sync, gunicorn gthread, uvicorn)
STACK_DESIGNS = ("sync", "sync-threads", "async")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="probe_what", metavar="WHAT", required=True)
    generator = sub.add_parser(
        "generator",
        help="the load generator's floor against an instant server on loopback",
        description=__doc__,
    )
    generator.add_argument(
        "--rate", type=_positive(float), required=True, metavar="R", help="requests/s"
    )
    generator.add_argument(
        "--duration", type=_positive(float), default=5.0, metavar="S",
        help="seconds of measured load, after a 1 s warm-up (default 5)",
    )  # fmt: skip
    generator.add_argument(
        "--arrivals", choices=[a.value for a in Arrivals], default=Arrivals.CONSTANT.value,
        help="how arrivals are spread (default constant)",
    )  # fmt: skip
    generator.add_argument(
        "--repeat", type=_positive(int), default=1, metavar="N",
        help="measure N times in a row, one line each (default 1)",
    )  # fmt: skip
    generator.add_argument(
        "--keep", type=Path, default=None, metavar="DIR",
        help="keep each measurement's plan, records and Locust log in DIR/<n>",
    )  # fmt: skip
    generator.add_argument("--json", action="store_true", help="print one JSON document")
    broker = sub.add_parser(
        "broker",
        help="publish-with-confirm latency and one publisher's rate, no HTTP",
        description=__doc__,
    )
    broker.add_argument(
        "--rate", type=_positive(float), default=100.0, metavar="R",
        help="publishes/s of the paced part (default 100)",
    )  # fmt: skip
    broker.add_argument(
        "--duration", type=_positive(float), default=5.0, metavar="S",
        help="seconds of each part, paced and back to back (default 5)",
    )  # fmt: skip
    broker.add_argument(
        "--size", type=_positive(int), default=DEFAULT_MESSAGE_BYTES, metavar="BYTES",
        help=f"message body size (default {DEFAULT_MESSAGE_BYTES})",
    )  # fmt: skip
    broker.add_argument(
        "--repeat", type=_positive(int), default=1, metavar="N",
        help="measure N times in a row, one line each (default 1)",
    )  # fmt: skip
    broker.add_argument("--json", action="store_true", help="print one JSON document")
    stack = sub.add_parser(
        "stack",
        help="a design's server and framework alone: CPU per signup with nothing behind it",
        description=__doc__,
    )
    stack.add_argument(
        "--design", action="append", metavar="NAME", default=None,
        help=f"a design whose server to run (repeatable; default {', '.join(STACK_DESIGNS)})",
    )  # fmt: skip
    stack.add_argument(
        "--rate", type=_positive(float), default=300.0, metavar="R",
        help="signups/s (default 300, the high-rate scenario's)",
    )  # fmt: skip
    stack.add_argument(
        "--duration", type=_positive(float), default=10.0, metavar="S",
        help="seconds of measured load, after a 1 s warm-up (default 10)",
    )  # fmt: skip
    stack.add_argument(
        "--bystander-rate", type=_at_least_zero, default=0.0, metavar="R",
        help="bystander reads/s beside the signups, as a scenario's bystander_rate (default 0; "
        "their CPU counts, the figure stays per signup)",
    )  # fmt: skip
    stack.add_argument(
        "--processes", type=_positive(int), default=DesignConfig().server_processes,
        metavar="N", help="server processes (default %(default)s, as the scenarios run them)",
    )  # fmt: skip
    stack.add_argument(
        "--threads", type=_positive(int), default=DesignConfig().server_threads, metavar="T",
        help="threads per process, for a threaded server (default %(default)s)",
    )  # fmt: skip
    stack.add_argument(
        "--app", choices=["framework", "none", "both"], default="framework",
        help="framework: a bare app in the design's framework (FastAPI, Flask); none: a plain "
        "ASGI/WSGI callable doing the same parsing; both: one of each (default framework)",
    )  # fmt: skip
    stack.add_argument(
        "--repeat", type=_positive(int), default=1, metavar="N",
        help="measure every design N times, the designs taking turns (default 1)",
    )  # fmt: skip
    stack.add_argument("--json", action="store_true", help="print one JSON document")


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: ``kind`` of the text, refusing zero and negative numbers."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _at_least_zero(text: str) -> float:
    """An argparse type: a number of at least zero (a rate that may be off)."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.probe_what == "broker":
        return _run_broker(args)
    if args.probe_what == "stack":
        return _run_stack(args)
    floors: list[GeneratorFloor] = []
    for n in range(1, args.repeat + 1):
        floors.append(
            measure_floor(
                args.rate,
                duration_s=args.duration,
                arrivals=Arrivals(args.arrivals),
                work_dir=None if args.keep is None else args.keep / str(n),
            )
        )
    if args.json:
        print(json.dumps([floor.model_dump(mode="json") for floor in floors], indent=2))
    else:
        print("generator floor against an instant server on loopback (ms: p50 / p99)")
        print(_table(floors))
    return 0


def _run_broker(args: argparse.Namespace) -> int:
    import tempfile

    from offload.errors import OffloadError
    from offload.provisioning.broker import provision_broker, redact_url
    from offload.run.broker_probe import measure_broker
    from offload.run.supervisor import Supervisor

    probes: list[BrokerProbe] = []
    with (
        tempfile.TemporaryDirectory(prefix="offload-probe-") as tmp,
        Supervisor() as supervisor,
        provision_broker(work_dir=Path(tmp), supervisor=supervisor) as broker,
    ):
        if not args.json:
            print(f"broker: {redact_url(broker.url)} ({broker.source})")
        try:
            for _ in range(args.repeat):
                probes.append(
                    measure_broker(
                        broker.url,
                        source=broker.source,
                        rate=args.rate,
                        duration_s=args.duration,
                        message_bytes=args.size,
                    )
                )
        except OffloadError as exc:
            print(f"offload probe broker: {exc}")
            return 1
    if args.json:
        print(json.dumps([probe.model_dump(mode="json") for probe in probes], indent=2))
    else:
        print("publish with confirm, persistent, quorum queue, one in flight (ms: p50 / p99)")
        print(_broker_table(probes))
    return 0


def _run_stack(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from offload.errors import OffloadError
    from offload.run.stack_floor import measure_stack_floor
    from offload.rundir.files import describe
    from offload.target.manifest import resolve_target

    try:
        config = DesignConfig(server_processes=args.processes, server_threads=args.threads)
    except ValidationError as exc:
        print(f"offload probe stack: --processes/--threads: {describe(exc)}")
        return 2
    apps: list[App] = ["framework", "none"] if args.app == "both" else [args.app]
    designs = args.design or list(STACK_DESIGNS)
    floors: list[StackFloor] = []
    if not args.json:
        beside = f" and {args.bystander_rate:g} reads/s" if args.bystander_rate else ""
        print(
            f"each design's server with a bare app, {args.rate:g} signups/s{beside} for "
            f"{args.duration:g} s (+1 s warm-up), {args.repeat} round(s)"
        )
        print("".join(_align(title, width) for title, width in _STACK_COLUMNS))
    try:
        for _ in range(args.repeat):
            for design in designs:
                for app in apps:
                    floor = measure_stack_floor(
                        resolve_target(design),
                        rate=args.rate, duration_s=args.duration, config=config, app=app,
                        bystander_rate=args.bystander_rate,
                    )  # fmt: skip
                    floors.append(floor)
                    if not args.json:
                        print(_stack_row(floor), flush=True)
    except OffloadError as exc:
        print(f"offload probe stack: {exc}")
        return 1
    if args.json:
        print(json.dumps([floor.model_dump(mode="json") for floor in floors], indent=2))
    elif args.repeat > 1:
        print(_stack_spreads(floors))
    return 0


def _stack_spreads(floors: list[StackFloor]) -> str:
    """One line per design and app over the rounds: the lowest, highest and median CPU per
    request, the spread a reader should quote rather than any one run."""
    runs: dict[tuple[str, str], list[float]] = {}
    for floor in floors:
        if floor.cpu_ms_per_signup is not None:
            runs.setdefault((floor.design, floor.framework), []).append(floor.cpu_ms_per_signup)
    lines = ["CPU ms per signup over the rounds: lowest–highest (median)"]
    for (design, framework), values in runs.items():
        lines.append(
            f"  {design} ({framework}): {min(values):.2f}–{max(values):.2f} "
            f"({statistics.median(values):.2f}), {len(values)} runs"
        )
    return "\n".join(lines)


_STACK_COLUMNS = (
    ("design", -14),
    ("server", -10),
    ("app", -9),
    ("processes", 10),
    ("answered", 10),
    ("CPU ms/signup", 16),
    ("from sent", 15),
)


def _stack_row(floor: StackFloor) -> str:
    """One measurement, printed as soon as it is made (under the columns' heading)."""
    threads = f"×{floor.server_threads}" if floor.server_threads else ""
    cells = (
        floor.design,
        floor.server,
        floor.framework,
        f"{floor.server_processes}{threads}",
        f"{floor.answered:,}" + (f" ({floor.failed} failed)" if floor.failed else ""),
        _ms(floor.cpu_ms_per_signup),
        _pair(floor.latency_from_sent),
    )
    return "".join(_align(c, w) for c, (_, w) in zip(cells, _STACK_COLUMNS, strict=True))


def _align(text: str, width: int) -> str:
    """Left-aligned in ``-width`` columns, right-aligned in ``width``."""
    return text.ljust(-width) if width < 0 else text.rjust(width)


_BROKER_COLUMNS = (
    ("paced/s", 9),
    ("achieved/s", 11),
    ("confirm", 15),
    ("lateness", 15),
    ("back-to-back/s", 15),
    ("confirm", 15),
)


def _broker_table(probes: list[BrokerProbe]) -> str:
    lines = ["".join(title.rjust(width) for title, width in _BROKER_COLUMNS)]
    for probe in probes:
        cells = (
            f"{probe.paced.rate:g}",
            f"{probe.paced.achieved_rate:.1f}",
            _pair(probe.paced.confirm),
            _pair(probe.paced.lateness),
            f"{probe.back_to_back.rate:.0f}",
            _pair(probe.back_to_back.confirm),
        )
        lines.append("".join(c.rjust(w) for c, (_, w) in zip(cells, _BROKER_COLUMNS, strict=True)))
    return "\n".join(lines)


#: column headings and widths of the printed table
_COLUMNS = (
    ("rate/s", 8),
    ("requests", 9),
    ("lateness", 15),
    ("from scheduled", 15),
    ("from sent", 15),
    ("CPU ms/request", 15),
    ("CPU share", 10),
)


def _table(floors: list[GeneratorFloor]) -> str:
    """Plain aligned text (times in ms, p50 / p99), short enough for an 80-column terminal
    and ready to paste into notes."""
    lines = ["".join(title.rjust(width) for title, width in _COLUMNS)]
    for floor in floors:
        share = floor.cpu_share_of_one_core
        cells = (
            f"{floor.rate:g}",
            str(floor.requests) + (f" ({floor.failed} failed)" if floor.failed else ""),
            _pair(floor.lateness),
            _pair(floor.latency_from_scheduled),
            _pair(floor.latency_from_sent),
            _ms(floor.cpu_ms_per_request),
            "–" if share is None else f"{share:.1%}",
        )
        lines.append("".join(c.rjust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True)))
    return "\n".join(lines)


def _pair(quantiles: Quantiles) -> str:
    return f"{_ms(quantiles.p50_ms)} / {_ms(quantiles.p99_ms)}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
