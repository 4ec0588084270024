"""Read an external target's ledger from its ledger endpoint (``ledger = "http(s)://..."``).

The HTTP form of :mod:`offload.run.external_ledger`, for a target whose database offload
cannot reach: the endpoint lists the users created since the run started, with their jobs and
the jobs' transitions (the contract: docs/targets.md, "The ledger endpoint"; the wire models:
``targets/common/ledger.py``). The pages are flattened into the same ``users.csv``,
``jobs.csv`` and ``job_events.csv`` the database form writes, so the analysis cannot tell the
two apart. Reading is only ``GET``: offload changes nothing on the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from pydantic import ValidationError

from offload.errors import OffloadError
from targets.common.ledger import MAX_LIMIT, LedgerPage, LedgerUser

#: a page may take a moment on a large run; a drain poll should not wait long
PAGE_TIMEOUT_S = 30.0
#: at most this many pages in one read: a cursor that never ends is the endpoint's bug
MAX_PAGES = 100_000


class LedgerEndpointError(OffloadError):
    """The ledger endpoint did not answer, or answered something that is not a ledger page."""


class HttpLedger:
    """Pages of one ledger endpoint, for the users created since ``since_epoch``."""

    def __init__(
        self,
        url: str,
        since_epoch: float,
        *,
        limit: int = MAX_LIMIT,
        timeout: float = PAGE_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.since = since_epoch
        self.limit = limit
        self._client = httpx.Client(timeout=timeout, trust_env=False)

    def page(self, after: str | None = None, limit: int | None = None) -> LedgerPage:
        """One page; raises :class:`LedgerEndpointError` naming the URL and what was wrong."""
        params: dict[str, Any] = {"since": repr(self.since), "limit": limit or self.limit}
        if after is not None:
            params["after"] = after
        try:
            response = self._client.get(self.url, params=params)
        except httpx.HTTPError as exc:
            raise LedgerEndpointError(f"GET {self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise LedgerEndpointError(
                f"GET {response.url}: HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            return LedgerPage.model_validate_json(response.content)
        except ValidationError as exc:
            raise LedgerEndpointError(
                f"GET {response.url}: the answer is not a ledger page "
                f"(docs/targets.md, 'The ledger endpoint'): {exc}"
            ) from exc

    def users(self) -> Iterator[LedgerUser]:
        """Every user since ``since``, page after page, following ``next`` to the end."""
        after: str | None = None
        for _ in range(MAX_PAGES):
            page = self.page(after)
            yield from page.users
            if page.next is None:
                return
            if page.next == after:
                raise LedgerEndpointError(f"GET {self.url}: next repeats the cursor {after!r}")
            after = page.next
        raise LedgerEndpointError(f"GET {self.url}: more than {MAX_PAGES} pages")

    def unfinished_jobs(self) -> int:
        """The run's jobs not yet delivered or dead-lettered (one page of one user)."""
        return self.page(limit=1).unfinished_jobs

    def close(self) -> None:
        self._client.close()


def export_http_rows(url: str, out_dir: Path, since_epoch: float) -> dict[str, int]:
    """Write the run's users, jobs and job events as the database form does; row counts."""
    ledger = HttpLedger(url, since_epoch)
    users: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    try:
        for user in ledger.users():
            users.append(user.model_dump(mode="json", exclude={"jobs"}))
            for job in user.jobs:
                jobs.append({**job.model_dump(mode="json", exclude={"events"}), "user_id": user.id})
                events.extend(
                    {**event.model_dump(mode="json"), "job_id": job.id} for event in job.events
                )
    finally:
        ledger.close()
    tables = {
        "users": (users, ["id", "email", "correlation_id", "created_at"]),
        "jobs": (jobs, ["id", "user_id", "state", "attempts", "correlation_id", "created_at",
                        "updated_at", "last_error"]),
        "job_events": (events, ["seq", "job_id", "state", "attempt", "at", "detail"]),
    }  # fmt: skip
    for name, (rows, columns) in tables.items():
        pd.DataFrame(rows, columns=columns).to_csv(out_dir / f"{name}.csv", index=False)
    return {name: len(rows) for name, (rows, _) in tables.items()}


class HttpBacklog:
    """The drain's count of unfinished jobs, polled from the ledger endpoint."""

    def __init__(self, url: str, since_epoch: float) -> None:
        self._ledger = HttpLedger(url, since_epoch, timeout=5)

    def __call__(self) -> int:
        return self._ledger.unfinished_jobs()

    def dispose(self) -> None:
        self._ledger.close()
