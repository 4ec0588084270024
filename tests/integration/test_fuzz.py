"""Every design, fuzzed from its own OpenAPI document, answers only what it documents.

Schemathesis generates requests from each design's document — valid ones and deliberately
invalid ones (negative mode: wrong types, missing and unknown fields, strings past their
limits, bytes that are not JSON, wrong content types, other methods) — and sends them to the
real servers. No design may answer 5xx or a status or content type its document does not
list, and a signup it refuses must leave nothing behind: no user row, no job row (the async
design writes the job row before it publishes, so no row means nothing was enqueued) and no
email. Oversized bodies are refused with 413 before they are read, declared or chunked.

What fuzzing found (deep JSON nesting, control characters and over-long addresses, a chunked
body cut off at the limit, undocumented 404s) is pinned by the regression tests at the end.
"""

from __future__ import annotations

import json
import select
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from offload.run.stack import RunningProvider, RunningTarget
from targets.async_api.app import create_app as create_async_app
from targets.background.app import create_app as create_background_app
from targets.common.settings import TargetSettings
from targets.common.store import UserStore, make_engine
from targets.inline_async.app import create_app as create_inline_async_app
from targets.outbox.app import create_app as create_outbox_app
from targets.sync_api.openapi import openapi_document as sync_openapi_document
from tests.factories.processes import design_target, provider_records, wait_until

DESIGNS = ("sync", "async", "sync-threads", "inline-async", "background", "outbox")
#: designs that answer 202 with a job, which a worker sends later (checked after draining)
QUEUED = {"async", "outbox"}
#: generated requests per operation in the fuzzing phase (the coverage phase adds its own)
MAX_EXAMPLES = 100
#: the body limit of the servers under test (the test stack keeps the default)
MAX_BODY_BYTES: int = TargetSettings.model_fields["max_body_bytes"].default
#: answers that store a signup
STORED = {design: 202 if design in QUEUED else 201 for design in DESIGNS}
#: designs that send the email after answering: a stored signup's email arrives a moment later
SENDS_AFTER_ANSWERING = {"background"}


# -- what a request leaves behind ---------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """What signups have left behind so far: user rows, job rows, welcome emails delivered."""

    users: int
    jobs: int
    emails: int


class Ledger:
    """Counts a target's rows through its own database URL, and the emails sent for it.

    Emails are counted from the provider's delivery log by idempotency key (every design but
    async and outbox sends ``welcome-<user id>``, their worker the job id), so that a worker
    delivering in the background never moves the others' count. The others' tests run one at
    a time, and each waits for its own email, so none moves another's count.
    """

    def __init__(self, target: RunningTarget, provider: RunningProvider) -> None:
        self.target = target
        self.provider = provider
        self.engine = make_engine(target.values["database_url"], target.values["db_schema"] or None)
        self.store = UserStore(self.engine)

    def footprint(self) -> Footprint:
        with self.engine.connect() as conn:
            users = conn.execute(sa.text("select count(*) from users")).scalar_one()
            jobs = conn.execute(sa.text("select count(*) from jobs")).scalar_one()
        return Footprint(users, jobs, self.sync_emails())

    def sync_emails(self) -> int:
        return sum(
            1
            for record in provider_records(self.provider, outcome="delivered")
            if (record["key"] or "").startswith("welcome-")
        )

    def user_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.text("select id from users")).scalars())

    def dead_lettered_user_ids(self) -> set[str]:
        query = sa.text("select user_id from jobs where state = 'dead_lettered'")
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def expect(self, before: Footprint, *, stored: bool, context: Any) -> None:
        """A stored signup adds one user (and one job, async; one email, sync); a refused
        one adds nothing at all."""
        n = 1 if stored else 0
        after = self.footprint()
        jobs = before.jobs + (n if self.target.name in QUEUED else 0)
        assert (after.users, after.jobs) == (before.users + n, jobs), context
        if self.target.name in QUEUED:  # the worker's emails are checked after draining
            return
        if self.target.name in SENDS_AFTER_ANSWERING and n:

            def sent() -> bool:
                """the signup's email, sent after the answer, reached the provider"""
                return self.sync_emails() >= before.emails + n

            wait_until(sent, 5)
            after = self.footprint()
        assert after.emails == before.emails + n, context

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="module")
def sync_ledger(sync_target: RunningTarget, module_provider: RunningProvider) -> Iterator[Ledger]:
    owned = Ledger(sync_target, module_provider)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def async_ledger(async_target: RunningTarget, module_provider: RunningProvider) -> Iterator[Ledger]:
    owned = Ledger(async_target, module_provider)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def sync_threads_ledger(
    sync_threads_target: RunningTarget, module_provider: RunningProvider
) -> Iterator[Ledger]:
    owned = Ledger(sync_threads_target, module_provider)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def inline_async_ledger(
    inline_async_target: RunningTarget, module_provider: RunningProvider
) -> Iterator[Ledger]:
    owned = Ledger(inline_async_target, module_provider)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def background_ledger(
    background_target: RunningTarget, module_provider: RunningProvider
) -> Iterator[Ledger]:
    owned = Ledger(background_target, module_provider)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def outbox_ledger(
    outbox_target: RunningTarget, module_provider: RunningProvider
) -> Iterator[Ledger]:
    owned = Ledger(outbox_target, module_provider)
    yield owned
    owned.close()


