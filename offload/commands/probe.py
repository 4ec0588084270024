"""Measure the harness itself on this machine.

``offload probe generator --rate R`` runs the real load generator at R requests/s for a few
seconds against a built-in server on loopback that answers at once, and prints its floor:
latency p50/p99 from the scheduled time and from the send, how late it sent (lateness), and
its CPU per request. No target, broker or database is started. Run it while nothing else
heavy runs on the machine: the figures are timings. See docs/measurement.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from loadtests.plan import Arrivals
from offload.run.floor import measure_floor
from offload.rundir.floor import GeneratorFloor, Quantiles

HELP = "measure the harness itself (the load generator's floor) on this machine"


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


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: ``kind`` of the text, refusing zero and negative numbers."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
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
