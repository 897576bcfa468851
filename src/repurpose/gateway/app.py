"""The gateway's FastAPI application: routers, middleware and error handlers, built from ``Settings``.

A request passes, outermost first: request id → trace span → metrics and access log → API key (401;
429 for an address past its failed authentications) → rate limit (429) → body size (413) → the route
(its role, 403; its body, 422) → the grain or scorer. Keys and limits are checked before any body is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware import Middleware

import repurpose
from repurpose.gateway.auth import AuthMiddleware
from repurpose.gateway.docs import install_docs
from repurpose.gateway.errors import install_error_handlers
from repurpose.gateway.limits import BodyLimitMiddleware, RateLimitMiddleware
from repurpose.gateway.metrics import MetricsMiddleware
from repurpose.gateway.request_ids import RequestIdMiddleware
from repurpose.gateway.routes import ROUTERS, UPLOAD_PATHS
from repurpose.gateway.services import Services
from repurpose.gateway.tracing import TracingMiddleware, route_call_span
from repurpose.runtime import tracing
from repurpose.settings import Settings

DESCRIPTION = """\
The Repurpose cluster over HTTP: dataset versions, training runs, the model registry, target
proteins, scoring (predictions, explanations, target profiles) and virtual screening.

Every `/v1` route takes an API key (`Authorization: Bearer rp_…`) from `repurpose keys create`;
roles: `reader` (read and score), `scientist` (also datasets, training, targets, screens),
`admin` (everything). Errors are JSON with a stable `code`, a `message` saying what to fix and,
for refused input, the `field`. Every answer carries an `X-Request-ID` header.

Predictions, explanations, profiles and screens without a `model` use the production version of
the cluster's default model (setting `default_model`, env `REPURPOSE_DEFAULT_MODEL`): here `{model}`.
"""


def create_app(settings: Settings, *, services: Services | None = None, standalone: bool = False) -> FastAPI:
    """The gateway for ``settings``. ``standalone``: not behind Serve's proxy (then the gateway sets
    the ``X-Request-ID`` header itself)."""
    services = services or Services.from_settings(settings)
    tracer = tracing.tracer(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="Repurpose",
        version=repurpose.__version__,
        description=DESCRIPTION.format(model=settings.default_model),
        lifespan=lifespan,
        dependencies=[Depends(route_call_span(tracer))] if tracing.enabled(tracer) else None,
        docs_url=None,  # install_docs serves both pages with their assets: FastAPI's load them from a CDN
        redoc_url=None,
        middleware=[
            Middleware(RequestIdMiddleware, set_header=standalone),
            Middleware(TracingMiddleware, tracer=tracer),
            Middleware(MetricsMiddleware, metrics=services.metrics),
            Middleware(
                AuthMiddleware,
                verifier=services.keys,
                enabled=settings.gateway_auth,
                failures=services.auth_failures,
            ),
            Middleware(RateLimitMiddleware, limiter=services.limiter),
            Middleware(
                BodyLimitMiddleware,
                max_body=settings.gateway_max_body_bytes,
                max_upload=settings.gateway_max_upload_bytes,
                upload_paths=UPLOAD_PATHS,
            ),
        ],
    )
    app.state.services = services
    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
