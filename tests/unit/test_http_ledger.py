"""The HTTP ledger (``ledger = "http(s)://..."``): what a manifest may say, the endpoint's
paging and refusals, and offload's reader — which must write the same rows as the database
form, so that the analysis cannot tell the two apart.

The endpoint is the sync design's real Flask app on a werkzeug server in a thread, over a
SQLite file; a few-line WSGI stub plays a broken endpoint."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from offload.errors import ManifestError
from offload.run.external_ledger import export_run_rows
from offload.run.http_ledger import HttpLedger, LedgerEndpointError, export_http_rows
from offload.run.remote import RemoteRefused, check_remote, remote_addresses
from offload.target.ledger_reader import HttpLedgerReader
from offload.target.manifest import load_manifest
from targets.common.jobs import JobState
from targets.common.ledger import LedgerQuery, parse_ledger_query
from targets.common.problems import ApiProblem
from targets.common.settings import TargetSettings
from targets.common.signup import SignupRequest
from targets.common.store import AttemptOutcome, UserStore, create_schema, make_engine, users
from targets.common.store import jobs as jobs_table
from targets.sync_api.app import create_app

pytestmark = pytest.mark.unit

EXTERNAL = """
name = "ext"
kind = "external"
[external]
design = "async"
url = "http://127.0.0.1:18000"
provider = "offload"
provider_listen = "127.0.0.1:18025"
ledger = "{ledger}"
{extra}
"""


def _load(tmp_path: Path, ledger: str, extra: str = ""):
    (tmp_path / "target.toml").write_text(EXTERNAL.format(ledger=ledger, extra=extra))
    return load_manifest(tmp_path)


# -- the manifest -----------------------------------------------------------------------------


def test_an_http_ledger_is_read_from_its_endpoint(tmp_path):
    external = _load(tmp_path, "http://127.0.0.1:18000/ledger").external
    assert external is not None
    assert external.ledger_kind == "http" and external.has_ledger
    assert _load(tmp_path, "sqlite:///x.db").external.ledger_kind == "database"  # type: ignore[union-attr]
    assert _load(tmp_path, "none").external.ledger_kind == "none"  # type: ignore[union-attr]
    example = Path(__file__).resolve().parents[2] / "targets/examples/external-async-http-ledger"
    assert load_manifest(example).external.ledger_kind == "http"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ledger", "extra", "expected"),
    [
        ("http://127.0.0.1:18000", "", "with a path"),
        ("http://127.0.0.1:18000/ledger?since=1", "", "no query"),
        ("http:///ledger", "", "full URL"),
        ("http://127.0.0.1:18000/ledger", 'ledger_schema = "public"', "ledger_schema is for a"),
    ],
)
def test_a_malformed_http_ledger_is_refused_naming_the_field(tmp_path, ledger, extra, expected):
    with pytest.raises(ManifestError, match=r"target\.toml") as caught:
        _load(tmp_path, ledger, extra)
    assert "ledger" in str(caught.value) and expected in str(caught.value)


def test_a_remote_ledger_endpoint_needs_allow_remote(tmp_path):
    manifest = _load(tmp_path, "https://198.18.0.4/ledger")
    found = remote_addresses([manifest])
    assert [(a.role, a.host) for a in found] == [("ledger endpoint", "198.18.0.4")]
    with pytest.raises(RemoteRefused, match=re.escape("198.18.0.4 (ext's ledger endpoint)")):
        check_remote(found, allowed=False, command="bench")


# -- the endpoint's query ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "since: field required"),
        ({"since": ["x"]}, "since: "),
        ({"since": ["nan"]}, "finite"),
        ({"since": ["-1"]}, "greater than or equal to 0"),
        ({"since": ["1"], "limit": ["501"]}, "limit: "),
        ({"since": ["1"], "after": ["1_nothex"]}, "after: "),
        ({"since": ["1"], "sort": ["id"]}, "unknown query parameter(s) ['sort']"),
        ({"since": ["1", "2"]}, "more than once: ['since']"),
    ],
)
def test_a_bad_ledger_query_is_a_422_naming_the_parameter(args, expected):
    with pytest.raises(ApiProblem) as caught:
        parse_ledger_query(args)
    assert caught.value.status == 422 and expected in caught.value.detail


def test_a_good_ledger_query_parses_its_cursor():
    query = parse_ledger_query({"since": ["12.5"], "after": [f"13.25_{'a' * 32}"]})
    assert query == LedgerQuery(since=12.5, after=f"13.25_{'a' * 32}")
    assert query.position() == (13.25, "a" * 32) and query.limit == 500


# -- the endpoint and the reader, over a real server -------------------------------------------


def _serve(app: Callable[..., Any]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def database(tmp_path: Path) -> str:
    """Users before the run (created_at 50), and the run's: 7 users sharing one created_at
    (the cursor must break the tie by id) with a job each, 3 delivered, 1 dead-lettered."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    create_schema(engine)
    store = UserStore(engine)
    created = [
        store.create_user_with_job(
            SignupRequest(email=f"u{i}@example.com", display_name="u"), f"c{i}"
        )
        for i in range(8)
    ]
    with engine.begin() as conn:
        for table, first in ((users, created[0][0].id), (jobs_table, created[0][1].id)):
            conn.execute(sa.update(table).values(created_at=100.0))
            conn.execute(sa.update(table).where(table.c.id == first).values(created_at=50.0))
    jobs = [job for _, job in created[1:]]
    store.start_attempts([(job.id, 1) for job in jobs[:4]])
    store.record_outcomes(
        [AttemptOutcome(job.id, JobState.DELIVERED, 1) for job in jobs[:3]]
        + [AttemptOutcome(jobs[3].id, JobState.DEAD_LETTERED, 1, "refused")]
    )
    engine.dispose()
    return url


