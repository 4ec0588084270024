"""The async design's worker: takes welcome-email jobs off the queue and sends them.

Each worker process holds up to ``prefetch`` unacknowledged jobs and works on all of them at
once (the provider call is the slow part and it is awaited, not blocked on). For every job:

1. look the job up (``start_attempt``): gone → the signup was undone, ack and skip;
   already delivered or dead-lettered → a redelivered copy, ack and skip;
2. call the provider with ``Idempotency-Key: <job_id>`` (the provider dedupes, so a copy
   redelivered after a crash is counted as a duplicate attempt, never as a second email);
3. accepted → record ``delivered``, ack;
   transient failure with attempts left → publish a copy to the retry tier for its delay
   (confirmed), record ``retrying``, ack;
   permanent failure or attempts exhausted → record ``dead_lettered``, reject: the broker
   moves the message to the dead-letter queue.

The state is recorded before the ack, so a crash between the two redelivers a job that the
next attempt recognises as finished. The database writes of jobs that reach a step together
(an attempt starting, or ending) share one transaction, and their acks one frame when they can
(``batching.py``): what a job costs in CPU then falls as the rate rises, instead of starving
the API.

SIGTERM stops consuming and lets the jobs in hand finish (bounded); a second SIGTERM stops at
once, leaving unacknowledged jobs to the broker.

Run: ``python -m targets.async_api.worker`` (configured by ``OFFLOAD_*`` variables).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import pika
from pika.channel import Channel

from targets.async_api.amqp import AmqpClient, ConfirmingPublisher, open_channel, set_prefetch
from targets.async_api.batching import Acker, WriteBatcher
from targets.async_api.topology import ROUTING_KEY, Topology, declare_topology
from targets.common import tracing
from targets.common.email import (
    Outcome,
    SendResult,
    WelcomeEmail,
    provider_session,
    send_welcome_email_async,
)
from targets.common.jobs import JobState, WelcomeEmailJob
from targets.common.metrics import (
    ATTEMPTS,
    DEAD_LETTERED,
    JOBS,
    RETRIES,
    SEND_DURATION,
    count,
    serve_metrics_port,
    timed,
)
from targets.common.settings import TargetSettings
from targets.common.store import AttemptOutcome, Job, UserStore, make_engine

log = logging.getLogger("offload.worker")

#: what the worker writes for a job: an attempt that starts (job id, attempt) or one that ended
JobStep = tuple[str, int] | AttemptOutcome


class Worker:
    #: the provider's client, made by :meth:`run` (an aiohttp session belongs to its loop)
    http: aiohttp.ClientSession

    def __init__(self, settings: TargetSettings) -> None:
        self.settings = settings
        self.topology = Topology(settings.queue_prefix, settings.retry_delays_s)
        self.store = UserStore(make_engine(settings.database_url, settings.db_schema))
        # one batcher for both steps of a job: attempts that start and attempts that ended
        # share a transaction (profiled at 300 jobs/s with a batcher per step: beginning and
        # committing transactions and the hops to and from the writer thread were about a
        # fifth of a worker's samples; docs/performance.md)
        self.steps: WriteBatcher[JobStep, Job | None] = WriteBatcher(
            self._write_steps, name="job-steps"
        )
        self.amqp = AmqpClient(
            settings.amqp_url, name=f"offload-worker-{os.getpid()}", on_connected=self._on_connected
        )
        self._consume_channel: Channel | None = None
        self._acker: Acker | None = None
        self._consumer_tag: str | None = None
        self._retry_publisher: ConfirmingPublisher | None = None
        self._in_hand: set[asyncio.Task[None]] = set()
        self.stop_requested = asyncio.Event()
        self.counts: Counter[str] = Counter()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until asked to stop, then finish the jobs in hand and close."""
        # made here, not in __init__: an aiohttp session belongs to the running loop
        self.http = provider_session(
            self.settings.provider_url,
            timeout_s=self.settings.provider_timeout_s,
            connections=self.settings.prefetch,
        )
        if self.settings.declare_topology:
            try:
                await asyncio.to_thread(declare_topology, self.settings.amqp_url, self.topology)
            except Exception as exc:
                log.warning("could not declare the topology at start: %s", exc)
        self.amqp.start()
        reporter = asyncio.create_task(self._report_every(10.0))
        try:
            await self.stop_requested.wait()
            log.info("stop requested: no new jobs; finishing %d in hand", len(self._in_hand))
            await self._stop_consuming()
            if self._in_hand:
                bound = self.settings.provider_timeout_s + self.settings.publish_timeout_s + 5
                _done, left = await asyncio.wait(self._in_hand, timeout=bound)
                if left:
                    log.warning(
                        "%d job(s) unfinished after %.0fs; the broker will redeliver them",
                        len(left),
                        bound,
                    )
        finally:
            reporter.cancel()
            await self.amqp.stop()
            await self.http.close()
            self.steps.close()
            log.info("done, quitting (%s)", self._summary())

    async def _on_connected(self, connection: Any) -> None:
        publish_channel = await open_channel(connection)
        self._retry_publisher = ConfirmingPublisher(publish_channel)
        channel = await open_channel(connection)
        await set_prefetch(channel, self.settings.prefetch)
        if self.stop_requested.is_set():
            return
        self._consume_channel = channel
        self._acker = Acker(channel)
        self._consumer_tag = channel.basic_consume(
            self.topology.work_queue, self._on_message, auto_ack=False
        )
        log.info("consuming %s (prefetch %d)", self.topology.work_queue, self.settings.prefetch)

    def _on_message(self, channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        acker = self._acker
        if acker is None or acker.channel is not channel:  # pragma: no cover - pika's order
            acker = self._acker = Acker(channel)
        acker.received(method.delivery_tag)
        task = asyncio.get_running_loop().create_task(
            self._handle(acker, method.delivery_tag, properties, body)
        )
        self._in_hand.add(task)
        task.add_done_callback(self._in_hand.discard)

    async def _stop_consuming(self) -> None:
        channel, tag = self._consume_channel, self._consumer_tag
        if channel is None or tag is None or not channel.is_open:
            return
        cancelled: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        channel.basic_cancel(tag, callback=cancelled.set_result)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cancelled, 5)

    # -- one job -------------------------------------------------------------------------------
    async def _handle(self, acker: Acker, tag: int, properties: Any, body: bytes) -> None:
        try:
            job = WelcomeEmailJob.from_bytes(body)
        except ValueError as exc:
            log.warning("malformed message dead-lettered: %s", exc)
            self._settle(acker, tag, ack=False, outcome="malformed")
            return
        headers = properties.headers or {}
        attempt = int(headers.get("x-attempt", 1))
        # one span per attempt, continuing the trace the API put in the message's headers
        parent = tracing.extract(headers)
        try:
            with tracing.current_span(
                f"process {ROUTING_KEY}",
                "consumer",
                parent,
                job_id=job.job_id,
                attempt=attempt,
            ):
                await self._work_on(acker, tag, job, attempt, properties, body)
        except Exception:
            # a broken database or similar: leave the job to the broker (redelivered later,
            # up to the queue's delivery limit) rather than lose it
            log.exception("job %s failed unexpectedly; requeued", job.job_id)
            self._settle(acker, tag, ack=False, requeue=True, outcome="requeued")

    async def _work_on(
        self,
        acker: Acker,
        tag: int,
        job: WelcomeEmailJob,
        attempt: int,
        properties: Any,
        body: bytes,
    ) -> None:
        row = await self.steps.submit((job.job_id, attempt))
        if row is None:
            self._settle(acker, tag, ack=True, outcome="skipped_undone")
            return
        if row.state.finished:
            self._settle(acker, tag, ack=True, outcome="skipped_finished")
            return
        count(ATTEMPTS)
        sent = ["unknown"]
        with timed(SEND_DURATION, sent):
            result = await self._send(job, attempt)
            sent[0] = result.outcome.value
        if result.outcome.accepted:
            await self.steps.submit(AttemptOutcome(job.job_id, JobState.DELIVERED, attempt))
            self._settle(acker, tag, ack=True, outcome=result.outcome.value)
        elif result.outcome is Outcome.TRANSIENT and attempt < self.settings.max_attempts:
            if await self._schedule_retry(job, attempt, result, properties, body):
                await self.steps.submit(
                    AttemptOutcome(job.job_id, JobState.RETRYING, attempt, result.detail)
                )
                count(RETRIES)
                self._settle(acker, tag, ack=True, outcome="retried")
            else:
                self._settle(acker, tag, ack=False, requeue=True, outcome="requeued")
        else:
            reason = (
                result.detail
                if result.outcome is Outcome.PERMANENT
                else f"gave up after {attempt} attempts: {result.detail}"
            )
            await self.steps.submit(
                AttemptOutcome(job.job_id, JobState.DEAD_LETTERED, attempt, reason)
            )
            self._settle(acker, tag, ack=False, outcome="dead_lettered")

    async def _send(self, job: WelcomeEmailJob, attempt: int) -> SendResult:
        return await send_welcome_email_async(
            self.http,
            WelcomeEmail(
                user_id=job.user_id,
                email=job.email,
                correlation_id=job.correlation_id,
                idempotency_key=job.job_id,
                job_id=job.job_id,
                attempt=attempt,
            ),
        )

    async def _schedule_retry(
        self, job: WelcomeEmailJob, attempt: int, result: SendResult, properties: Any, body: bytes
    ) -> bool:
        """Publish a copy for the next attempt to the retry tier of its delay; confirmed."""
        delay = max(self.settings.retry_delay(attempt + 1), result.retry_after_s or 0.0)
        publisher = self._retry_publisher
        if publisher is None or not publisher.usable:
            return False
        retry_properties = pika.BasicProperties(
            content_type=properties.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=job.job_id,
            correlation_id=job.correlation_id,
            type=properties.type,
            timestamp=properties.timestamp,
            headers={
                **(properties.headers or {}),
                "x-attempt": attempt + 1,
                "x-last-error": result.detail[:200],
            },
        )
        try:
            await publisher.publish(
                self.topology.retry_exchange,
                self.topology.retry_route(delay),
                body,
                retry_properties,
                timeout=self.settings.publish_timeout_s,
            )
        except Exception as exc:
            log.warning(
                "could not schedule retry of job %s (%s); requeued instead", job.job_id, exc
            )
            return False
        return True

    def _write_steps(self, steps: list[JobStep]) -> list[Job | None]:
        """A batch of both steps in one transaction: each attempt that starts gets its job
        (None: gone), each recorded outcome None."""
        attempts = [step for step in steps if not isinstance(step, AttemptOutcome)]
        outcomes = [step for step in steps if isinstance(step, AttemptOutcome)]
        started = iter(self.store.record_job_steps(attempts, outcomes))
        return [None if isinstance(step, AttemptOutcome) else next(started) for step in steps]

    def _settle(
        self, acker: Acker, tag: int, *, ack: bool, outcome: str, requeue: bool = False
    ) -> None:
        """Ack or reject on the channel the message came from, if it is still open (if not,
        the broker redelivers it and the next attempt sees its recorded state)."""
        self.counts[outcome] += 1
        count(JOBS, outcome)
        tracing.set_current_attribute("offload.outcome", outcome)
        if outcome in ("dead_lettered", "malformed"):  # rejected without requeue: to the DLQ
            count(DEAD_LETTERED)
        if ack:
            acker.ack(tag)
        else:
            acker.reject(tag, requeue=requeue)

    # -- reporting -------------------------------------------------------------------------------
    def _summary(self) -> str:
        return (
            ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items())) or "no jobs"
        )

    async def _report_every(self, seconds: float) -> None:
        last = Counter(self.counts)
        while True:
            await asyncio.sleep(seconds)
            delta = self.counts - last
            if delta:
                log.info(
                    "last %.0fs: %s; in hand %d",
                    seconds,
                    ", ".join(f"{k} {v}" for k, v in sorted(delta.items())),
                    len(self._in_hand),
                )
            last = Counter(self.counts)


def _install_signals(worker: Worker) -> None:
    """First SIGTERM/SIGINT: finish the jobs in hand. Second: exit now."""
    loop = asyncio.get_running_loop()
    stops = 0

    def _on_signal(signum: int) -> None:
        nonlocal stops
        stops += 1
        if stops == 1:
            log.info(
                "received %s: finishing jobs in hand (send again to stop now)",
                signal.Signals(signum).name,
            )
            worker.stop_requested.set()
        else:
            log.warning(
                "received %s again: stopping now; unacknowledged jobs go back to the queue",
                signal.Signals(signum).name,
            )
            os._exit(1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum)


async def _main() -> None:
    serve_metrics_port()
    tracing.setup("worker")
    worker = Worker(TargetSettings())
    _install_signals(worker)
    await worker.run()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    started = time.monotonic()
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(_main())
    log.info("worker ran %.1fs", time.monotonic() - started)


if __name__ == "__main__":
    main()
