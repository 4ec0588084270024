"""The dead-letter queue itself: read without consuming, republish, acknowledge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from offload.dlq.letters import (
    DeadLetter,
    DeadLetterInputError,
    PublishRefused,
    read_dead_letter,
    replay_copy,
)
from offload.errors import ProvisioningError
from offload.provisioning.amqp import bounded_parameters, quiet_pika
from offload.provisioning.broker import redact_url
from offload.target.reference import ROUTING_KEY, Topology

# -- the queue ---------------------------------------------------------------------------------


class DeadLetterQueue:
    """One broker connection holding read-but-unacknowledged dead letters of one design.

    Closing it hands back every letter not removed. Reads stop at the depth seen on opening,
    so copies that die again while a replay runs are not read (and replayed) a second time.
    """

    def __init__(self, amqp_url: str, queue_prefix: str, *, timeout: float = 5.0) -> None:
        self.url = amqp_url
        self.topology = Topology(queue_prefix, (1.0,))
        self._connection = _connect(amqp_url, timeout)
        self._publisher: BlockingChannel | None = None
        try:
            self._reader = self._connection.channel()
            self.depth = self._passive_depth()
        except BaseException:
            self.close()
            raise

    @property
    def queue(self) -> str:
        return self.topology.dead_queue

    def _passive_depth(self) -> int:
        try:
            declared = self._reader.queue_declare(self.queue, passive=True)
            return int(declared.method.message_count)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise DeadLetterInputError(
                    f"the broker at {redact_url(self.url)} has no queue {self.queue!r}: check "
                    "--queue-prefix (the designs default to 'offload'; `offload up` uses "
                    "'offload.up.async')"
                ) from exc
            raise self._lost(exc) from exc
        except pika.exceptions.AMQPError as exc:
            raise self._lost(exc) from exc

    def letters(self, limit: int | None = None) -> Iterator[DeadLetter]:
        """Dead letters oldest first, each held unacknowledged until removed or closed."""
        bound = self.depth if limit is None else min(limit, self.depth)
        for position in range(1, bound + 1):
            try:
                method, properties, body = self._reader.basic_get(self.queue, auto_ack=False)
            except pika.exceptions.AMQPError as exc:
                raise self._lost(exc) from exc
            if method is None:  # someone else took the rest meanwhile
                return
            yield read_dead_letter(position, method, properties, body)

    def republish(self, letter: DeadLetter) -> None:
        """Publish a fresh copy to the jobs exchange; returns once the broker confirmed it."""
        try:
            if self._publisher is None:
                self._publisher = self._connection.channel()
                self._publisher.confirm_delivery()
            self._publisher.basic_publish(
                self.topology.jobs_exchange,
                ROUTING_KEY,
                letter.body,
                replay_copy(letter),
                mandatory=True,
            )
        except pika.exceptions.UnroutableError as exc:
            raise PublishRefused(
                f"no queue is bound to {self.topology.jobs_exchange} for {ROUTING_KEY!r}"
            ) from exc
        except pika.exceptions.NackError as exc:
            raise PublishRefused("the broker refused the copy (nack)") from exc
        except pika.exceptions.AMQPError as exc:
            raise PublishRefused(f"the copy's outcome is unknown: {_reason(exc)}") from exc

    def remove(self, letter: DeadLetter) -> None:
        """Acknowledge (delete) a dead letter."""
        try:
            self._reader.basic_ack(letter.delivery_tag)
        except pika.exceptions.AMQPError as exc:
            raise self._lost(exc) from exc

    def close(self) -> None:
        """Close the connection: the broker takes back every letter not removed."""
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            if self._connection.is_open:
                self._connection.close()

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _lost(self, exc: BaseException) -> ProvisioningError:
        return ProvisioningError(
            f"lost the connection to the broker at {redact_url(self.url)}: {_reason(exc)} "
            "(unacknowledged dead letters went back to the queue)"
        )


def _connect(url: str, timeout: float) -> pika.BlockingConnection:
    try:
        params = bounded_parameters(url, timeout)
    except Exception as exc:  # pika raises assorted errors for bad URLs
        raise DeadLetterInputError(f"not a usable AMQP URL {redact_url(url)}: {exc}") from exc
    params.blocked_connection_timeout = timeout * 2
    params.heartbeat = 10
    params.client_properties = {"connection_name": "offload-dlq"}
    with quiet_pika():
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.ProbableAuthenticationError as exc:
            raise ProvisioningError(
                f"the broker at {redact_url(url)} refused the credentials: {_reason(exc)}"
            ) from exc
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise ProvisioningError(
                f"the broker at {redact_url(url)} did not answer within {timeout:g} s "
                f"({_reason(exc)}); is it running? (set --amqp-url or AMQP_URL)"
            ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
