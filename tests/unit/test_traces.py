"""Traces on disk and what the report makes of them: the OTLP JSON file a process writes, the
harness's join and typed reader, and the split of a queue-backed signup's end-to-end time
(accept, queue, retry delays, sending) with its cross-check against ``job_events.csv`` —
on small hand-made span files whose right answers are known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from offload.analysis.trace_breakdown import PARTS, breakdown, breakdowns, cross_check
from offload.errors import RunInvalid
from offload.rundir.traces import FILE_NAME, gather, read_spans
from offload.scenario.designs import Designs
from targets.common.knobs import DesignKnobs
from targets.common.otlp_file import OtlpJsonFileExporter

pytestmark = pytest.mark.unit

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_800_000_000.0


class SpanFile:
    """Hand-made spans of one trace, written as the Collector's file exporter would."""

    def __init__(self) -> None:
        self.by_service: dict[str, list[dict[str, Any]]] = {}
        self._next = 0

    def add(
        self,
        service: str,
        name: str,
        kind: int,
        start_ms: float,
        end_ms: float,
        parent: str | None = None,
        **attributes: str | int,
    ) -> str:
        self._next += 1
        span_id = f"{self._next:016x}"
        span: dict[str, Any] = {
            "traceId": TRACE,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(int((T0 + start_ms / 1000) * 1e9)),
            "endTimeUnixNano": str(int((T0 + end_ms / 1000) * 1e9)),
            "attributes": [
                {
                    "key": k,
                    "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
                }
                for k, v in attributes.items()
            ],
        }
        if parent:
            span["parentSpanId"] = parent
        self.by_service.setdefault(service, []).append(span)
        return span_id

    def write(self, path: Path) -> Path:
        with path.open("w") as out:
            for service, spans in self.by_service.items():
                resource = {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                }
                line = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
                out.write(json.dumps(line) + "\n")
        return path


SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


def signup_trace(attempt_outcomes: list[str]) -> SpanFile:
    """A signup sent at 0 ms, published at 4 ms; attempt n starts at 10 + 600·(n-1) ms, calls
    the provider 2–7 ms into it and ends at 9 ms."""
    spans = SpanFile()
    root = spans.add("generator", "POST /users", CLIENT, 0, 12)
    server = spans.add("api", "POST /users", SERVER, 1, 11, root)
    publish = spans.add("api", "publish welcome_email", PRODUCER, 4, 8, server, job_id="job-1")
    for n, outcome in enumerate(attempt_outcomes, start=1):
        start = 10 + 600 * (n - 1)
        attempt = spans.add(
            "worker", "process welcome_email", CONSUMER, start, start + 9, publish,
            job_id="job-1", attempt=n, **{"offload.outcome": outcome},
        )  # fmt: skip
        call = spans.add("worker", "POST /emails", CLIENT, start + 2, start + 7, attempt)
        spans.add("provider", "POST /emails", SERVER, start + 3, start + 6, call)
    return spans


def test_a_first_attempt_delivery_splits_into_accept_queue_and_sending(tmp_path: Path) -> None:
    spans = read_spans(signup_trace(["delivered"]).write(tmp_path / FILE_NAME))
    item = breakdown(spans)
    assert item is not None
    assert item.trace_id == TRACE and item.job_id == "job-1"
    assert item.accept == pytest.approx(0.004, abs=1e-6)  # sent → publish starts
    assert item.queue == pytest.approx(0.006, abs=1e-6)  # publish → first attempt
    assert item.retry_delays == 0
    assert item.sending == pytest.approx(0.007, abs=1e-6)  # attempt start → provider answer
    assert item.end_to_end == pytest.approx(0.017, abs=1e-6)
    assert sum(item.part(p) for p in PARTS) == pytest.approx(item.end_to_end, abs=1e-9)


def test_retries_count_their_delays_and_every_attempt_as_sending(tmp_path: Path) -> None:
    spans = read_spans(signup_trace(["retried", "retried", "delivered"]).write(tmp_path / "t"))
    item = breakdown(spans)
    assert item is not None
    assert item.accepted_attempt == 3 and set(item.attempts) == {1, 2, 3}
    # two gaps of 600 - 9 ms between an attempt's end and the next one's start
    assert item.retry_delays == pytest.approx(2 * 0.591, abs=1e-6)
    assert item.sending == pytest.approx(0.009 + 0.009 + 0.007, abs=1e-6)
    assert item.end_to_end == pytest.approx(1.217, abs=1e-6)
    assert sum(item.part(p) for p in PARTS) == pytest.approx(item.end_to_end, abs=1e-9)


def test_a_dead_lettered_job_or_a_trace_without_a_queue_has_no_breakdown(tmp_path: Path) -> None:
    dead = read_spans(signup_trace(["retried", "dead_lettered"]).write(tmp_path / "dead"))
    assert breakdown(dead) is None
    sync = SpanFile()
    root = sync.add("generator", "POST /users", CLIENT, 0, 12)
    call = sync.add(
        "api", "POST /emails", CLIENT, 2, 9, sync.add("api", "POST /users", SERVER, 1, 11, root)
    )
    sync.add("provider", "POST /emails", SERVER, 3, 8, call)
    assert breakdowns(read_spans(sync.write(tmp_path / "sync"))) == []


def test_signups_sent_before_the_measured_part_are_left_out(tmp_path: Path) -> None:
    spans = read_spans(signup_trace(["delivered"]).write(tmp_path / "t"))
    assert len(breakdowns(spans, since=T0)) == 1
    assert breakdowns(spans, since=T0 + 0.001) == []


