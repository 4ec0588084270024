"""Read an external target's ledger tables, read only, for the rows of one run.

An external target's database was not made for the run: it may hold rows from before it (a
staging system, an earlier run). The run's rows are those created since the run started;
they are copied into the design's folder as the reference designs' tables are, and offload
never writes to that database (PostgreSQL: a read-only transaction; SQLite: opened read only).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from offload.target.reference import normalise_url

#: the run's rows of each table: created since the run started (``:since``)
_QUERIES = {
    "users": "select * from users where created_at >= :since",
    "jobs": "select * from jobs where created_at >= :since",
    "job_events": (
        "select e.* from job_events e join jobs j on e.job_id = j.id where j.created_at >= :since"
    ),
}


def read_only_engine(database_url: str, schema: str | None) -> Engine:
    """An engine that cannot write: a read-only session (PostgreSQL), a read-only file (SQLite)."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").resolve()
        return sa.create_engine(
            f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": 30}
        )
    options = "-c default_transaction_read_only=on"
    if schema:
        options += f" -csearch_path={schema}"
    return sa.create_engine(url, connect_args={"connect_timeout": 5, "options": options})


def export_run_rows(
    database_url: str, schema: str | None, out_dir: Path, since_epoch: float
) -> dict[str, int]:
    """Write the run's rows of every ledger table that exists as ``<table>.csv``; row counts.

    A database without a ``users`` table is an error: nothing would say who is owed an email.
    """
    engine = read_only_engine(database_url, schema)
    counts: dict[str, int] = {}
    try:
        existing = set(sa.inspect(engine).get_table_names())
        if "users" not in existing:
            raise LookupError(
                f"no users table in {make_url(database_url).render_as_string(hide_password=True)}"
                f"{f' (schema {schema})' if schema else ''}: the ledger reads users and jobs "
                "as targets/common/store.py defines them"
            )
        with engine.connect() as conn:
            for name, query in _QUERIES.items():
                if name not in existing or (name == "job_events" and "jobs" not in existing):
                    continue
                frame = pd.read_sql_query(sa.text(query), conn, params={"since": since_epoch})
                frame.to_csv(out_dir / f"{name}.csv", index=False)
                counts[name] = len(frame)
    finally:
        engine.dispose()
    return counts


class ExternalBacklog:
    """Counts the run's jobs not yet delivered or dead-lettered, read only (the drain)."""

    _QUERY = sa.text(
        "select count(*) from jobs where created_at >= :since "
        "and state not in ('delivered', 'dead_lettered')"
    )

    def __init__(self, database_url: str, schema: str | None, since_epoch: float) -> None:
        self._engine = read_only_engine(database_url, schema)
        self._since = since_epoch

    def __call__(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(self._QUERY, {"since": self._since}).scalar_one())

    def dispose(self) -> None:
        self._engine.dispose()
