"""What ``offload verify`` reads of a target's ledger: a user's row, the user count, a user's
jobs — from its database (SQL, read only) or from its ledger endpoint (HTTP).

The contract checks (:mod:`offload.target.contract`) ask the same three questions of both
forms, so an external target with ``ledger = "http(s)://..."`` is verified as thoroughly as
one whose database offload reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from offload.run.http_ledger import HttpLedger
from targets.common.ledger import LedgerUser

#: the HTTP reader lists users created since a little before it was made (clock granularity)
SINCE_MARGIN_S = 1.0


@dataclass(frozen=True)
class StoredUser:
    id: str
    correlation_id: str


class LedgerReader(Protocol):
    #: how the summary names it: "the users table", "GET <url>"
    where: str

    def user(self, user_id: str) -> StoredUser | None: ...

    def user_count(self) -> int:
        """Users stored (all of them, or since the reader was made): compared before/after."""
        ...

    def job_states(self, user_id: str) -> list[str]: ...

    def close(self) -> None: ...


class SqlLedgerReader:
    """The ``users`` and ``jobs`` tables through ``engine`` (the caller made it read only
    where the database is not offload's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # the URL, so that "unable to open database file" says which file (a relative SQLite
        # path is relative to the directory offload runs in)
        url = engine.url.render_as_string(hide_password=True)
        self.where = f"the users table at {url}"

    def user(self, user_id: str) -> StoredUser | None:
        query = sa.text("select id, correlation_id from users where id = :id")
        with self.engine.connect() as conn:
            row = conn.execute(query, {"id": user_id}).first()
        return StoredUser(str(row.id), str(row.correlation_id)) if row else None

    def user_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from users")).scalar_one())

    def job_states(self, user_id: str) -> list[str]:
        query = sa.text("select state from jobs where user_id = :user_id")
        with self.engine.connect() as conn:
            return [str(row.state) for row in conn.execute(query, {"user_id": user_id})]

    def close(self) -> None:
        self.engine.dispose()


class HttpLedgerReader:
    """The ledger endpoint, listing the users created since the reader was made."""

    def __init__(self, url: str) -> None:
        self._ledger = HttpLedger(url, time.time() - SINCE_MARGIN_S, timeout=10)
        self.where = f"GET {url}"

    def _find(self, user_id: str) -> LedgerUser | None:
        return next((u for u in self._ledger.users() if u.id == user_id), None)

    def user(self, user_id: str) -> StoredUser | None:
        found = self._find(user_id)
        return StoredUser(found.id, found.correlation_id) if found else None

    def user_count(self) -> int:
        return sum(1 for _ in self._ledger.users())

    def job_states(self, user_id: str) -> list[str]:
        found = self._find(user_id)
        return [job.state.value for job in found.jobs] if found else []

    def close(self) -> None:
        self._ledger.close()
