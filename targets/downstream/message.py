"""What a ``POST /emails`` request carries: its body, and the log fields taken from it.

The provider is lenient where a real one would be (unknown body fields are ignored, numeric
ids are taken as text) and strict where the ledger needs it: no recipient or no user id is a
400 with the reason, and every request, even a malformed one, gets its log line.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class EmailRequest(BaseModel):
    """``POST /emails`` body; unknown fields are ignored, as a real provider's API would."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    to: str = Field(min_length=3, max_length=254)
    user_id: str = Field(min_length=1)
    job_id: str | None = None
    correlation_id: str | None = None
    template: str = "welcome"

    @field_validator("to")
    @classmethod
    def _has_domain(cls, value: str) -> str:
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or not domain:
            raise ValueError("must be an email address like name@example.com")
        return value.strip()

    @property
    def domain(self) -> str:
        return self.to.rpartition("@")[2].lower()


def parse_email(raw: bytes | None) -> tuple[EmailRequest | None, str | None]:
    """The body, or None and the reason it is unusable."""
    if raw is None:
        return None, "body incomplete"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "body is not JSON"
    if not isinstance(data, dict):
        return None, "body must be a JSON object"
    try:
        return EmailRequest.model_validate(data), None
    except ValidationError as exc:
        reasons = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        return None, "; ".join(reasons)


def new_record(
    headers: Mapping[str, str],
    received: float,
    body: EmailRequest | None,
    raw: bytes | None,
    version: int,
) -> dict[str, Any]:
    """A delivery-log line's identifying fields, as far as the request carries them."""
    fallback: dict[str, Any] = {}
    if body is None and raw:  # log what a malformed body still says, to trace it back
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            loaded = json.loads(raw)
            fallback = loaded if isinstance(loaded, dict) else {}
    fields = body.model_dump() if body is not None else fallback

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "ts": received,
        "key": headers.get("Idempotency-Key") or None,
        "job_id": text(fields.get("job_id")),
        "user_id": text(fields.get("user_id")),
        "email": text(fields.get("to")),
        "correlation_id": headers.get("X-Request-ID") or text(fields.get("correlation_id")),
        "attempt": _attempt(headers.get("X-Attempt")),
        "profile_version": version,
        "message_id": None,
    }


def _attempt(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