def ledger_for(request: pytest.FixtureRequest, design: str) -> tuple[RunningTarget, Ledger]:
    name = design.replace("-", "_")
    return request.getfixturevalue(f"{name}_target"), request.getfixturevalue(f"{name}_ledger")


# -- the documents being fuzzed -----------------------------------------------------------


#: statuses that refuse an invalid request: what the designs answer bad input with (no 5xx);
#: 414 is gunicorn's refusal of a request line over 4094 bytes (a long fuzzed query string)
REFUSALS = ["400", "404", "405", "409", "413", "414", "415", "422"]

#: the same settings a ``schemathesis.toml`` would hold; validated by schemathesis on load
FUZZ_CONFIG = {
    "generation": {
        "mode": "all",  # positive and negative (schema-breaking) requests
        "max-examples": MAX_EXAMPLES,
        "database": "none",  # nothing replayed from, or written to, a .hypothesis/ directory
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},  # boundaries, missing/unknown fields, odd content types
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "negative_data_rejection": {"enabled": True, "expected-statuses": REFUSALS},
    },
}


def fuzz_schema(document: dict[str, Any]) -> schemathesis.BaseSchema:
    """A design's document, with the budget and the checks this file relies on."""
    return schemathesis.openapi.from_dict(
        document, config=schemathesis.Config.from_dict(FUZZ_CONFIG)
    )


# Built in-process because pytest collects one test per operation before any server runs
# (schemathesis' fixture-based loader does not work on pytest 9.2); the first test below
# proves that each running design serves exactly the document fuzzed here.
_IN_MEMORY = TargetSettings(database_url="sqlite://")
DOCUMENTS = {
    "sync": sync_openapi_document(max_body_bytes=MAX_BODY_BYTES),
    "async": create_async_app(_IN_MEMORY).openapi(),
    # the sync design's own app on another server: its document, fuzzed through that server
    "sync-threads": sync_openapi_document(max_body_bytes=MAX_BODY_BYTES),
    "inline-async": create_inline_async_app(_IN_MEMORY).openapi(),
    "background": create_background_app(_IN_MEMORY).openapi(),
    "outbox": create_outbox_app(_IN_MEMORY).openapi(),
}
SCHEMAS = {design: fuzz_schema(document) for design, document in DOCUMENTS.items()}


