"""The welcome-email job: its payload on the queue and the states it moves through."""

from __future__ import annotations

import json
import time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

JOB_TYPE = "SEND_WELCOME_EMAIL"


class JobState(StrEnum):
    """Where a job is; ``GET /jobs/{id}`` reports it."""

    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"

    @property
    def finished(self) -> bool:
        return self in (JobState.DELIVERED, JobState.DEAD_LETTERED)


class WelcomeEmailJob(BaseModel):
    """What travels on the queue: enough to send the email without reading the database."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str = JOB_TYPE
    job_id: str
    user_id: str
    email: str
    correlation_id: str
    created_at: float
    #: the W3C ``traceparent`` of the signup that made the job, when tracing is on and the
    #: job waits in a table before it is published (the outbox): the relay's publish then
    #: continues the signup's trace. Left out of the body when absent.
    traceparent: str | None = Field(None, exclude_if=lambda value: value is None)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> WelcomeEmailJob:
        """Parse a message body; raises ``ValueError`` for a malformed one (a poison message)."""
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("type") != JOB_TYPE:
            raise ValueError(f"not a {JOB_TYPE} message")
        return cls.model_validate(data)

    @classmethod
    def new(cls, *, job_id: str, user_id: str, email: str, correlation_id: str) -> WelcomeEmailJob:
        return cls(
            job_id=job_id,
            user_id=user_id,
            email=email,
            correlation_id=correlation_id,
            created_at=time.time(),
        )
