"""The contract a target must honour, as checks against a running target.

What the load generator and the analysis rely on: signup answers as specified (201/202 with
the user id, the correlation id echoed), the user is stored where the ledger reads it, bad
input gets a 4xx with a JSON reason and stores nothing, a duplicate gets 409, and exactly one
email reaches the provider. ``offload verify`` (offload/target/verify.py) starts the target and runs
these; ``docs/targets.md`` documents them for target authors — keep the three in step.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from offload.run.stack import RunningProvider, RunningTarget
from offload.target.ledger_reader import LedgerReader, SqlLedgerReader
from offload.target.manifest import render
from offload.target.reference import make_engine, read_log

#: the job states the analysis counts as finished (offload/analysis/summary.py)
FINISHED_JOB_STATES = ("delivered", "dead_lettered")
#: larger than any sane signup body; a target must refuse it with a 4xx, not choke on it
OVERSIZED_BYTES = 1024 * 1024

_JSON = "application/json"
#: what a target must refuse with a 4xx and a JSON body, storing nothing: (body, Content-Type)
BAD_INPUT: dict[str, tuple[bytes, str]] = {
    "invalid JSON": (b'{"email": ', _JSON),
    "missing field": (b'{"email": "bad-input@example.com"}', _JSON),
    "unknown field": (
        b'{"email": "bad-input@example.com", "display_name": "B", "admin": 1}',
        _JSON,
    ),
    "wrong content type": (
        b'{"email": "bad-input@example.com", "display_name": "B"}',
        "text/plain",
    ),
    "oversized body": (
        b'{"email": "bad-input@example.com", "display_name": "' + b"x" * OVERSIZED_BYTES + b'"}',
        _JSON,
    ),
}

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the verdict: which promise, kept or not, and the evidence."""

    name: str
    status: Status
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True, kw_only=True)
class Bounds:
    """How long the target gets for each thing it must do (seconds)."""

    start: float = 30.0
    request: float = 10.0
    #: signup → the provider logs the email (and, async, the job finishes)
    email: float = 10.0
    #: after the first email arrived, how long to watch for a second one
    settle: float = 1.0


DEFAULT_BOUNDS = Bounds()


