"""The signup request both designs accept, and the parsing that turns bytes into it.

Parsing is shared so that both designs give the same 4xx for the same bad input: wrong content
type → 415, body too large → 413, not JSON → 400, wrong shape → 422 naming each field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from targets.common.problems import ApiProblem, body_too_large

# Deliberately simple: one @, a dot in the domain, no whitespace. Deliverability is the
# provider's call (it rejects some domains permanently), not the API's.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")

#: no whitespace stripping: the pattern (published in the OpenAPI document) refuses any space
EmailAddress = Annotated[
    str,
    StringConstraints(strict=True, max_length=254),
    Field(json_schema_extra={"pattern": _EMAIL.pattern}),
]
DisplayName = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100)
]


class SignupRequest(BaseModel):
    """``POST /users`` body: an email address and a display name, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: EmailAddress
    display_name: DisplayName

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        if not _EMAIL.match(value) or _has_control_characters(value):
            raise ValueError("must be an email address like name@example.com")
        local, domain = value.rsplit("@", 1)
        normalised = f"{local}@{domain.lower()}"
        # lowercasing can lengthen a string ("İ" becomes two characters): check again
        if len(normalised) > 254:
            raise ValueError("must be at most 254 characters")
        return normalised

    @field_validator("display_name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _has_control_characters(value):
            raise ValueError("must not contain control characters")
        return value


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in value)


def parse_signup(content_type: str | None, body: bytes, max_body_bytes: int) -> SignupRequest:
    """Turn raw request bytes into a :class:`SignupRequest` or raise an :class:`ApiProblem`."""
    if len(body) > max_body_bytes:
        raise body_too_large(max_body_bytes)
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiProblem(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {media_type or 'none'}",
        )
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiProblem(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # a few kB of nested brackets is enough
        raise ApiProblem(400, "invalid_json", "body is nested too deeply") from exc
    if not isinstance(payload, dict):
        raise ApiProblem(422, "validation_failed", "body must be a JSON object")
    try:
        return SignupRequest.model_validate(payload)
    except ValidationError as exc:
        raise validation_problem(exc) from exc


def validation_problem(exc: ValidationError) -> ApiProblem:
    """A 422 that names every offending field and what was expected."""
    fields = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": _message(error),
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return ApiProblem(422, "validation_failed", summary, extra={"fields": fields})


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (allowed: email, display_name)"
    if error["type"] == "missing":
        return "field required"
    return str(error["msg"]).removeprefix("Value error, ")
