"""A request as a load profile wants it sent, before the generator times and sends it.

Kept free of Locust imports (Locust monkey-patches the process it is imported in), so
that schedules and request builders can be tested in a plain pytest process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PreparedRequest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedRequest:
    """One request; the generator adds ``X-Request-ID: <correlation_id>`` when sending it."""

    method: str
    path: str
    #: the label in records and Locust's stats, e.g. "GET /users/{id}"
    name: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: start a trace for it when tracing is on (signups: the requests that cross the queue)
    traced: bool = False