class ContractRun:
    """The checks against one running target, in the order a signup's life takes."""

    def __init__(
        self,
        target: RunningTarget,
        provider: RunningProvider | None,
        bounds: Bounds,
        *,
        ledger: LedgerReader | Literal["own"] | None = "own",
    ) -> None:
        """``provider``: None when the target calls its own (the email is not checked);
        ``ledger``: what reads the target's users and jobs ("own": the target's database;
        an external target's: its database read only, or its ledger endpoint; None: no
        ledger, so what is stored is not checked)."""
        self.target = target
        self.provider = provider
        self.bounds = bounds
        self.kind = target.manifest.kind
        self.client = httpx.Client(base_url=target.url, timeout=bounds.request, trust_env=False)
        self.ledger: LedgerReader | None = (
            SqlLedgerReader(make_engine(target.database.url, target.database.schema))
            if ledger == "own"
            else ledger
        )
        token = uuid.uuid4().hex[:12]
        self.email = f"verify-{token}@example.com"
        self.request_id = f"verify-{token}"
        self.user_id: str | None = None
        self.job_id: str | None = None

    def __enter__(self) -> ContractRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        if self.ledger is not None:
            self.ledger.close()

    def checks(self) -> Iterator[CheckResult]:
        yield from self.signup()
        yield from self.bad_input()
        yield self.duplicate()
        yield self.email_once()
        if self.kind == "async":
            yield self.job_status()
            yield self.jobs_table()

    # -- the signup --------------------------------------------------------------------------

    def signup(self) -> Iterator[CheckResult]:
        want = 201 if self.kind == "sync" else 202
        body = {"email": self.email, "display_name": "Verify"}
        response, error = self._send(
            "POST", "/users", json=body, headers={"X-Request-ID": self.request_id}
        )
        name = "signup"
        if response is None:
            yield CheckResult(name, "fail", f"POST /users got no answer: {error}")
            yield CheckResult("signup checks", "skip", "no signup to follow")
            return
        payload = _json(response)
        if response.status_code != want:
            yield _fail(
                name, f"POST /users answered {_status(response)}, want {want} ({self.kind})"
            )
        elif not isinstance(payload, dict):
            yield _fail(name, f"POST /users answered {want} without a JSON object body")
        else:
            self.user_id = str(payload.get("id") or payload.get("user_id") or "") or None
            self.job_id = str(payload.get("job_id") or "") or None
            missing = [] if self.user_id else ["the user id ('id' or 'user_id')"]
            if self.kind == "async" and not self.job_id:
                missing.append("'job_id'")
            if missing:
                yield _fail(name, f"{want}, but the body lacks {' and '.join(missing)}: {payload}")
            else:
                job = f", job {self.job_id}" if self.job_id else ""
                yield CheckResult(
                    name, "pass", f"POST /users answered {want}: user {self.user_id}{job}"
                )

        echoed = response.headers.get("X-Request-ID")
        if echoed == self.request_id:
            yield CheckResult("request id", "pass", "X-Request-ID is echoed in the response")
        else:
            yield _fail("request id", f"sent X-Request-ID {self.request_id!r}, got back {echoed!r}")

        if self.user_id is None:
            yield CheckResult("stored", "skip", "no user id from the signup")
            yield CheckResult("read back", "skip", "no user id from the signup")
            return
        yield self.stored()
        yield self.read_back()

    def stored(self) -> CheckResult:
        name = "stored"
        if self.ledger is None:
            return CheckResult(name, "skip", 'no ledger (ledger = "none"): not checked')
        assert self.user_id is not None
        try:
            row = self.ledger.user(self.user_id)
        except Exception as exc:  # any driver or HTTP error: what offload's ledger reads fails
            return _fail(
                name, f"cannot read {self.ledger.where}, which offload's ledger reads: {exc}"
            )
        if row is None:
            return _fail(
                name,
                f"no user with id {self.user_id!r} in {self.ledger.where}: the ledger owes an "
                "email to every user there, so the target must store users in it",
            )
        if str(row.correlation_id) != self.request_id:
            return _fail(
                name,
                f"users.correlation_id is {row.correlation_id!r}, want the X-Request-ID "
                f"{self.request_id!r}",
            )
        return CheckResult(name, "pass", "the user row has the id returned and the X-Request-ID")

    def read_back(self) -> CheckResult:
        name = "read back"
        response, error = self._send("GET", f"/users/{self.user_id}")
        if response is None:
            return _fail(name, f"GET /users/{{id}} got no answer: {error}")
        payload = _json(response)
        if response.status_code != 200:
            return _fail(name, f"GET /users/{self.user_id} answered {_status(response)}, want 200")
        if not isinstance(payload, dict) or not (
            self.user_id in (payload.get("id"), payload.get("user_id"))
            or payload.get("email") == self.email
        ):
            return _fail(
                name, f"GET /users/{self.user_id} answered 200 with another user: {payload}"
            )
        return CheckResult(name, "pass", f"GET /users/{self.user_id} returns that user")

    # -- refusals ----------------------------------------------------------------------------

    def bad_input(self) -> Iterator[CheckResult]:
        for case, (body, content_type) in BAD_INPUT.items():
            yield self._refused(f"bad input: {case}", body, {"Content-Type": content_type})

    def _refused(self, name: str, body: bytes, headers: dict[str, str]) -> CheckResult:
        before = self._users()
        response, error = self._send("POST", "/users", content=body, headers=headers)
        after = self._users()
        stored = (
            f"; and it stored {after - before} user row(s)"
            if before is not None and after is not None and after != before
            else ""
        )
        if response is None:
            return _fail(name, f"no answer: {error}{stored}")
        status = response.status_code
        if not 400 <= status < 500:
            return _fail(name, f"answered {_status(response)}, want a 4xx{stored}")
        if _json(response) is None:
            return _fail(name, f"answered {status} without a JSON body{stored}")
        if stored:
            return _fail(name, f"answered {status}{stored}")
        nothing = "stored nothing" if before is not None else "(what it stored: no ledger)"
        return CheckResult(name, "pass", f"answered {status} with a JSON body, {nothing}")

    def duplicate(self) -> CheckResult:
        name = "duplicate email"
        if self.user_id is None:
            return CheckResult(name, "skip", "no first signup to repeat")
        body = {"email": self.email, "display_name": "Verify again"}
        response, error = self._send("POST", "/users", json=body)
        if response is None:
            return _fail(name, f"no answer: {error}")
        if response.status_code != 409:
            return _fail(
                name, f"a second signup with the same email answered {_status(response)}, want 409"
            )
        return CheckResult(name, "pass", "a second signup with the same email answered 409")

    # -- what happens after the answer -------------------------------------------------------

    def email_once(self) -> CheckResult:
        name = "email"
        if self.provider is None:
            return CheckResult(
                name, "skip", 'the target calls its own provider (provider = "none")'
            )
        if self.user_id is None:
            return CheckResult(name, "skip", "no user to send an email to")
        mine = _poll(lambda: self._delivered(self.user_id), self.bounds.email)
        if not mine:
            others = self._delivered(None)
            hint = (
                f"; the provider got {len(others)} email(s) for other user ids "
                f"({', '.join(sorted({str(r.get('user_id')) for r in others}))}): the email "
                "must carry the user id the API returned"
                if others
                else f"; the provider got no email at all (is {self.provider.url}/emails, from "
                "{provider_url} / OFFLOAD_PROVIDER_URL, what the target calls?)"
            )
            return _fail(
                name, f"no email for user {self.user_id} within {self.bounds.email:g} s{hint}"
            )
        time.sleep(self.bounds.settle)
        mine = self._delivered(self.user_id)
        others = self._delivered(None)
        problems = []
        if len(mine) != 1:
            problems.append(f"{len(mine)} emails delivered for the user, want exactly 1")
        if others:
            problems.append(
                f"{len(others)} other email(s) reached the provider (bad input and the duplicate "
                "signup must not send one)"
            )
        record = mine[0]
        if record.get("correlation_id") != self.request_id:
            problems.append(
                f"the email carries correlation id {record.get('correlation_id')!r}, want the "
                f"signup's X-Request-ID {self.request_id!r} (send it as X-Request-ID)"
            )
        if not record.get("key"):
            problems.append("the email has no Idempotency-Key header")
        if problems:
            return _fail(name, "; ".join(problems))
        return CheckResult(
            name,
            "pass",
            f"one email for the user, with the X-Request-ID and Idempotency-Key {record['key']!r}",
        )

    def job_status(self) -> CheckResult:
        name = "job status"
        path_template = self.target.manifest.jobs_path
        if path_template is None:
            return CheckResult(name, "skip", "the manifest declares no jobs_path")
        if self.job_id is None:
            return CheckResult(name, "skip", "no job id from the signup")
        path = render(path_template, {"job_id": self.job_id})
        state: str | None = None
        last = "no answer"

        def finished() -> bool:
            nonlocal state, last
            response, error = self._send("GET", path)
            payload = _json(response) if response is not None else None
            ok = response is not None and response.status_code == 200
            state = payload.get("state") if ok and isinstance(payload, dict) else None
            if response is None:
                last = f"no answer ({error})"
            else:
                last = f"state {state!r}" if state else _status(response)
            return state in FINISHED_JOB_STATES

        _poll(finished, self.bounds.email)
        if state == "delivered":
            return CheckResult(name, "pass", f"GET {path} reports state 'delivered'")
        return _fail(
            name, f"GET {path} did not report 'delivered' within {self.bounds.email:g} s ({last})"
        )

    def jobs_table(self) -> CheckResult:
        name = "jobs table"
        if self.ledger is None:
            return CheckResult(name, "skip", 'no ledger (ledger = "none"): not checked')
        if self.user_id is None:
            return CheckResult(name, "skip", "no user id from the signup")
        ledger, user_id = self.ledger, self.user_id
        states: list[str] = []

        def delivered() -> bool:
            states[:] = ledger.job_states(user_id)
            return states == ["delivered"]

        try:
            if _poll(delivered, self.bounds.email):
                return CheckResult(name, "pass", "the jobs table has the user's job as 'delivered'")
        except Exception as exc:  # the table or its columns are missing
            return _fail(
                name,
                f"cannot read the user's jobs' states from {ledger.where} (the drain and the "
                f"ledger do): {exc}",
            )
        return _fail(
            name,
            f"the user's jobs in the jobs table are in state(s) {states}, want exactly one "
            "'delivered' (the drain waits for every job to finish)",
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response | None, str]:
        try:
            return self.client.request(method, path, **kwargs), ""
        except httpx.HTTPError as exc:
            dead = [p for p in self.target.all_processes() if not p.alive]
            died = "".join(f"; {p.name} exited with code {p.returncode}" for p in dead)
            return None, f"{type(exc).__name__}{died}"

    def _users(self) -> int | None:
        """Rows in ``users`` (None when the table cannot be read: the stored check says why)."""
        if self.ledger is None:
            return None
        with contextlib.suppress(Exception):
            return self.ledger.user_count()
        return None

    def _delivered(self, user_id: str | None) -> list[dict[str, Any]]:
        """Delivered emails for ``user_id``, or (None) for any other user."""
        if self.provider is None or not self.provider.log_path.exists():
            return []
        records = [r for r in read_log(self.provider.log_path) if r.get("outcome") == "delivered"]
        if user_id is None:
            return [r for r in records if r.get("user_id") != self.user_id]
        return [r for r in records if r.get("user_id") == user_id]


def _poll(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _status(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"{response.status_code} ({text[:160]})" if text else str(response.status_code)


def _fail(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "fail", detail)
