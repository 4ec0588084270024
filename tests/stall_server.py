"""A tiny HTTP server that answers at once, except during periodic stalls — or never.

It exists to test the open-loop generator against a known truth: every response is
held until the end of the stall window that contains its arrival, so for a request
scheduled at ``s`` the true latency is ``max(s, stall_end(s)) - s`` plus about a
millisecond. Stall windows are ``[epoch + k * period, epoch + k * period + stall)``, with
``epoch`` passed in (epoch seconds) so the test knows them without asking the server.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for Locust's
FastHttpSession, and answers like the signup API: ``POST /users`` gives 201 with an ``id``.

    python -m tests.stall_server --port 8123 --period 10 --stall 1 --epoch 1712345678.0
    python -m tests.stall_server --port 8123 --hang          # accept, read, never answer
    python -m tests.stall_server --port 8123 --status 500    # every answer is a 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
import uuid

REASONS = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error"}


class StallClock:
    """Which stall window (if any) contains an instant, in epoch seconds."""

    def __init__(self, epoch: float, period: float, stall: float) -> None:
        self.epoch = epoch
        self.period = period
        self.stall = stall

    def stall_end(self, t: float) -> float | None:
        """End of the stall window containing ``t``, or None when ``t`` is outside every stall."""
        if self.stall <= 0 or self.period <= 0:
            return None
        k = math.floor((t - self.epoch) / self.period)
        start = self.epoch + k * self.period
        return start + self.stall if start <= t < start + self.stall else None


def _answer(method: str, path: str, body: bytes, status: int | None) -> tuple[int, bytes]:
    if method == "POST" and path == "/users":
        try:
            sent = json.loads(body or b"{}")
        except ValueError:
            sent = {}
        payload = {"id": uuid.uuid4().hex, **{k: sent.get(k) for k in ("email", "display_name")}}
        code = 201
    elif method == "GET" and path.startswith("/users/"):
        payload, code = {"id": path.removeprefix("/users/")}, 200
    else:
        payload, code = {"status": "ok"}, 200
    if status is not None:
        code = status
    return code, json.dumps(payload).encode()


async def _serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    clock: StallClock,
    hang: bool,
    status: int | None,
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if hang:
                await asyncio.Event().wait()  # never answers; the client must time out
            end = clock.stall_end(arrived)
            if end is not None:
                await asyncio.sleep(end - time.time())
            code, payload = _answer(method, path, body, status)
            writer.write(
                f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: keep-alive\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, clock: StallClock, hang: bool, status: int | None) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, clock, hang, status), host, port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--period", type=float, default=10.0, help="seconds between stall starts")
    parser.add_argument("--stall", type=float, default=0.0, help="seconds each stall lasts")
    parser.add_argument("--epoch", type=float, default=None, help="a stall starts here (epoch s)")
    parser.add_argument("--hang", action="store_true", help="never answer")
    parser.add_argument("--status", type=int, default=None, help="answer every request with it")
    args = parser.parse_args(argv)
    clock = StallClock(
        args.epoch if args.epoch is not None else time.time(), args.period, args.stall
    )
    try:
        import uvloop  # the generator's self-measurement needs a server that keeps up

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.host, args.port, clock, args.hang, args.status))


if __name__ == "__main__":
    main()
