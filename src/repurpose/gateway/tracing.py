"""Traces of the gateway: a span per HTTP request, the edge where a trace starts, and one per
route call (the service call it makes).

The request span continues a trace the client started (its ``traceparent`` header, W3C) or starts
one, and carries OpenTelemetry's HTTP attributes (``http.request.method``, ``url.path``,
``http.route``, ``http.response.status_code``) and the request id; its name is
``"{method} {route}"`` once routing found the route. Probes and scrapes (``UNTRACED``) start
none. With tracing off (``none``) the middleware passes every request straight through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import Request
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repurpose.gateway.paths import route_path
from repurpose.gateway.request_ids import current_request_id
from repurpose.runtime import tracing

UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
_CONTEXT_HEADERS = (b"traceparent", b"tracestate")


class TracingMiddleware:
    """One server span per request (see the module docs)."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer
        self.enabled = tracing.enabled(tracer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or route_path(scope) in UNTRACED:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _CONTEXT_HEADERS}
        method = scope.get("method", "")
        attributes = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
            "repurpose.request_id": current_request_id(),
        }
        parent = tracing.extract(carrier)
        with self.tracer.start_as_current_span(
            method, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            status = 500  # if the app fails before answering

            async def send_recording(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await self.app(scope, receive, send_recording)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:  # client errors are the caller's, not the server's (the HTTP conventions)
                    span.set_status(StatusCode.ERROR)


def route_call_span(tracer: Tracer) -> Callable[[Request], AsyncIterator[None]]:
    """An app-wide dependency that makes each route's call (its dependencies and body, the service,
    the answer) a span, named after the service area and the route's function
    (``service scoring.predict``)."""

    async def route_call(request: Request) -> AsyncIterator[None]:
        route = request.scope.get("route")
        area = getattr(getattr(route, "endpoint", None), "__module__", "").rsplit(".", 1)[-1]
        with tracing.child_span(tracer, f"service {area}.{getattr(route, 'name', 'route')}"):
            yield

    return route_call
