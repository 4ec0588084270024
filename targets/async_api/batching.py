"""Group a busy process's small pieces of work: database writes and acknowledgements.

Why: at a few hundred jobs per second a worker's CPU went mostly to fixed costs paid once per
job — a thread hop, a transaction and its commit for each database write, a frame for each
ack. Paid once per *batch* instead, they shrink with the load. Neither class waits to fill a
batch (that would add latency at low rates): a batch is whatever arrived while the previous
one was being written, so one job alone is written at once, and many at once share a write.

Neither weakens a guarantee: a caller's ``submit`` returns only after the batch holding its
item committed (so state is recorded before the caller acks), and an ack covering several
deliveries (``multiple=True``) is sent only when every delivery it covers is settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriteBatcher(Generic[Item, Result]):
    """Runs ``write(items) -> results`` on one thread of its own, one batch at a time.

    The thread keeps a write that waits for a database lock (SQLite's busy timeout) from
    stalling the event loop, where the broker's heartbeats and the provider calls run. A batch
    that raises fails every item in it; each caller decides what that means for its job.
    """

    def __init__(
        self,
        write: Callable[[list[Item]], Sequence[Result]],
        *,
        name: str,
        max_batch: int = 500,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        #: batches written and items in them (for the worker's periodic report)
        self.batches = 0
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` for the next batch and wait until that batch is written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            self._runner = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                items = [item for item, _ in batch]
                try:
                    results = await loop.run_in_executor(self._executor, self._write, items)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.batches += 1
                self.items += len(items)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._runner = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Acker:
    """Acknowledges the deliveries of one channel, several in one frame when it can.

    Delivery tags grow by one per delivery on a channel. ``ack(tag)`` marks a delivery
    settled; at the end of the loop iteration the longest run of settled deliveries starting
    at the oldest unsettled one goes out as one ``basic_ack(multiple=True)``, and any other
    settled ones one by one (holding them back would hold prefetch slots). A reject is sent
    at once: it must never be swallowed by a later multiple ack.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        #: unsettled delivery tags in arrival (increasing) order; dict keeps the order
        self._unsettled: dict[int, None] = {}
        self._settled: set[int] = set()
        self._flush_scheduled = False
        #: ack frames sent, and deliveries they acknowledged
        self.frames = 0
        self.acked = 0

    def received(self, tag: int) -> None:
        self._unsettled[tag] = None

    def ack(self, tag: int) -> None:
        self._settled.add(tag)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def reject(self, tag: int, *, requeue: bool) -> None:
        self._unsettled.pop(tag, None)
        self._settled.discard(tag)
        if self.channel.is_open:
            self.channel.basic_nack(tag, requeue=requeue)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self.channel.is_open:  # the broker redelivers them; their state is recorded
            self._unsettled.clear()
            self._settled.clear()
            return
        run: list[int] = []
        for tag in self._unsettled:
            if tag not in self._settled:
                break
            run.append(tag)
        if run:
            self.channel.basic_ack(run[-1], multiple=len(run) > 1)
            self.frames += 1
            self.acked += len(run)
            for tag in run:
                del self._unsettled[tag]
                self._settled.discard(tag)
        for tag in sorted(self._settled):
            self.channel.basic_ack(tag)
            self.frames += 1
            self.acked += 1
            self._unsettled.pop(tag, None)
        self._settled.clear()