@pytest.mark.parametrize("design", DESIGNS)
def test_each_design_serves_the_document_that_is_fuzzed(design, request):
    target = design_target(request, design)

    response = httpx.get(f"{target.url}/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(DOCUMENTS[design]))


def test_the_sync_document_takes_its_request_schema_from_the_validating_model():
    from targets.common.signup import SignupRequest

    schemas = DOCUMENTS["sync"]["components"]["schemas"]
    assert schemas["SignupRequest"] == SignupRequest.model_json_schema()
    declared = set(DOCUMENTS["sync"]["paths"]["/users"]["post"]["responses"])
    assert declared == {"201", "400", "409", "413", "415", "422", "502", "504"}


# -- fuzzing ------------------------------------------------------------------------------


def is_signup(case: schemathesis.Case) -> bool:
    """POST /users as sent (the coverage phase also sends other methods to the same path)."""
    return case.method.upper() == "POST" and case.operation.path == "/users"


def body_is_invalid(case: schemathesis.Case) -> bool:
    """True when schemathesis broke the body's schema on purpose (negative mode)."""
    component = case.meta.components.get(ParameterLocation.BODY) if case.meta else None
    return component is not None and component.mode is GenerationMode.NEGATIVE


def fuzz_one(case: schemathesis.Case, target: RunningTarget, ledger: Ledger) -> None:
    """Send one generated request; check the answer and, for a signup, what it left behind."""
    before = ledger.footprint() if is_signup(case) else None
    response = case.call(base_url=target.url, timeout=10)
    case.validate_response(response)
    if before is not None:
        stored = response.status_code == STORED[target.name]
        assert not (stored and body_is_invalid(case)), f"invalid body stored: {case.body!r}"
        ledger.expect(before, stored=stored, context=(response.status_code, case.body))


@SCHEMAS["sync"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_sync_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    sync_target: RunningTarget,
    sync_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, sync_target, sync_ledger)


@SCHEMAS["async"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_async_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    async_target: RunningTarget,
    async_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, async_target, async_ledger)


@SCHEMAS["sync-threads"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_sync_threads_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    sync_threads_target: RunningTarget,
    sync_threads_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, sync_threads_target, sync_threads_ledger)


@SCHEMAS["inline-async"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_inline_async_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    inline_async_target: RunningTarget,
    inline_async_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, inline_async_target, inline_async_ledger)


@SCHEMAS["background"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_background_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    background_target: RunningTarget,
    background_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, background_target, background_ledger)


@SCHEMAS["outbox"].parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_outbox_design_answers_fuzzed_requests_as_documented_and_refusals_leave_nothing(
    case: schemathesis.Case,
    outbox_target: RunningTarget,
    outbox_ledger: Ledger,
    provider: RunningProvider,
) -> None:
    fuzz_one(case, outbox_target, outbox_ledger)


# -- valid signups: the path the schema alone cannot reach -------------------------------

# Generated "valid" bodies rarely hold a usable address even with the pattern published;
# these do, in every script (control characters, which the validator refuses, left out).
_TEXT = st.characters(categories=("L", "M", "N", "P", "S"))
_LABEL = st.text(_TEXT.filter(lambda ch: ch not in "@."), min_size=1, max_size=20)


@st.composite
def valid_signups(draw: st.DrawFn) -> dict[str, str]:
    local = draw(st.text(_TEXT.filter(lambda ch: ch != "@"), min_size=1, max_size=40))
    domain = ".".join(draw(st.lists(_LABEL, min_size=2, max_size=3)))
    name = draw(st.text(st.one_of(_TEXT, st.just(" ")), min_size=1, max_size=100))
    return {"email": f"{local}@{domain}", "display_name": name.strip() or "x"}


def unique(signup: dict[str, str]) -> dict[str, str]:
    """The same signup with a fresh address: hypothesis replays and shrinks examples, and a
    replayed address would meet its earlier self as a 409 that says nothing about the design."""
    return {**signup, "email": f"{uuid.uuid4().hex[:12]}{signup['email']}"}


@pytest.mark.parametrize("design", DESIGNS)
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(signup=valid_signups())
def test_valid_signups_are_stored_once_and_a_repeat_is_409_and_stores_nothing(
    design, signup, request, provider
):
    target, ledger = ledger_for(request, design)
    operation = SCHEMAS[design]["/users"]["POST"]
    case = operation.Case(body=unique(signup), media_type="application/json")

    before = ledger.footprint()
    first = case.call(base_url=target.url, timeout=10)
    case.validate_response(first)
    assert first.status_code == STORED[design], first.text
    ledger.expect(before, stored=True, context=case.body)

    before = ledger.footprint()
    again = case.call(base_url=target.url, timeout=10)
    case.validate_response(again)
    assert again.status_code == 409, again.text
    ledger.expect(before, stored=False, context=case.body)


# -- oversized bodies ---------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024
#: a refusal after reading the body would take far longer: 10 MB is never sent in full
PROMPT_S = 2.0


def post_oversized(url: str, *, chunked: bool) -> tuple[int, float, int]:
    """POST /users announcing 10 MB; returns (status, seconds until the answer, body bytes sent).

    With a declared Content-Length no body byte is sent, so a server that waited for the body
    before answering would never answer. Chunked, the body is a valid signup followed by
    whitespace, trickled 4 KiB at a time with the answer looked for between chunks: the bytes
    sent bound what the server read, and a server that parsed a truncated prefix would store it.
    """
    parts = urlsplit(url)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % TEN_MB
    head = b"POST /users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s\r\n\r\n" % (
        parts.netloc.encode(),
        framing,
    )
    signup = json.dumps({"email": f"{uuid.uuid4().hex}@example.com", "display_name": "Big"})
    first = signup.encode().ljust(4096)
    chunks = [first, *([b" " * 4096] * (TEN_MB // 4096 - 1))] if chunked else []
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(head)
        while time.perf_counter() - started < 5 * PROMPT_S:
            readable, _, _ = select.select([sock], [], [], 0.005 if chunks else 0.1)
            if readable:
                break
            if sent // 4096 < len(chunks):
                try:
                    sock.sendall(b"1000\r\n" + chunks[sent // 4096] + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server stopped reading: its answer is already on the way
                sent += 4096
        answer = sock.recv(65536)
        elapsed = time.perf_counter() - started
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), answer[:200]
    return int(status_line.split()[1]), elapsed, sent


@pytest.mark.parametrize("chunked", [False, True], ids=["declared-10MB", "chunked"])
@pytest.mark.parametrize("design", DESIGNS)
def test_an_oversized_body_is_refused_with_413_before_it_is_read(design, chunked, request):
    target, ledger = ledger_for(request, design)
    before = ledger.footprint()

    status, elapsed, sent = post_oversized(target.url, chunked=chunked)

    assert status == 413
    assert elapsed < PROMPT_S
    assert sent <= 64 * MAX_BODY_BYTES  # read no more than a small multiple of the limit
    ledger.expect(before, stored=False, context="oversized body")


@pytest.mark.parametrize("design", ["sync", "sync-threads"])
def test_a_request_line_too_long_for_gunicorn_is_a_documented_414(design, request):
    """Fuzzing found it (CI, GET /ledger with a 4,200-byte query): gunicorn answers 414 with
    an HTML page before the app runs; the document declares it, so a client knows."""
    target, _ = ledger_for(request, design)
    response = httpx.get(f"{target.url}/ledger", params={"since": "9" * 4200}, timeout=10)
    assert response.status_code == 414
    assert response.headers["content-type"].startswith("text/html")
    declared = DOCUMENTS[design]["paths"]["/ledger"]["get"]["responses"]["414"]
    assert "text/html" in declared["content"]


# -- hostile bodies fuzzing found (fixed in targets/common/signup.py) ---------------------


DOTTED_CAPITAL_I = "\u0130"  # "İ".lower() is two characters


def _signup_body(email: str) -> bytes:
    return json.dumps({"email": email, "display_name": "A"}).encode()


def _found(body: Callable[[], bytes], reason: str) -> Any:
    """A hostile body fuzzing found; ``reason`` says what went wrong before it was fixed."""
    return pytest.param(body, id=None)


FOUND = {
    "deeply-nested-json": _found(
        lambda: b'{"email": ' + b"[" * 5000 + b"]" * 5000 + b', "display_name": "A"}',
        "parse_signup lets json.loads' RecursionError escape: 10 kB of nested arrays (under "
        "the body limit) is a 500 internal_error on both designs",
    ),
    "nul-in-email": _found(
        lambda: _signup_body(f"{uuid.uuid4().hex}\x00@example.com"),
        "the email validator accepts control characters: a NUL is stored on SQLite (201/202) "
        "and is a 500 (psycopg DataError) on PostgreSQL",
    ),
    "email-longer-than-254-once-lowercased": _found(
        lambda: _signup_body(f"{uuid.uuid4().hex}@{DOTTED_CAPITAL_I * 111}.co"),
        "the 254-character limit is checked before the domain is lowercased, and 'İ' lowercases "
        "to two characters: 147 characters become 258, stored on SQLite and a 500 (varchar(254) "
        "DataError) on PostgreSQL",
    ),
}


@pytest.mark.parametrize("body", FOUND.values(), ids=FOUND.keys())
@pytest.mark.parametrize("design", DESIGNS)
def test_hostile_signup_bodies_are_refused_with_a_4xx_and_store_nothing(design, body, request):
    target, ledger = ledger_for(request, design)
    before = ledger.footprint()

    response = httpx.post(
        f"{target.url}/users",
        content=body(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code in (400, 422), response.text
    assert response.json()["error"] in ("invalid_json", "validation_failed")  # not the provider
    ledger.expect(before, stored=False, context=response.text)


# -- after all of the above ---------------------------------------------------------------


def test_every_email_sent_belongs_to_a_stored_user_and_none_was_sent_twice(request, provider):
    """Whatever the tests above sent: a refused signup sent no email, an accepted one exactly
    one — unless the provider refused the address for good, which the queued and background
    designs learn only after answering (async and outbox dead-letter the job; background has
    no record but the provider's refusal)."""
    ledgers = {design: ledger_for(request, design)[1] for design in DESIGNS}
    for design in QUEUED:
        wait_until(lambda d=design: ledgers[d].store.unfinished_jobs() == 0, timeout=30)
    delivered = Counter(r["user_id"] for r in provider_records(provider, outcome="delivered"))
    rejected = {r["user_id"] for r in provider_records(provider, outcome="rejected")}
    stored = set().union(*(ledger.user_ids() for ledger in ledgers.values()))

    assert set(delivered) <= stored
    assert set(delivered.values()) <= {1}
    dead_lettered = set().union(*(ledgers[design].dead_lettered_user_ids() for design in QUEUED))
    assert stored - set(delivered) == dead_lettered | (rejected & ledgers["background"].user_ids())
