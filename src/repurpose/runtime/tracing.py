"""OpenTelemetry traces: a tracer per process and configuration, and the trace context carried
across Ray calls.

The exporter comes from the settings, whose fields honour the standard variables
(``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
``OTEL_SERVICE_NAME``) and travel with the settings to every process of the cluster, as the rest of
the configuration does: ``none`` (the default: a no-op tracer, nothing recorded), ``otlp``
(OTLP/HTTP to a collector, batched), ``console`` (stdout, batched) and ``file`` (one JSON line per
span under ``traces_dir``, written as each span ends: ``runtime.span_files``). ``tracer(settings)``
builds the provider the first time a process asks for a configuration and keeps it; Repurpose never
sets OpenTelemetry's global provider.

Ray calls carry the caller's context explicitly: ``inject()`` gives the current span's W3C
``traceparent`` as a small dict that travels with the call (a grain call, a scorer call, a
screening task, a training job), and the receiving side starts its span under it
(``span_under``). Traces start at the edges, a gateway request or an in-process service call;
calls made outside any trace (a scorer's monitor flushes, housekeeping) start none of their own:
``child_span`` makes a span only under a current one, ``span_under`` only under a carried one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, NonRecordingSpan, NoOpTracer, Span, SpanContext, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from repurpose.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

TraceCarrier = dict[str, str]
"""The W3C trace context of a call (``traceparent``, ``tracestate``), as it travels over Ray."""

TRACER_NAME = "repurpose"
Attributes = Mapping[str, AttributeValue]

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_OP = NoOpTracer()
_lock = threading.Lock()
_providers: dict[tuple[str, ...], TracerProvider] = {}
_tracers: dict[tuple[str, ...], Tracer] = {}
_pinned: Tracer | None = None


def tracer(settings: Settings) -> Tracer:
    """The tracer for ``settings``' configuration in this process: a no-op one for ``none``."""
    if _pinned is not None:
        return _pinned
    if settings.otel_traces_exporter == "none":
        return _NO_OP
    key = _config_key(settings)
    found = _tracers.get(key)
    if found is None:
        with _lock:
            found = _tracers.get(key)
            if found is None:
                provider = _providers[key] = _make_provider(settings)
                found = _tracers[key] = provider.get_tracer(TRACER_NAME)
    return found


def enabled(tracer: Tracer) -> bool:
    """Whether ``tracer`` records anything (False for the no-op tracer of ``none``)."""
    return not isinstance(tracer, NoOpTracer)


def flush(settings: Settings, timeout_seconds: float = 10.0) -> bool:
    """Export what the process's provider for ``settings`` holds (before a worker ends: Ray may kill
    its process before the batch is due), waiting at most ``timeout_seconds``; True when it all went
    out in time. The SDK's own flush ignores its timeout and retries an unreachable collector for
    the exporter's 10 s, so it runs in a daemon thread that the caller stops waiting for."""
    provider = _providers.get(_config_key(settings))
    if provider is None:
        return True
    done = threading.Event()

    def export() -> None:
        provider.force_flush(int(timeout_seconds * 1000))
        done.set()

    threading.Thread(target=export, name="trace-flush", daemon=True).start()
    flushed = done.wait(timeout_seconds)
    if not flushed:
        logger.warning("traces: spans not exported within %.1f s (is the collector reachable?)", timeout_seconds)
    return flushed


def pin_tracer(pinned: Tracer | None) -> None:
    """Make every ``tracer(...)`` of this process answer ``pinned`` whatever the settings say (None:
    the settings again). For tests, which collect spans in memory; objects keep the tracer they
    were made with."""
    global _pinned
    _pinned = pinned


# --- context across Ray calls --------------------------------------------------------------------


def inject() -> TraceCarrier | None:
    """The current span's context as a carrier; None outside a trace (nothing to send)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: TraceCarrier = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> Context | None:
    """The context a carrier holds; None when it holds none (missing, empty or malformed)."""
    if not carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def in_trace() -> bool:
    """Whether a span is current (this code runs inside a trace)."""
    return trace.get_current_span().get_span_context().is_valid


@contextmanager
def child_span(
    tracer: Tracer, name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None
) -> Iterator[Span]:
    """A span under the current one, made current; none (``INVALID_SPAN``) outside a trace."""
    if not in_trace():
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
        yield span


@contextmanager
def span_under(
    tracer: Tracer,
    name: str,
    carrier: Mapping[str, str] | None,
    *,
    kind: SpanKind = SpanKind.SERVER,
    attributes: Attributes | None = None,
) -> Iterator[Span]:
    """A span under the context a call carried, made current; none (``INVALID_SPAN``) when it
    carried none."""
    parent = extract(carrier)
    if parent is None:
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
        yield span


@contextmanager
def span_for_batch(
    tracer: Tracer, name: str, members: Sequence[SpanContext], *, attributes: Attributes | None = None
) -> Iterator[Span]:
    """A span for work done for many callers at once: a child of the first traced member, linked
    to every traced one; none when no member is traced."""
    traced = [member for member in members if member.is_valid]
    if not traced:
        yield INVALID_SPAN
        return
    parent = trace.set_span_in_context(NonRecordingSpan(traced[0]))
    links = [Link(member) for member in traced]
    with tracer.start_as_current_span(name, context=parent, links=links, attributes=attributes) as span:
        yield span


def record_span(
    tracer: Tracer, name: str, seconds: float, *, attributes: Attributes | None = None, end_ns: int | None = None
) -> None:
    """A span, under the current one, for work of ``seconds`` that ended now (or at ``end_ns``),
    recorded after the fact (a training epoch: its loop knows nothing of traces)."""
    if not in_trace():
        return
    end = end_ns if end_ns is not None else time.time_ns()
    span = tracer.start_span(name, start_time=end - int(seconds * 1e9), attributes=attributes)
    span.end(end_time=end)


def _config_key(settings: Settings) -> tuple[str, ...]:
    return (
        settings.otel_traces_exporter,
        settings.otel_exporter_otlp_traces_endpoint,
        settings.otel_exporter_otlp_endpoint,
        settings.otel_service_name,
        settings.traces_dir,
    )


def _make_provider(settings: Settings) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create({"service.name": settings.otel_service_name, "process.pid": os.getpid()})
    provider = TracerProvider(resource=resource)
    for name in settings.otel_traces_exporter.split(","):
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "file":
            from repurpose.runtime.span_files import JsonLinesSpanExporter

            provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(settings.traces_dir))))
    logger.info("traces: %s (service %s)", settings.otel_traces_exporter, settings.otel_service_name)
    return provider


def _otlp_exporter(settings: Settings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_exporter_otlp_traces_endpoint
    if not endpoint and settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"  # as the spec derives it
    # No endpoint at all: the exporter's own default (http://localhost:4318/v1/traces)
    return OTLPSpanExporter(endpoint=endpoint or None)


__all__ = [
    "TRACER_NAME",
    "TraceCarrier",
    "child_span",
    "enabled",
    "extract",
    "flush",
    "in_trace",
    "inject",
    "pin_tracer",
    "record_span",
    "span_for_batch",
    "span_under",
    "tracer",
]
