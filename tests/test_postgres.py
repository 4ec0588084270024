"""Both designs on PostgreSQL (DATABASE_URL) instead of the embedded SQLite file."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from offload.ports import port_open
from offload.provisioning.database import provision_database
from offload.run.stack import start_target
from offload.target.manifest import resolve_target
from targets.common.store import make_engine
from tests.conftest import TEST_CONFIG, wait_until

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.skipif(
    not port_open("127.0.0.1", 5432), reason="no PostgreSQL on 127.0.0.1:5432"
)


@pytest.mark.parametrize("design", ["sync", "async"])
def test_signup_is_stored_in_the_runs_own_postgres_schema(
    design, monkeypatch, supervisor, stack_dir, module_provider, broker
):
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    database = provision_database(work_dir=stack_dir, name=f"pg-{design}")
    assert database.kind == "postgresql" and database.schema
    manifest = resolve_target(design)
    target = start_target(
        manifest,
        supervisor=supervisor,
        work_dir=stack_dir,
        provider_url=module_provider.url,
        database=database,
        broker=broker if manifest.uses_broker else None,
        config=TEST_CONFIG,
        queue_prefix=f"offload.test.{uuid.uuid4().hex[:8]}",
    )
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
        target.stop()
        database.drop()