@pytest.fixture
def endpoint(database: str) -> Iterator[str]:
    yield from (
        f"{base}/ledger" for base in _serve(create_app(TargetSettings(database_url=database)))
    )


def test_pages_list_every_user_since_once_and_count_the_unfinished_jobs(endpoint):
    ledger = HttpLedger(endpoint, since_epoch=60.0, limit=3)
    try:
        first = ledger.page()
        listed = list(ledger.users())
    finally:
        ledger.close()
    assert len(first.users) == 3 and first.next is not None
    assert first.unfinished_jobs == 3  # 7 jobs: 3 delivered, 1 dead-lettered
    ids = [user.id for user in listed]
    assert len(ids) == 7 and ids == sorted(ids)  # one created_at: the id breaks the tie
    states = sorted(job.state.value for user in listed for job in user.jobs)
    assert states.count("delivered") == 3 and states.count("dead_lettered") == 1
    delivered = next(u for u in listed if u.jobs[0].state == JobState.DELIVERED)
    assert [e.state.value for e in delivered.jobs[0].events] == ["queued", "sending", "delivered"]


def test_the_http_form_writes_the_rows_the_database_form_writes(endpoint, database, tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "http").mkdir()
    by_db = export_run_rows(database, None, tmp_path / "db", since_epoch=60.0)
    by_http = export_http_rows(endpoint, tmp_path / "http", since_epoch=60.0)
    assert by_http == by_db == {"users": 7, "jobs": 7, "job_events": 7 + 4 * 2}
    for table, key, columns in [
        ("users", "id", ["id", "email", "correlation_id", "created_at"]),
        ("jobs", "id", ["id", "user_id", "state", "attempts", "created_at", "updated_at"]),
        ("job_events", "seq", ["seq", "job_id", "state", "attempt", "at", "detail"]),
    ]:
        db = pd.read_csv(tmp_path / "db" / f"{table}.csv").sort_values(key)[columns]
        http = pd.read_csv(tmp_path / "http" / f"{table}.csv").sort_values(key)[columns]
        pd.testing.assert_frame_equal(db.reset_index(drop=True), http.reset_index(drop=True))


def test_the_verify_reader_sees_users_created_since_it_was_made(endpoint, database):
    reader = HttpLedgerReader(endpoint)
    try:
        assert reader.user_count() == 0  # the fixture's users were created "long ago"
        store = UserStore(make_engine(database))
        user, _ = store.create_user_with_job(
            SignupRequest(email="v@example.com", display_name="v"), "req-1"
        )
        assert reader.user_count() == 1
        stored = reader.user(user.id)
        assert stored is not None and stored.correlation_id == "req-1"
        assert reader.job_states(user.id) == ["queued"]
        assert reader.user("f" * 32) is None
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        ("500 Internal Server Error", b'{"error": "boom"}', "HTTP 500"),
        ("200 OK", b'{"users": []}', "not a ledger page"),
        ("200 OK", b"not json", "not a ledger page"),
        (
            "200 OK",
            json.dumps({"users": [], "next": f"1.0_{'a' * 32}", "unfinished_jobs": 0}).encode(),
            "repeats the cursor",
        ),
    ],
)
def test_a_broken_endpoint_is_an_error_naming_the_url(status, body, expected):
    def stub(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    for base in _serve(stub):
        ledger = HttpLedger(f"{base}/ledger", since_epoch=0.0)
        try:
            with pytest.raises(LedgerEndpointError, match=expected) as caught:
                list(ledger.users())
        finally:
            ledger.close()
        assert f"{base}/ledger" in str(caught.value)
