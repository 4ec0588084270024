"""Traces across the queue, from a real run: one signup's trace links the load generator, the
API, the worker and the provider under one trace id, with the right parent at every hop; the
report's split of the async end-to-end time adds up and agrees with ``job_events.csv``; and
with tracing off no process writes a span.

One short bench of the async and the sync design with ``tracing: true`` and a provider that
fails a fifth of its calls, so that some jobs are retried and their traces hold more than one
attempt.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from offload.analysis.comparison import analyse_scenario
from offload.analysis.records import requests as read_requests
from offload.analysis.trace_breakdown import PARTS, breakdowns
from offload.run.stack import Stack
from offload.rundir.traces import FILE_NAME, RAW_DIR, SpanRecord, gather, read_spans
from targets.downstream.log import read_log
from tests.factories.processes import TEST_CONFIG, launch, run_bench, wait_until
from tests.factories.validity import assert_measured

SCENARIO = """\
name: traced
description: a short run of async and sync with tracing on and a flaky provider
targets: [async, sync]
load: {rate: 20/s, duration: 5s, warmup: 1s}
provider: {error_rate: 0.2}
designs: {server_processes: 2, workers: 2, tracing: true, max_attempts: 6,
          retry_delays: [100ms, 200ms]}
drain: {timeout: 30s}
"""

#: how far the generator's span may start from the ``sent`` it records for the same request:
#: the two read the clock a few statements apart, on a busy 2-core machine
SENT_TOLERANCE_S = 0.005


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("tracing")
    scenario = tmp_path / "traced.yaml"
    scenario.write_text(SCENARIO)
    result = run_bench(scenario, tmp_path / "reports")
    folder = (tmp_path / "reports" / "latest").resolve() / "traced"
    summary = folder / "summary.json"
    assert summary.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    assert_measured(json.loads(summary.read_text()), result.stdout[-3000:])
    return folder


def traces_of(folder: Path) -> dict[str, list[SpanRecord]]:
    found: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in read_spans(folder / FILE_NAME):
        found[span.trace_id].append(span)
    return found


def only(spans: list[SpanRecord], service: str, kind: str, parent: SpanRecord) -> SpanRecord:
    """The one span of ``service`` and ``kind`` whose parent is ``parent``."""
    matching = [
        s
        for s in spans
        if s.service == service and s.kind == kind and s.parent_span_id == parent.span_id
    ]
    assert len(matching) == 1, (service, kind, parent.name, [(s.service, s.name) for s in spans])
    return matching[0]


def descendant(spans: list[SpanRecord], ancestor: SpanRecord, span: SpanRecord) -> bool:
    by_id = {s.span_id: s for s in spans}
    while span.parent_span_id is not None:
        if span.parent_span_id == ancestor.span_id:
            return True
        span = by_id[span.parent_span_id]
    return False


def delivered_signups(folder: Path) -> pd.DataFrame:
    requests = read_requests(folder)
    return requests[(requests["stream"] == "signup") & (requests["status"].isin([201, 202]))]


def test_an_async_signup_is_one_trace_from_the_generator_to_the_provider(run: Path) -> None:
    folder = run / "async"
    assert not (folder / RAW_DIR).exists()  # joined into the one file
    traces = traces_of(folder)
    signups = delivered_signups(folder)
    assert len(signups) > 80
    # the trace id is the correlation id: every answered signup's trace is in the file
    assert set(signups["correlation_id"]) <= set(traces)
    provider_log = {r["correlation_id"]: r for r in read_log(folder / "provider-log.jsonl")}

    row = signups.iloc[len(signups) // 2]
    spans = traces[row["correlation_id"]]
    assert {s.trace_id for s in spans} == {row["correlation_id"]}
    (root,) = [s for s in spans if s.parent_span_id is None]
    assert (root.service, root.kind, root.name) == ("generator", "client", "POST /users")
    assert abs(root.start - row["sent"]) < SENT_TOLERANCE_S
    api = only(spans, "api", "server", root)
    assert api.name == "POST /users" and api.attributes["http.response.status_code"] == 202
    (publish,) = [s for s in spans if s.kind == "producer"]
    assert publish.service == "api" and descendant(spans, api, publish)
    assert publish.attributes["job_id"] == row["job_id"]
    attempts = sorted(
        (s for s in spans if s.kind == "consumer" and s.parent_span_id == publish.span_id),
        key=lambda s: s.start,
    )
    assert attempts and all(a.service == "worker" for a in attempts)
    assert [a.attributes["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
    last = attempts[-1]
    assert last.attributes["offload.outcome"] == "delivered"
    call = only(spans, "worker", "client", last)
    provider = only(spans, "provider", "server", call)
    assert provider.attributes["offload.outcome"] == "delivered"
    # the provider's own delivery log places the acceptance inside its span
    logged = provider_log[row["correlation_id"]]
    assert provider.start <= logged["done_ts"] <= provider.end


def test_a_retried_job_keeps_one_trace_with_an_attempt_span_each(run: Path) -> None:
    traces = traces_of(run / "async")
    retried = [
        spans
        for spans in traces.values()
        if sum(s.kind == "consumer" for s in spans) >= 2
        and any(s.attributes.get("offload.outcome") == "delivered" for s in spans)
    ]
    assert retried, "a 20 % failing provider retried no job"
    spans = retried[0]
    (publish,) = [s for s in spans if s.kind == "producer"]
    attempts = sorted((s for s in spans if s.kind == "consumer"), key=lambda s: s.start)
    assert all(a.parent_span_id == publish.span_id for a in attempts)
    assert [a.attributes["offload.outcome"] for a in attempts[:-1]] == ["retried"] * (
        len(attempts) - 1
    )
    for attempt in attempts:  # every attempt called the provider, under its own span
        call = only(spans, "worker", "client", attempt)
        only(spans, "provider", "server", call)


def test_the_split_adds_up_and_agrees_with_job_events(run: Path) -> None:
    folder = run / "async"
    found = breakdowns(read_spans(folder / FILE_NAME))
    assert len(found) > 80
    for item in found:
        assert sum(item.part(p) for p in PARTS) == pytest.approx(item.end_to_end, abs=1e-6)
        assert all(item.part(p) >= 0 for p in ("accept", "queue", "sending"))
    assert any(item.retry_delays >= 0.1 for item in found)  # a retry waits its tier's delay
    analysis = analyse_scenario(run)
    table = analysis.tables["trace_breakdown"]
    assert set(table["design"]) == {"async"}  # the sync design has no queue to split
    shares = table[(table["design"] == "async") & (table["part"] != "end_to_end")]
    assert shares["share_of_mean"].sum() == pytest.approx(1.0, abs=1e-9)
    (check,) = analysis.tables["trace_check"].to_dict("records")
    assert check["agree"], check
    assert check["jobs_agreeing"] == check["jobs_checked"] == check["traced_signups"]


def test_a_sync_signup_links_generator_api_and_provider(run: Path) -> None:
    folder = run / "sync"
    traces = traces_of(folder)
    row = delivered_signups(folder).iloc[0]
    spans = traces[row["correlation_id"]]
    (root,) = [s for s in spans if s.parent_span_id is None]
    assert root.service == "generator"
    api = only(spans, "api", "server", root)
    assert api.name == "POST /users"
    call = only(spans, "api", "client", api)
    only(spans, "provider", "server", call)


def test_with_tracing_off_no_process_writes_a_span(tmp_path: Path, broker: Any) -> None:
    """The default: a signup carrying a ``traceparent`` through the async design leaves no
    span file anywhere in the stack's directory."""
    with Stack(tmp_path) as stack:
        stack.start_provider()
        target = launch(stack, "async", broker=broker)
        header = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
        answer = httpx.post(
            f"{target.url}/users",
            json={"email": "untraced@example.com", "display_name": "U"},
            headers=header,
        )
        assert answer.status_code == 202
        job = answer.json()["status_url"]

        def delivered() -> bool:
            """the untraced job is delivered"""
            return bool(httpx.get(f"{target.url}{job}").json()["state"] == "delivered")

        wait_until(delivered, timeout=15, interval=0.1)
    assert not list(tmp_path.rglob("*.otlp.jsonl"))
    assert not (tmp_path / RAW_DIR).exists()


