"""The HTTP gateway: FastAPI as the Ray Serve ingress of the cluster, versioned under ``/v1``.

Routes stay thin: they parse (pydantic bodies), authorise (API key roles), call one service
function (``repurpose.services``) and answer with its ``contracts`` model. OpenAPI at ``/docs`` and
``/openapi.json``; ``/healthz``, ``/readyz`` and ``/metrics`` for operations.

    module          holds
    app             create_app: routers, middleware, error handlers
    deployment      the Serve application (build_gateway, deploy_gateway) and `up`'s step
    auth            roles and permissions, the key check (401) and the role check (403)
    auth_failures   failed authentications per client address (429 + Retry-After past the limit)
    limits          token buckets per key (429 + Retry-After), body and upload sizes (413)
    errors          the JSON error body, and which status each domain error gets
    request_ids     X-Request-ID on every answer, error body and log line
    metrics         Prometheus registry of a replica, the scorer's figures, access log
    services        what a replica holds: the services' Context, the key verifier, limiters, metrics
    deps            the routes' dependencies as Annotated aliases
    bodies          request bodies and the gateway's own answers
    docs            /docs and /redoc with their assets served by the gateway (no CDN)
    json_errors     a body that is not JSON, in words: line, column, the character
    routes/         one router per area: datasets, training, models, targets, scoring,
                    libraries, screens, operations
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repurpose.gateway.app import create_app
    from repurpose.gateway.deployment import build_gateway, deploy_gateway, ensure_admin_key, stop_gateway

# Imported on first use: importing the package does not load FastAPI, torch and Serve.
_HOMES = {
    "create_app": "app",
    "build_gateway": "deployment",
    "deploy_gateway": "deployment",
    "ensure_admin_key": "deployment",
    "stop_gateway": "deployment",
}

__all__ = [
    "build_gateway",
    "create_app",
    "deploy_gateway",
    "ensure_admin_key",
    "stop_gateway",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
