"""The RabbitMQ topology of the async design: names, and one idempotent declaration.

    {p}.jobs (direct) ──welcome_email──▶ {p}.welcome_email   quorum queue, the work queue
         ▲                                   │ reject (permanent failure, or the
         │ TTL expires (dead-letter back)    │ delivery limit after repeated crashes)
    {p}.welcome_email.retry.<ms>             ▼
         ▲ classic queue, x-message-ttl    {p}.dead (direct) ──▶ {p}.welcome_email.dead
         │                                   the dead-letter queue
    {p}.retry (direct, routing key "<ms>") ◀── worker publishes a failed job for retry n

Retries use one TTL queue per delay, so a job waiting 4 s never holds back one waiting 0.5 s
(per-message TTLs in a single queue only expire at its head). The work queue is a quorum queue
so ``x-delivery-limit`` dead-letters a message that keeps crashing workers instead of looping
forever. Everything is durable and every message persistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from targets.common import tracing
from targets.common.jobs import JOB_TYPE, WelcomeEmailJob

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from targets.async_api.amqp import ConfirmingPublisher

ROUTING_KEY = "welcome_email"
#: redeliveries (worker crash, lost connection) before the broker dead-letters a message
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class Topology:
    prefix: str
    retry_delays_s: tuple[float, ...]

    @property
    def jobs_exchange(self) -> str:
        return f"{self.prefix}.jobs"

    @property
    def work_queue(self) -> str:
        return f"{self.prefix}.welcome_email"

    @property
    def retry_exchange(self) -> str:
        return f"{self.prefix}.retry"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.welcome_email.dead"

    @property
    def retry_delays_ms(self) -> list[int]:
        return sorted({max(1, round(delay * 1000)) for delay in self.retry_delays_s})

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.prefix}.welcome_email.retry.{delay_ms}ms"

    def retry_route(self, delay_s: float) -> str:
        """Routing key on the retry exchange for the tier closest to ``delay_s`` (not below it)."""
        wanted = max(1, round(delay_s * 1000))
        tiers = self.retry_delays_ms
        return str(next((ms for ms in tiers if ms >= wanted), tiers[-1]))

    def queues(self) -> list[str]:
        """Every queue of the topology, work queue first."""
        return [
            self.work_queue,
            *(self.retry_queue(ms) for ms in self.retry_delays_ms),
            self.dead_queue,
        ]

    def declare(self, channel: BlockingChannel) -> None:
        """Declare exchanges, queues and bindings; safe to repeat with the same settings."""
        for exchange in (self.jobs_exchange, self.retry_exchange, self.dead_exchange):
            channel.exchange_declare(exchange, exchange_type="direct", durable=True)
        work_args: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": self.dead_exchange,
            "x-dead-letter-routing-key": ROUTING_KEY,
        }
        channel.queue_declare(self.work_queue, durable=True, arguments=work_args)
        channel.queue_bind(self.work_queue, self.jobs_exchange, routing_key=ROUTING_KEY)
        channel.queue_declare(self.dead_queue, durable=True)
        channel.queue_bind(self.dead_queue, self.dead_exchange, routing_key=ROUTING_KEY)
        for delay_ms in self.retry_delays_ms:
            queue = self.retry_queue(delay_ms)
            channel.queue_declare(
                queue,
                durable=True,
                arguments={
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": self.jobs_exchange,
                    "x-dead-letter-routing-key": ROUTING_KEY,
                },
            )
            channel.queue_bind(queue, self.retry_exchange, routing_key=str(delay_ms))

    def depths(self, channel: BlockingChannel) -> dict[str, int]:
        """Ready messages per queue, exact (a passive declare; the management API lags)."""
        return {
            queue: channel.queue_declare(queue, passive=True).method.message_count
            for queue in self.queues()
        }

    def delete(self, channel: BlockingChannel) -> None:
        """Remove the topology (the harness cleans up a run's queues on a shared broker)."""
        for queue in self.queues():
            channel.queue_delete(queue)
        for exchange in (self.jobs_exchange, self.retry_exchange, self.dead_exchange):
            channel.exchange_delete(exchange)


def blocking_connection(amqp_url: str, timeout: float = 5.0) -> pika.BlockingConnection:
    """A short-lived blocking connection with every wait bounded."""
    params = pika.URLParameters(amqp_url)
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


def declare_topology(amqp_url: str, topology: Topology) -> None:
    with blocking_connection(amqp_url) as connection:
        topology.declare(connection.channel())


def main(argv: list[str] | None = None) -> int:
    """``python -m targets.async_api.topology declare|queues|delete`` (configured by OFFLOAD_*).

    The harness runs these from the target's manifest, so it never needs to know this
    design's queue names: ``queues`` prints ``<name> <role>`` lines (role: work, retry, dead).
    """
    import argparse

    from targets.common.settings import TargetSettings

    parser = argparse.ArgumentParser(prog="python -m targets.async_api.topology")
    parser.add_argument("action", choices=["declare", "queues", "delete"])
    args = parser.parse_args(argv)
    settings = TargetSettings()
    topology = Topology(settings.queue_prefix, settings.retry_delays_s)
    if args.action == "queues":
        print(f"{topology.work_queue} work")
        for delay_ms in topology.retry_delays_ms:
            print(f"{topology.retry_queue(delay_ms)} retry")
        print(f"{topology.dead_queue} dead")
        return 0
    with blocking_connection(settings.amqp_url) as connection:
        channel = connection.channel()
        if args.action == "declare":
            topology.declare(channel)
        else:
            topology.delete(channel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def first_publish_properties(job: WelcomeEmailJob) -> pika.BasicProperties:
    """The AMQP properties of a job's first publish onto the jobs exchange: persistent, its id
    as the message id (what the worker and the provider dedupe on), attempt 1."""
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=job.job_id,
        correlation_id=job.correlation_id,
        type=JOB_TYPE,
        timestamp=int(job.created_at),
        headers={"x-attempt": 1},
    )


async def publish_first(
    publisher: ConfirmingPublisher,
    exchange: str,
    job: WelcomeEmailJob,
    body: bytes,
    timeout: float,
    parent: Context | None = None,
) -> None:
    """A job's first publish onto the jobs exchange, confirmed, as one producer span whose
    ``traceparent`` rides in the message's headers (the worker's attempts continue it).
    ``parent``: the trace to continue when it is not the current one (the outbox relay
    publishes a signup's message long after its request ended)."""
    properties = first_publish_properties(job)
    with tracing.current_span(f"publish {ROUTING_KEY}", "producer", parent, job_id=job.job_id):
        tracing.inject(properties.headers)
        await publisher.publish(exchange, ROUTING_KEY, body, properties, timeout=timeout)
