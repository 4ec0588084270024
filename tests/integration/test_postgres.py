"""Both designs on PostgreSQL (DATABASE_URL) instead of the embedded SQLite file."""

from __future__ import annotations

import time
import uuid

import httpx
import pandas as pd
import psutil
import pytest
import sqlalchemy as sa

from offload.analysis.cost import is_rig
from offload.analysis.summary import resources
from offload.ports import port_open
from offload.provisioning.database import provision_database
from offload.run.design import _database_server
from offload.run.sampler import Sampler
from offload.run.stack import Stack
from targets.common.store import make_engine
from tests.factories.processes import launch, wait_until

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.skipif(
    not port_open("127.0.0.1", 5432), reason="no PostgreSQL on 127.0.0.1:5432"
)


@pytest.mark.parametrize("design", ["sync", "async"])
def test_signup_is_stored_in_the_runs_own_postgres_schema(
    design, monkeypatch, stack, module_provider, broker
):
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    database = stack.provision_database(f"pg-{design}")
    assert database.kind == "postgresql" and database.schema
    target = launch(stack, design, broker=broker, database=database)
    try:
        email = f"{uuid.uuid4().hex}@example.com"
        response = httpx.post(
            f"{target.url}/users", json={"email": email, "display_name": "Pg"}, timeout=10
        )
        assert response.status_code in (201, 202)
        user_id = response.json().get("id") or response.json()["user_id"]
        engine = make_engine(database.url, database.schema)

        def stored() -> bool:
            """the user row is in the run's schema"""
            with engine.connect() as conn:
                return (
                    conn.execute(
                        sa.text("select email from users where id = :id"), {"id": user_id}
                    ).scalar_one_or_none()
                    == email
                )

        wait_until(stored, 5)
        engine.dispose()
    finally:
        stack.remove(target)


def test_a_stopped_stack_keeps_the_tables_it_was_asked_to_and_drops_the_schema(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(KeyboardInterrupt), Stack(tmp_path / "stack") as stack:
        database = stack.provision_database("pg-keep", keep_tables_in=kept)
        stack.start_provider()
        target = launch(stack, "sync", database=database)
        email = f"{uuid.uuid4().hex}@example.com"
        response = httpx.post(
            f"{target.url}/users", json={"email": email, "display_name": "Kept"}, timeout=10
        )
        assert response.status_code == 201
        raise KeyboardInterrupt

    assert stack.kept_tables[database]["users"] == 1
    assert email in (kept / "users.csv").read_text()
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect() as conn:
        schemas = conn.execute(sa.text("select schema_name from information_schema.schemata"))
        assert database.schema not in {row[0] for row in schemas}
    admin.dispose()


def test_a_local_postgres_server_is_a_component_whose_cpu_is_in_the_designs_cost(
    monkeypatch, tmp_path
):
    """Its backends run the design's queries, which on SQLite run inside the design's own
    processes: the server is sampled as the design's ``database`` component (not a rig part),
    so a design on PostgreSQL does not look cheaper than it is."""
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    database = provision_database(work_dir=tmp_path, name="machine")
    try:
        [server] = _database_server(database)
        [pid] = server.pids()
        assert "postgres" in psutil.Process(pid).name()
        assert server.tree  # its backends are its children
        sampler = Sampler(
            samples_path=tmp_path / "samples.csv",
            queues_path=tmp_path / "queues.csv",
            processes=[server],
            interval_s=0.2,
        ).start()
        engine = make_engine(database.url, database.schema)
        deadline = time.monotonic() + 2
        with engine.connect() as conn:
            while time.monotonic() < deadline:  # work only the server's backend can do
                conn.execute(sa.text("select count(*) from generate_series(1, 200000)"))
        engine.dispose()
        sampler.stop()
    finally:
        database.drop()
    used = resources(pd.read_csv(tmp_path / "samples.csv"))
    assert used["database"].cpu_s > 0.3
    assert not is_rig("database")
    # a SQLite database runs inside the target's own processes: nothing more to count
    monkeypatch.delenv("DATABASE_URL")
    assert _database_server(provision_database(work_dir=tmp_path, name="lite")) == []
