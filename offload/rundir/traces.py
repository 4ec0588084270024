"""``traces.otlp.jsonl``: every span of one design's run, in OTLP JSON.

Each traced process writes its own files while it runs (``traces/<component>/<pid>.otlp.jsonl``,
``targets/common/otlp_file.py``); once they have all stopped, :func:`gather` joins them into
the design's one file — one ``ExportTraceServiceRequest`` per line, as the OpenTelemetry
Collector's file exporter writes, so any tool that reads those reads it — and removes the
per-process files. :func:`read_spans` is how the analysis reads it: the OTLP JSON fields it
needs, checked, as flat :class:`SpanRecord` rows.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from offload.errors import RunInvalid

FILE_NAME = "traces.otlp.jsonl"
#: where the processes of a run write their spans, one folder per process
RAW_DIR = "traces"

log = logging.getLogger("offload.rundir.traces")

SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
_KINDS: tuple[SpanKind, ...] = (
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
)


class _AnyValue(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    string_value: str | None = Field(None, alias="stringValue")
    int_value: int | None = Field(None, alias="intValue")  # a string in OTLP JSON
    double_value: float | None = Field(None, alias="doubleValue")
    bool_value: bool | None = Field(None, alias="boolValue")

    def plain(self) -> str | int | float | bool | None:
        for value in (self.string_value, self.int_value, self.double_value, self.bool_value):
            if value is not None:
                return value
        return None


class _KeyValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str
    value: _AnyValue


class _Span(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    trace_id: str = Field(alias="traceId", pattern=r"^[0-9a-f]{32}$")
    span_id: str = Field(alias="spanId", pattern=r"^[0-9a-f]{16}$")
    parent_span_id: str = Field("", alias="parentSpanId", pattern=r"^([0-9a-f]{16})?$")
    name: str
    kind: int = Field(0, ge=0, le=5)
    start_ns: int = Field(alias="startTimeUnixNano")
    end_ns: int = Field(alias="endTimeUnixNano")
    attributes: list[_KeyValue] = []


class _Resource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    attributes: list[_KeyValue] = []


class _ScopeSpans(BaseModel):
    model_config = ConfigDict(extra="ignore")

    spans: list[_Span] = []


class _ResourceSpans(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    resource: _Resource = _Resource()
    scope_spans: list[_ScopeSpans] = Field([], alias="scopeSpans")


class ExportTraceServiceRequest(BaseModel):
    """One line of the file (the OTLP JSON fields the harness reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    resource_spans: list[_ResourceSpans] = Field([], alias="resourceSpans")


class SpanRecord(BaseModel):
    """One span, flat: who emitted it (``service``: generator, api, relay, worker, provider),
    where it sits in its trace, and when (epoch seconds, the clock of the other records)."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    service: str
    start: float
    end: float
    attributes: dict[str, str | int | float | bool]

    @property
    def duration(self) -> float:
        return self.end - self.start


def read_spans(path: Path) -> list[SpanRecord]:
    """Every span of a ``traces.otlp.jsonl``; a malformed line is an error naming the file,
    the line and what was expected."""
    spans: list[SpanRecord] = []
    with path.open() as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                request = ExportTraceServiceRequest.model_validate_json(line)
            except ValidationError as exc:
                raise RunInvalid(
                    f"{path}, line {number}: not an OTLP JSON ExportTraceServiceRequest: {exc}"
                ) from exc
            spans.extend(_flatten(request))
    return spans


def _flatten(request: ExportTraceServiceRequest) -> list[SpanRecord]:
    rows = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: kv.value.plain() for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name") or "unknown")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                rows.append(
                    SpanRecord(
                        trace_id=span.trace_id,
                        span_id=span.span_id,
                        parent_span_id=span.parent_span_id or None,
                        name=span.name,
                        kind=_KINDS[span.kind],
                        service=service,
                        start=span.start_ns / 1e9,
                        end=span.end_ns / 1e9,
                        attributes={
                            kv.key: value
                            for kv in span.attributes
                            if (value := kv.value.plain()) is not None
                        },
                    )
                )
    return rows


def gather(design_dir: Path) -> int:
    """Join the per-process span files under ``design_dir/traces/`` into
    ``design_dir/traces.otlp.jsonl`` and remove them; the number of lines joined. A line a
    killed process left half-written is dropped with a warning (its spans are lost, the
    others are kept); no per-process files at all leaves no file."""
    raw = design_dir / RAW_DIR
    files = sorted(raw.glob("*/*.otlp.jsonl")) if raw.is_dir() else []
    if not files:
        shutil.rmtree(raw, ignore_errors=True)
        return 0
    joined = 0
    with (design_dir / FILE_NAME).open("w") as out:
        for source in files:
            for number, line in enumerate(source.read_text().splitlines(), start=1):
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s, line %d: not JSON (cut off?); dropped", source, number)
                    continue
                out.write(line + "\n")
                joined += 1
    shutil.rmtree(raw)
    return joined
