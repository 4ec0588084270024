"""The outbox design's relay: publishes the outbox's messages to the broker, then marks them.

One loop, one process: read the oldest ``relay_batch`` unpublished rows, publish each
(persistent, mandatory, publisher-confirmed: the async design's message, on the async design's
topology), and mark published only the rows whose confirm came back. A row whose publish
failed or timed out stays unpublished and goes out again in a later round. So delivery to the
queue is at least once: a row published but not marked (the relay killed between the confirm
and the commit, or a confirm lost with the connection) is published again, and the copy is
absorbed downstream — the worker acks a job already finished, and the provider dedupes on the
job id.

When the outbox is empty the relay looks again after ``relay_poll_interval_s``; after a full
batch, at once. While the broker is down or blocking publishers the relay publishes nothing
and the rows wait in the database; the connection reopens by itself (``amqp.py``) and the
backlog drains. One relay runs (no row locks): several would need to split the rows, with
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL held across the publish.

SIGTERM: finish the round in hand (its publishes are bounded by ``publish_timeout_s``), then
exit. Run: ``python -m targets.outbox.relay`` (configured by ``OFFLOAD_*`` variables).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from targets.async_api.amqp import AmqpClient, ConfirmingPublisher, PublishFailed, open_channel
from targets.async_api.topology import (
    Topology,
    declare_topology,
    publish_first,
)
from targets.common import tracing
from targets.common.jobs import WelcomeEmailJob
from targets.common.metrics import ENABLED as METRICS_ENABLED
from targets.common.metrics import (
    RELAY_BACKLOG,
    RELAY_FAILED,
    RELAY_PUBLISHED,
    count,
    serve_metrics_port,
    set_gauge,
)
from targets.common.settings import TargetSettings
from targets.common.store import OutboxMessage, OutboxStore, make_engine

log = logging.getLogger("offload.relay")


class Relay:
    def __init__(self, settings: TargetSettings) -> None:
        self.settings = settings
        self.topology = Topology(settings.queue_prefix, settings.retry_delays_s)
        self.store = OutboxStore(make_engine(settings.database_url, settings.db_schema))
        # one thread for the database, so a write waiting on SQLite's lock never stalls the
        # event loop where pika's heartbeats and confirms run
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self._publisher: ConfirmingPublisher | None = None
        self.amqp = AmqpClient(
            settings.amqp_url,
            name=f"offload-outbox-relay-{os.getpid()}",
            on_connected=self._on_connected,
        )
        self.amqp.on_lost(self._on_lost)
        self.stop_requested = asyncio.Event()
        self.counts: Counter[str] = Counter()

    async def _on_connected(self, connection: Any) -> None:
        self._publisher = ConfirmingPublisher(await open_channel(connection))

    def _on_lost(self) -> None:
        if self._publisher is not None:
            self._publisher.fail_all("connection to the broker lost")
        self._publisher = None

    async def run(self) -> None:
        """Relay rounds until asked to stop; the round in hand finishes first."""
        if self.settings.declare_topology:
            try:
                await asyncio.to_thread(declare_topology, self.settings.amqp_url, self.topology)
            except Exception as exc:  # the broker may be down at start: the rows wait
                log.warning("could not declare the topology at start: %s", exc)
        self.amqp.start()
        reporter = asyncio.create_task(self._report_every(10.0))
        try:
            while not self.stop_requested.is_set():
                full = await self.relay_once()
                if not full:
                    await self._pause(self.settings.relay_poll_interval_s)
        finally:
            reporter.cancel()
            await self.amqp.stop()
            self._db.shutdown(wait=True)
            log.info("done, quitting (%s)", self._summary())

    async def relay_once(self) -> bool:
        """One round; True when it published a full batch (more may be waiting)."""
        publisher = self._publisher
        if self.amqp.blocked or publisher is None or not publisher.usable:
            # nothing can be published: wait for the connection rather than read the table
            await self._wait_for_broker()
            return False
        batch = await self._in_db(self.store.unpublished, self.settings.relay_batch)
        if not batch:
            set_gauge(RELAY_BACKLOG, 0)
            return False
        results = await asyncio.gather(
            *(self._publish(publisher, message) for message in batch), return_exceptions=True
        )
        confirmed = [m.seq for m, result in zip(batch, results, strict=True) if result is None]
        failed = [
            (m.seq, result)
            for m, result in zip(batch, results, strict=True)
            if isinstance(result, BaseException)
        ]
        # marked even when stopping: the broker has these messages
        await self._in_db(self.store.mark_published, confirmed)
        self.counts["published"] += len(confirmed)
        count(RELAY_PUBLISHED, amount=len(confirmed))
        count(RELAY_FAILED, amount=len(failed))
        if METRICS_ENABLED:
            # a short batch was all there was; after a full one, the table says what is left
            left = (
                len(failed)
                if len(batch) < self.settings.relay_batch
                else await self._in_db(self.store.unpublished_count)
            )
            set_gauge(RELAY_BACKLOG, left)
        if failed:
            await self._in_db(self.store.count_failed_publishes, [seq for seq, _ in failed])
            self.counts["unconfirmed"] += len(failed)
            unexpected = [exc for _, exc in failed if not isinstance(exc, PublishFailed)]
            if unexpected:
                raise unexpected[0]
            log.warning(
                "%d of %d message(s) not confirmed (%s); they stay in the outbox",
                len(failed),
                len(batch),
                failed[0][1],
            )
            return False
        return len(batch) >= self.settings.relay_batch

    async def _publish(self, publisher: ConfirmingPublisher, message: OutboxMessage) -> None:
        job = WelcomeEmailJob.from_bytes(message.payload)
        # the signup's trace, stored with the message, continues here and on the queue
        await publish_first(
            publisher,
            self.topology.jobs_exchange,
            job,
            message.payload,
            timeout=self.settings.publish_timeout_s,
            parent=tracing.extract({tracing.TRACEPARENT: job.traceparent or ""}),
        )

    async def _in_db(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, call, *args)

    async def _wait_for_broker(self) -> None:
        """Until the connection is usable again, the relay is asked to stop, or 1 s passes."""
        ready = asyncio.create_task(self.amqp.wait_ready(timeout=1.0))
        stop = asyncio.create_task(self.stop_requested.wait())
        await asyncio.wait({ready, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (ready, stop):
            task.cancel()
        if self.amqp.ready.is_set() and self._publisher is None:
            await self._pause(0.05)  # connected, the channel still opening
        elif self.amqp.blocked:
            await self._pause(0.2)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_requested.wait(), seconds)

    async def _report_every(self, seconds: float) -> None:
        last = Counter(self.counts)
        while True:
            await asyncio.sleep(seconds)
            delta = self.counts - last
            if delta:
                log.info(
                    "last %.0fs: %s",
                    seconds,
                    ", ".join(f"{k} {v}" for k, v in sorted(delta.items())),
                )
            last = Counter(self.counts)

    def _summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing relayed"


def _install_signals(relay: Relay) -> None:
    """First SIGTERM/SIGINT: finish the round in hand. Second: exit now (unmarked rows are
    published again by the next relay: at least once)."""
    loop = asyncio.get_running_loop()
    stops = 0

    def _on_signal(signum: int) -> None:
        nonlocal stops
        stops += 1
        if stops == 1:
            log.info("received %s: finishing the round in hand", signal.Signals(signum).name)
            relay.stop_requested.set()
        else:
            log.warning("received %s again: stopping now", signal.Signals(signum).name)
            os._exit(1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum)


async def _main() -> None:
    serve_metrics_port()
    tracing.setup("relay")
    relay = Relay(TargetSettings())
    _install_signals(relay)
    await relay.run()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s relay[{os.getpid()}] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(_main())


if __name__ == "__main__":
    main()
