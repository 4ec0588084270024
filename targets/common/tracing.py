"""Traces of the reference designs: W3C ``traceparent`` across HTTP and the queue.

Tracing is on when ``OFFLOAD_TRACES_DIR`` names a directory (the harness gives every process
one of its own): each process then writes its finished spans to ``<dir>/<pid>.otlp.jsonl``
(OTLP JSON, one ``ExportTraceServiceRequest`` per line, as the OpenTelemetry Collector's file
exporter writes it), and, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, also sends them there
(OTLP/HTTP). Without the variable nothing is imported and nothing recorded: every helper
below is a test of :data:`ENABLED` first, so a design costs what it did before tracing existed
(the overhead knob, like ``targets.common.metrics``).

Propagation is the SDK's own (``opentelemetry.propagate``: W3C trace context), in HTTP headers
and in the AMQP message's headers alike. Contexts are passed explicitly where a hop crosses a
thread, a greenlet or a queue; inside one request the server span is the current one, so the
provider call made while handling it becomes its child without being handed anything.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is imported only when tracing is on
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

#: the directory a process writes its spans to; tracing is off without it
DIR_ENV = "OFFLOAD_TRACES_DIR"
#: the standard variable that also sends the spans to an OTLP/HTTP endpoint (a collector)
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: the W3C header, in HTTP requests and in AMQP message headers alike
TRACEPARENT = "traceparent"

ENABLED = bool(os.environ.get(DIR_ENV))

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def setup(service: str) -> None:
    """Start this process's tracer provider as ``service`` (api, worker, provider, ...), when
    tracing is on; safe to call more than once. Spans are batched off the hot path and flushed
    at exit (and every second, so a killed process loses at most about a second of them)."""
    global _tracer, _provider
    if not ENABLED or _tracer is not None:
        return
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from targets.common.otlp_file import OtlpJsonFileExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
    provider.add_span_processor(
        BatchSpanProcessor(OtlpJsonFileExporter(os.environ[DIR_ENV]), schedule_delay_millis=1000)
    )
    if os.environ.get(OTLP_ENDPOINT_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # flushed at exit: atexit in a plain process; a multiprocessing child (uvicorn's
    # workers) leaves through os._exit, running only multiprocessing's exit finalizers
    atexit.register(shutdown)
    multiprocessing.util.Finalize(None, shutdown, exitpriority=10)
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("offload")


def shutdown() -> None:
    """Export the spans still held and stop (once, whichever exit path calls it first)."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def tracer() -> Tracer:
    """This process's tracer; :func:`setup` must have run (it does in every component)."""
    if _tracer is None:
        raise RuntimeError("tracing is on but setup() was not called in this process")
    return _tracer


def extract(carrier: Mapping[str, Any] | None) -> Context | None:
    """The remote parent in ``carrier`` (HTTP or AMQP headers); an empty context if none, and
    None when tracing is off (what :func:`current_span` takes as "no parent")."""
    if not ENABLED:
        return None
    from opentelemetry.propagate import extract as sdk_extract

    # header names arrive in any case (HTTP) or as bytes-free text (AMQP): one spelling
    return sdk_extract({k.lower(): v for k, v in (carrier or {}).items() if isinstance(v, str)})


def inject(carrier: MutableMapping[str, str], context: Context | None = None) -> None:
    """Add ``traceparent`` for ``context`` (default: the current span) to ``carrier``."""
    if not ENABLED:
        return
    from opentelemetry.propagate import inject as sdk_inject

    sdk_inject(carrier, context=context)


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, to store with work that leaves the process
    later (an outbox row); None when tracing is off."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get(TRACEPARENT)


def context_of(span: Span) -> Context:
    """A context whose current span is ``span``: the parent to hand across a hop."""
    from opentelemetry.trace import set_span_in_context

    return set_span_in_context(span)


#: what :func:`current_span` returns when tracing is off: one shared, reusable no-op
_OFF: AbstractContextManager[None] = nullcontext()


def current_span(
    name: str, kind: str, parent: Context | None = None, **attributes: str | int
) -> AbstractContextManager[Span | None]:
    """A span around the block, current inside it (its children need no hand-over), a child
    of ``parent`` or of the current span; ``kind``: server, client, producer, consumer,
    internal. When tracing is off, a shared no-op that yields None: one test per call."""
    if not ENABLED:
        return _OFF
    from opentelemetry.trace import SpanKind

    return tracer().start_as_current_span(
        name, context=parent, kind=SpanKind[kind.upper()], attributes=attributes
    )


def start_client_span(name: str) -> Span:
    """A client span started now and ended by the caller (a request that another greenlet
    or callback finishes), a new trace's root."""
    from opentelemetry.trace import SpanKind

    return tracer().start_span(name, kind=SpanKind.CLIENT)


def set_attribute(span: Span | None, key: str, value: str | int) -> None:
    """Record ``key`` on ``span`` (nothing when tracing is off)."""
    if span is not None:
        span.set_attribute(key, value)


def set_current_attribute(key: str, value: str | int) -> None:
    """Record ``key`` on the current span (nothing when tracing is off)."""
    if ENABLED:
        from opentelemetry.trace import get_current_span

        get_current_span().set_attribute(key, value)


def trace_id_hex(span: Span) -> str:
    """The 32 hex digits of ``span``'s trace id (what ``X-Request-ID`` carries)."""
    return format(span.get_span_context().trace_id, "032x")