def test_the_outbox_relay_continues_the_signups_trace(tmp_path: Path, broker: Any) -> None:
    """The outbox design publishes later, from its relay: the traceparent stored with the
    message makes the relay's publish a child of the signup's API span, and the worker's
    attempt a child of that publish. On a stack like ``offload up``'s, the spans joined as
    the harness joins a run's."""
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with Stack(tmp_path) as stack:
        stack.start_provider(tracing=True)
        target = launch(stack, "outbox", broker=broker, config=TEST_CONFIG.model_copy(
            update={"tracing": True}))  # fmt: skip
        answer = httpx.post(
            f"{target.url}/users",
            json={"email": "traced-outbox@example.com", "display_name": "T"},
            headers={"traceparent": caller},
        )
        assert answer.status_code == 202
        job = answer.json()["status_url"]

        def delivered() -> bool:
            """the outbox job is delivered"""
            return bool(httpx.get(f"{target.url}{job}").json()["state"] == "delivered")

        wait_until(delivered, timeout=15, interval=0.1)
    assert gather(tmp_path) > 0
    spans = [s for s in read_spans(tmp_path / FILE_NAME) if s.trace_id == caller[3:35]]
    api = next(s for s in spans if s.service == "api" and s.parent_span_id == caller[36:52])
    assert api.kind == "server" and api.name == "POST /users"
    (publish,) = [s for s in spans if s.kind == "producer"]
    assert publish.service == "relay" and descendant(spans, api, publish)
    attempt = only(spans, "worker", "consumer", publish)
    call = only(spans, "worker", "client", attempt)
    assert only(spans, "provider", "server", call).attributes["offload.outcome"] == "delivered"
