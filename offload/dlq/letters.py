"""One dead letter: what a message in the dead-letter queue says about its job, and the
copy a replay publishes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions

from offload.errors import OffloadError, ProvisioningError
from offload.provisioning.amqp import check_loopback_amqp_url
from offload.provisioning.broker import redact_url
from offload.target.reference import WelcomeEmailJob

if TYPE_CHECKING:  # a job record travels with a letter only in reports
    from offload.dlq.jobs import JobRecord

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: the job_events detail of a replay, so a job's history shows where the extra attempt came from
REPLAY_DETAIL = "replayed from the dead-letter queue"
#: what the broker and the worker wrote about the previous life; a replayed copy starts afresh
_HISTORY_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-reason",
        "x-first-death-queue",
        "x-first-death-exchange",
        "x-last-death-reason",
        "x-last-death-queue",
        "x-last-death-exchange",
        "x-delivery-count",
        "x-last-error",
    }
)
#: outcomes of a replay that did what was asked


class DeadLetterInputError(OffloadError):
    """The request cannot be carried out as given (URL, queue prefix, database); exit code 2."""

    exit_code = 2


class PublishRefused(Exception):
    """The broker did not confirm a replayed copy (nack, unroutable, or connection lost)."""


def resolve_amqp_url(url: str | None) -> str:
    """``url``, else ``AMQP_URL``, else the local broker; refused unless on a loopback host."""
    url = url or os.environ.get("AMQP_URL", "").strip() or DEFAULT_AMQP_URL
    try:
        check_loopback_amqp_url(url, origin="the AMQP URL")
    except ProvisioningError as exc:
        raise DeadLetterInputError(str(exc).replace(url, redact_url(url))) from exc
    return url


# -- one dead letter ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """One message of the dead-letter queue, read but not acknowledged."""

    #: 1 = the oldest (the head of the queue)
    position: int
    job_id: str | None
    user_id: str | None
    email: str | None
    correlation_id: str | None
    #: the x-attempt header: the attempt that ended in the dead-letter queue
    attempts: int | None
    #: why the broker dead-lettered it: rejected (the worker gave up), delivery_limit (it kept
    #: crashing workers), expired, maxlen
    reason: str | None
    #: the queue it died in
    died_in: str | None
    died_at: datetime | None
    created_at: datetime | None
    #: the worker's error before the final attempt (x-last-error; absent after one attempt)
    last_error: str | None
    #: how often it was replayed before
    replays: int
    #: why the body is not a job (such a message is never replayed)
    malformed: str | None
    body: bytes = field(repr=False)
    properties: pika.BasicProperties = field(repr=False)
    delivery_tag: int = field(repr=False)

    def to_json(self, job: JobRecord | None = None) -> dict[str, Any]:
        return {
            "position": self.position,
            "job_id": self.job_id,
            "user_id": self.user_id,
            "email": self.email,
            "correlation_id": self.correlation_id,
            "attempts": self.attempts,
            "reason": self.reason,
            "died_in": self.died_in,
            "died_at": _iso(self.died_at),
            "created_at": _iso(self.created_at),
            "last_error": self.last_error,
            "replays": self.replays,
            "malformed": self.malformed,
            "job": job.to_json() if job else None,
        }


def read_dead_letter(
    position: int, method: Any, properties: pika.BasicProperties, body: bytes
) -> DeadLetter:
    """Everything the message says about its job and its death (x-death, most recent first)."""
    headers = properties.headers or {}
    deaths = headers.get("x-death")
    last_death = deaths[0] if isinstance(deaths, list) and deaths else {}
    last_death = last_death if isinstance(last_death, dict) else {}
    reason = (
        _text(last_death.get("reason"))
        or _text(headers.get("x-last-death-reason"))
        or _text(headers.get("x-first-death-reason"))
    )
    died_in = _text(last_death.get("queue")) or _text(headers.get("x-first-death-queue"))
    died_at = last_death.get("time")
    job: WelcomeEmailJob | None = None
    malformed = None
    try:
        job = WelcomeEmailJob.from_bytes(body)
    except ValueError as exc:  # JSON, UTF-8 and pydantic errors are all ValueErrors
        malformed = f"not a job: {str(exc).splitlines()[0][:120]}"
    created = job.created_at if job else properties.timestamp
    return DeadLetter(
        position=position,
        job_id=job.job_id if job else properties.message_id,
        user_id=job.user_id if job else None,
        email=job.email if job else None,
        correlation_id=job.correlation_id if job else properties.correlation_id,
        attempts=_int(headers.get("x-attempt")),
        reason=reason,
        died_in=died_in,
        died_at=died_at if isinstance(died_at, datetime) else None,
        created_at=datetime.fromtimestamp(created, UTC) if created else None,
        last_error=_text(headers.get("x-last-error")),
        replays=_int(headers.get("x-replays")) or 0,
        malformed=malformed,
        body=body,
        properties=properties,
        delivery_tag=method.delivery_tag,
    )


def replay_copy(letter: DeadLetter) -> pika.BasicProperties:
    """Properties of the replayed copy: the same job, attempt 1, its death history dropped."""
    original = letter.properties
    headers = {k: v for k, v in (original.headers or {}).items() if k not in _HISTORY_HEADERS}
    headers["x-attempt"] = 1
    headers["x-replays"] = letter.replays + 1
    return pika.BasicProperties(
        content_type=original.content_type,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=original.message_id,
        correlation_id=original.correlation_id,
        type=original.type,
        timestamp=original.timestamp,
        headers=headers,
    )


# -- small helpers -----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
