"""Client-facing errors with one JSON shape, shared by both designs.

Both designs must refuse bad input the same way (same status, same reason), so that the only
difference a benchmark sees between them is their architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """The JSON body of every error answer (documented in both designs' OpenAPI)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    correlation_id: str | None = None


@dataclass
class ApiProblem(Exception):
    """An error answered to the client as ``{"error": code, "detail": reason, ...}``."""

    status: int
    code: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, correlation_id: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"error": self.code, "detail": self.detail, **self.extra}
        if correlation_id:
            payload["correlation_id"] = correlation_id
        return payload

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"no {what} with that id")


def body_too_large(limit: int) -> ApiProblem:
    return ApiProblem(413, "body_too_large", f"request body exceeds {limit} bytes")
