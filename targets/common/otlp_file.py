"""A span exporter that appends OTLP JSON to a file: traces without a collector.

Each export is one line, one ``ExportTraceServiceRequest`` in the OTLP JSON encoding — what
the OpenTelemetry Collector's file exporter writes, so the files load into any tool that
reads those. The protobuf message is built by the OTLP exporter's own encoder; the JSON
mapping is protobuf's, with the two changes the OTLP specification makes to it: trace and
span ids are hex strings (not base64), and enums are integers.

One file per process (``<pid>.otlp.jsonl``): a server's worker processes never interleave
writes, and a process forked from another opens its own file on its first export.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

#: the OTLP fields that hold ids (hex in OTLP JSON)
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """``spans`` as one OTLP JSON ``ExportTraceServiceRequest``."""
    request: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _ids_to_hex(span)
                for link in span.get("links", []):
                    _ids_to_hex(link)
    return request


def _ids_to_hex(item: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        if item.get(key):
            item[key] = base64.b64decode(item[key]).hex()


class OtlpJsonFileExporter(SpanExporter):
    """Appends each batch to ``<directory>/<pid>.otlp.jsonl``, flushed per batch."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = json.dumps(otlp_json(spans), separators=(",", ":")) + "\n"
        with self._lock, (self.directory / f"{os.getpid()}.otlp.jsonl").open("a") as file:
            file.write(line)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held open between exports."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
