"""Correlation ids: ``X-Request-ID`` in, echoed out, carried into the job and to the provider.

A caller's id is kept when it is a sane token, so a signup can be followed from the load
generator's record through the API, the queue and the worker to the provider's delivery log.
Anything else (missing, too long, odd characters that could end up in logs) is replaced.
"""

from __future__ import annotations

import re
import uuid

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def correlation_id_from(header_value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a fresh one."""
    if header_value and _VALID.match(header_value):
        return header_value
    return uuid.uuid4().hex