def events(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    """``job_events.csv`` rows of job-1: (state, attempt, ms after T0)."""
    return pd.DataFrame(
        [
            {"seq": i, "job_id": "job-1", "state": s, "attempt": a, "at": T0 + ms / 1000}
            for i, (s, a, ms) in enumerate(rows)
        ]
    )


def test_job_events_inside_their_attempt_spans_agree(tmp_path: Path) -> None:
    found = breakdowns(read_spans(signup_trace(["retried", "delivered"]).write(tmp_path / "t")))
    agreeing = events([("queued", 0, 3), ("sending", 1, 11), ("retrying", 1, 18),
                       ("sending", 2, 611), ("delivered", 2, 618)])  # fmt: skip
    check = cross_check(found, agreeing)
    assert (check.jobs_checked, check.jobs_agreeing, check.agree) == (1, 1, True)
    assert check.worst_outside_ms == 0


def test_an_event_outside_its_span_or_a_missing_attempt_disagrees(tmp_path: Path) -> None:
    found = breakdowns(read_spans(signup_trace(["retried", "delivered"]).write(tmp_path / "t")))
    late = events([("sending", 1, 11), ("sending", 2, 611), ("delivered", 2, 640)])
    check = cross_check(found, late)
    assert not check.agree and check.jobs_agreeing == 0
    assert check.worst_outside_ms == pytest.approx(21, abs=0.01)  # the span ends at 619 ms
    one_attempt = events([("sending", 2, 611), ("delivered", 2, 618)])
    assert not cross_check(found, one_attempt).agree


def test_a_job_missing_from_job_events_disagrees(tmp_path: Path) -> None:
    found = breakdowns(read_spans(signup_trace(["delivered"]).write(tmp_path / "t")))
    empty = pd.DataFrame(columns=["seq", "job_id", "state", "attempt", "at"])
    check = cross_check(found, empty)
    assert (check.jobs_checked, check.jobs_agreeing, check.agree) == (1, 0, False)


def test_a_malformed_line_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = signup_trace(["delivered"]).write(tmp_path / FILE_NAME)
    with path.open("a") as out:
        out.write(
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]})
        )
    with pytest.raises(RunInvalid, match=rf"{FILE_NAME}, line 5: not an OTLP JSON"):
        read_spans(path)


def test_the_file_exporter_writes_otlp_json_the_reader_reads_back(tmp_path: Path) -> None:
    """Real SDK spans through the exporter: hex ids, integer kinds, the parent link and the
    service name survive the trip."""
    provider = TracerProvider(resource=Resource.create({"service.name": "worker"}))
    provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(tmp_path)))
    tracer = provider.get_tracer("test")
    parent = tracer.start_span("process welcome_email", kind=SpanKind.CONSUMER)
    child = tracer.start_span(
        "POST /emails", kind=SpanKind.CLIENT, context=set_span_in_context(parent),
        attributes={"attempt": 2},
    )  # fmt: skip
    child.end()
    parent.end()
    provider.shutdown()
    (written,) = tmp_path.glob("*.otlp.jsonl")
    first = json.loads(written.read_text().splitlines()[0])
    span = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["kind"] == 3 and len(span["traceId"]) == 32 and len(span["spanId"]) == 16
    got = {s.name: s for s in read_spans(written)}
    assert got["POST /emails"].parent_span_id == got["process welcome_email"].span_id
    assert got["POST /emails"].trace_id == format(parent.get_span_context().trace_id, "032x")
    assert got["POST /emails"].kind == "client" and got["POST /emails"].service == "worker"
    assert got["POST /emails"].attributes == {"attempt": 2}
    assert got["process welcome_email"].parent_span_id is None


def test_gather_joins_the_process_files_and_drops_a_cut_off_line(tmp_path: Path) -> None:
    line = signup_trace(["delivered"]).write(tmp_path / "one").read_text().splitlines()[0]
    for component, text in {"api": line + "\n", "worker-1": line + "\n" + line[:40]}.items():
        (tmp_path / "traces" / component).mkdir(parents=True)
        (tmp_path / "traces" / component / "123.otlp.jsonl").write_text(text)
    assert gather(tmp_path) == 2
    assert not (tmp_path / "traces").exists()
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) == 2


def test_no_process_files_leave_no_trace_file(tmp_path: Path) -> None:
    assert gather(tmp_path) == 0
    assert not (tmp_path / FILE_NAME).exists()


def test_tracing_switch() -> None:
    """``tracing: true`` in a scenario turns tracing on (off by default: it costs more than a
    default may); the harness's switch, no process reads it, recorded only when on."""
    assert Designs.model_validate({}).config().tracing is False
    on = Designs.model_validate({"tracing": True}).config()
    assert on.tracing is True
    assert not any("TRAC" in name for name in on.target_env())
    assert "tracing" not in DesignKnobs().model_dump() and on.model_dump()["tracing"] is True


def test_a_traced_queue_design_without_one_complete_trace_is_said_not_hidden() -> None:
    """Tracing on, spans only from the generator and the provider (a component could not
    write its own): the page must say the split is missing and why, not leave it out."""
    from types import SimpleNamespace

    import pandas as pd

    from offload.analysis.trace_breakdown import CHECK_COLUMNS
    from offload.report.sections import trace_check_sentences

    checks = pd.DataFrame(
        [{"design": "async", "traced_signups": 0, "services": "generator, provider"}],
        columns=CHECK_COLUMNS,
    )
    text = trace_check_sentences(SimpleNamespace(tables={"trace_check": checks}))  # type: ignore[arg-type]
    assert "async: tracing was on, but not one measured signup's trace is complete" in text
    assert "generator, provider" in text
