"""Identifiers of users and jobs: 32 lowercase hex characters (uuid4)."""

from __future__ import annotations

import re
import uuid

_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    """True for a well-formed id; anything else cannot exist, so lookups answer 404 at once."""
    return bool(_ID.match(value))
