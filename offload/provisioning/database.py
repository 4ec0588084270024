"""The database the targets store users in: the user's PostgreSQL, or a SQLite file per run.

With ``DATABASE_URL`` set, every run gets a fresh schema ``offload_<name>_<random>`` in that
database: the user's own tables are never touched, and no run sees another run's rows. The
returned URL selects the schema through libpq's ``options`` (``-c search_path=...``), so any
engine created from it lands there; targets may also set ``search_path`` themselves.
Without ``DATABASE_URL``, the run directory holds a SQLite file, removed by :meth:`drop`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from offload.errors import ProvisioningError

#: seconds libpq waits for the server before giving up (a wrong host must fail fast)
CONNECT_TIMEOUT = 3

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(eq=False)
class Database:
    """A provisioned database: ``url`` for SQLAlchemy, the run's ``schema`` on PostgreSQL."""

    url: str = field(repr=False)
    kind: Literal["sqlite", "postgresql"]
    schema: str | None = None
    #: the URL without the search_path option, for administrative statements
    _admin_url: str | None = field(default=None, repr=False)
    _dropped: bool = field(default=False, repr=False)

    def __repr__(self) -> str:
        from sqlalchemy.engine import make_url

        shown = make_url(self.url).render_as_string(hide_password=True)
        return f"Database(url={shown!r}, kind={self.kind!r}, schema={self.schema!r})"

    def drop(self) -> None:
        """Remove everything the run stored: the schema (CASCADE), or the SQLite file(s)."""
        if self._dropped:
            return
        if self.kind == "postgresql":
            _execute(self._admin_url or self.url, f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        else:
            _remove_sqlite_files(Path(self.url.removeprefix("sqlite:///")))
        self._dropped = True


def provision_database(*, work_dir: Path, name: str) -> Database:
    """PostgreSQL schema in ``DATABASE_URL`` if set, else ``<work_dir>/<name>.db`` (SQLite).

    ``name`` (e.g. the design, ``sync`` or ``async``) goes into the schema or file name so
    that both designs of a run can share one server without sharing tables.
    """
    raw = os.environ.get("DATABASE_URL", "").strip()
    if raw:
        return _postgres_schema(raw, name)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"{_identifier(name)}.db"
    _remove_sqlite_files(path)  # a leftover from an earlier attempt here is scratch state
    return Database(url=f"sqlite:///{path}", kind="sqlite")


def _remove_sqlite_files(path: Path) -> None:
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in _SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _identifier(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return cleaned or "db"


def normalise_postgres_url(raw: str) -> str:
    """``DATABASE_URL`` as a SQLAlchemy URL on the psycopg 3 driver, or a clear error."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ProvisioningError(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    if url.drivername not in POSTGRES_SCHEMES:
        raise ProvisioningError(
            f"DATABASE_URL has scheme {url.drivername!r}; offload supports PostgreSQL only "
            f"({', '.join(s + '://' for s in POSTGRES_SCHEMES)}). Unset DATABASE_URL to use a "
            "SQLite file in the run directory instead."
        )
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _postgres_schema(raw: str, name: str) -> Database:
    from sqlalchemy.engine import make_url

    admin_url = normalise_postgres_url(raw)
    schema = f"offload_{_identifier(name)[:40]}_{secrets.token_hex(4)}"
    _execute(admin_url, f'CREATE SCHEMA "{schema}"')
    url = make_url(admin_url)
    given = url.query.get("options")
    given = " ".join(given) if isinstance(given, tuple) else given
    options = " ".join(filter(None, [given, f"-c search_path={schema}"]))
    run_url = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    return Database(url=run_url, kind="postgresql", schema=schema, _admin_url=admin_url)


def _execute(url: str, statement: str) -> None:
    """Run one DDL statement with a bounded connect, translating driver errors."""
    import sqlalchemy
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    engine = sqlalchemy.create_engine(
        url, connect_args={"connect_timeout": CONNECT_TIMEOUT}, poolclass=sqlalchemy.NullPool
    )
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(statement))
    except sqlalchemy.exc.OperationalError as exc:
        raise ProvisioningError(
            f"PostgreSQL at {shown} (DATABASE_URL) did not accept a connection within "
            f"{CONNECT_TIMEOUT} s: {_first_line(exc)}. Start it, fix DATABASE_URL, or unset "
            "DATABASE_URL to use a SQLite file in the run directory."
        ) from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ProvisioningError(
            f"PostgreSQL at {shown} refused `{statement}`: {_first_line(exc)}"
        ) from exc
    finally:
        engine.dispose()


def _first_line(exc: Exception) -> str:
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
