"""Copy a design's database tables into its run directory after the run.

The run directory must stand alone: analysis reads ``users.csv``, ``jobs.csv`` and
``job_events.csv``, never the database (which, on PostgreSQL, is dropped after the run).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from offload.target.reference import make_engine

TABLES = ("users", "jobs", "job_events")


def export_tables(database_url: str, schema: str | None, out_dir: Path) -> dict[str, int]:
    """Write every table that exists as ``<table>.csv``; returns row counts."""
    engine = make_engine(database_url, schema)
    counts: dict[str, int] = {}
    try:
        existing = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            for name in TABLES:
                if name not in existing:
                    continue
                frame = pd.read_sql_table(name, conn)
                frame.to_csv(out_dir / f"{name}.csv", index=False)
                counts[name] = len(frame)
    finally:
        engine.dispose()
    return counts


class UnfinishedJobs:
    """Counts jobs not yet delivered or dead-lettered (the async backlog), on one engine that
    :meth:`dispose` closes."""

    _QUERY = sa.text("select count(*) from jobs where state not in ('delivered', 'dead_lettered')")

    def __init__(self, database_url: str, schema: str | None) -> None:
        self._engine = make_engine(database_url, schema)

    def __call__(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(self._QUERY).scalar_one())

    def dispose(self) -> None:
        self._engine.dispose()


def unfinished_jobs_counter(database_url: str, schema: str | None) -> UnfinishedJobs:
    """A callable counting the async backlog; ``dispose()`` it after the run."""
    return UnfinishedJobs(database_url, schema)
