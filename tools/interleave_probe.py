"""Research probe for the A/B gate's next design: does serving base and candidate *at once*,
with one arrival schedule alternating requests between them, cancel the run-to-run drift
that run-level pairs (the gate today) suffer?

Each trial measures one pair two ways, with the same client and the same two code trees:

- **concurrent**: both async stacks started fresh side by side (their own provider, database
  and queues, one broker), one Poisson schedule at twice the rate whose arrivals alternate
  between them — both see the same machine, second by second;
- **sequential**: a fresh stack of one tree alone at the rate, then a fresh stack of the other
  (order alternating by trial) — what the gate's pairs do today.

Latency is from each request's scheduled time (open loop); the figure is each side's signup
p50 over the measured part, and the pair's difference (B − A). The client is a small asyncio
+ httpx loop, not Locust: the question is how the two pairings compare with the client held
constant, not what the designs' absolute figures are (``offload bench`` measures those).

    python tools/interleave_probe.py TREE_A TREE_B TRIALS OUT.jsonl
    python tools/interleave_probe.py --summary OUT.jsonl [...]

``make gate-interleave-probe SLOWDOWN=async-2ms N=12`` builds TREE_B from a committed
slowdown (tests/factories/slowdowns.py) and runs it; ``SLOWDOWN=none`` is the A/A probe.
Loopback only; every load phase is bounded (2 s warm-up + 12 s measured).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

RATE_PER_SIDE = 20.0
WARMUP_S, MEASURED_S = 2.0, 12.0
LOOPBACK = "127.0.0.1"

#: run with PYTHONPATH=<tree>: that tree's harness starts that tree's async design
SIDE = """
import sys
from pathlib import Path
from offload.run.stack import Stack
from offload.target.design_config import DesignConfig
from offload.target.manifest import resolve_target
work, port, prefix = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with Stack(work) as stack:
    stack.provision_broker()
    stack.start_provider()
    stack.start_target(resolve_target("async"), config=DesignConfig(), queue_prefix=prefix,
                       port=port)
    print("READY", flush=True)
    sys.stdin.read()  # until the probe closes it
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class Stack:
    """One async stack of one tree, in a child process that stops it when stdin closes."""

    def __init__(self, tree: Path, work: Path) -> None:
        self.port = free_port()
        prefix = f"probe.{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SIDE, str(work), str(self.port), prefix],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            self.stop()
            raise SystemExit(f"the stack of {tree} did not start (see {work})")

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _load(ports: list[int], seed: int) -> dict[int, list[tuple[float, int]]]:
    """Open-loop Poisson arrivals at RATE_PER_SIDE per port, alternating between the ports;
    each request's latency from its scheduled time, kept after the warm-up."""
    rng = random.Random(seed)
    total = RATE_PER_SIDE * len(ports)
    at, schedule = 0.0, []
    while at < WARMUP_S + MEASURED_S:
        at += rng.expovariate(total)
        schedule.append(at)
    records: dict[int, list[tuple[float, int]]] = {port: [] for port in ports}
    clients = {p: httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{p}", timeout=5) for p in ports}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(index: int, offset: float) -> None:
        port = ports[index % len(ports)]
        await asyncio.sleep(max(0.0, start + offset - loop.time()))
        body = {"email": f"p{uuid.uuid4().hex}@example.com", "display_name": "probe"}
        try:
            status = (await clients[port].post("/users", json=body)).status_code
        except httpx.HTTPError:
            status = 0
        if offset >= WARMUP_S:
            records[port].append(((loop.time() - (start + offset)) * 1000, status))

    await asyncio.gather(*(one(i, offset) for i, offset in enumerate(schedule)))
    for client in clients.values():
        await client.aclose()
    return records


def _figures(rows: list[tuple[float, int]]) -> dict[str, Any]:
    accepted = sorted(latency for latency, status in rows if status == 202)
    if len(accepted) < 20:
        raise SystemExit(f"only {len(accepted)} of {len(rows)} signups accepted: not measured")
    return {
        "n": len(rows),
        "ok": len(accepted),
        "p50": round(statistics.median(accepted), 3),
        "p95": round(statistics.quantiles(accepted, n=100)[94], 3),
    }


def trial(number: int, trees: dict[str, Path], work: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"trial": number, "t": time.time()}
    stacks: dict[str, Stack] = {}
    order = ["A", "B"] if number % 2 == 0 else ["B", "A"]  # who gets the even arrivals
    try:
        for side, tree in trees.items():
            stacks[side] = Stack(tree, work / f"{number}-{side}-concurrent")
        rows = asyncio.run(_load([stacks[side].port for side in order], seed=number))
    finally:
        for stack in stacks.values():
            stack.stop()
    record["concurrent"] = {side: _figures(rows[stacks[side].port]) for side in trees}
    record["order"] = "".join(order)
    record["sequential"] = {}
    for side in order:
        stack = Stack(trees[side], work / f"{number}-{side}-sequential")
        try:
            rows = asyncio.run(_load([stack.port], seed=1000 + number))
        finally:
            stack.stop()
        record["sequential"][side] = _figures(rows[stack.port])
    return record


def summary(paths: list[Path]) -> str:
    lines = []
    for path in paths:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        lines.append(f"{path} ({len(rows)} trials): B − A of the signup p50, ms")
        for way in ("concurrent", "sequential"):
            diffs = [r[way]["B"]["p50"] - r[way]["A"]["p50"] for r in rows]
            a = [r[way]["A"]["p50"] for r in rows]
            spread = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
            lines.append(
                f"  {way:<10}: mean {statistics.mean(diffs):+.2f}, sd {spread:.2f}, "
                f"B worse in {sum(d > 0 for d in diffs)} of {len(diffs)}, "
                f"range {min(diffs):+.2f} … {max(diffs):+.2f}; "
                f"A's p50 {min(a):.2f} … {max(a):.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--summary"]:
        print(summary([Path(p) for p in argv[1:]]))
        return 0
    if len(argv) != 4:
        print(__doc__)
        return 2
    trees = {"A": Path(argv[0]).resolve(), "B": Path(argv[1]).resolve()}
    trials, out = int(argv[2]), Path(argv[3])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interleave-probe-") as work:
        for number in range(trials):
            record = trial(number, trees, Path(work))
            with out.open("a") as file:
                file.write(json.dumps(record) + "\n")
            c, s = record["concurrent"], record["sequential"]
            print(
                f"trial {number + 1}/{trials}: concurrent B − A "
                f"{c['B']['p50'] - c['A']['p50']:+.2f} ms, sequential "
                f"{s['B']['p50'] - s['A']['p50']:+.2f} ms",
                flush=True,
            )
    print(summary([out]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
