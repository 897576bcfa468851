"""``/healthz`` (alive), ``/readyz`` (store, Ray and a production model answer), ``/metrics`` (Prometheus).

These three take no API key: probes and scrapers reach them from inside the cluster.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from sqlalchemy import text

from repurpose.actors.model_registry import list_models
from repurpose.contracts.operations import Liveness, Readiness, ReadinessCheck
from repurpose.gateway.deps import ServicesDep
from repurpose.gateway.metrics import CONTENT_TYPE
from repurpose.gateway.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

CHECK_SECONDS = 10.0
STATS_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> Liveness:
    """The gateway answers."""
    return Liveness()


@router.get("/readyz", responses={503: {"model": Readiness, "description": "Not ready: the failing checks say why"}})
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """Ready when the store answers, the grain hosts answer and the scorer answers for a production model."""
    checks = [
        await _check("store", _store(services)),
        await _check("ray", _ray(services)),
        await _check("model", _model(services)),
    ]
    ready = all(c.ok for c in checks)
    if not ready:
        response.status_code = 503
    return Readiness(ready=ready, checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics(services: ServicesDep) -> Response:
    """Requests, latencies, queue depth, batch sizes, pairs scored and the scorer's cache figures."""
    try:
        model = await services.lookups.model(await _production_model_name(services))
        services.metrics.scorer.record(await asyncio.wait_for(services.scorer.stats(model), STATS_SECONDS))
    except Exception as error:  # the gateway's own figures still go out; the scorer's are the last read
        logger.info("scorer figures not refreshed for /metrics: %s", error)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


async def _check(name: str, work: Awaitable[str]) -> ReadinessCheck:
    try:
        detail = await asyncio.wait_for(work, CHECK_SECONDS)
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        return ReadinessCheck(name=name, ok=False, detail=f"{type(error).__name__}: {first}")  # type: ignore[arg-type]
    return ReadinessCheck(name=name, ok=True, detail=detail)  # type: ignore[arg-type]


async def _store(services: Services) -> str:
    def ping() -> None:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    await asyncio.to_thread(ping)
    return f"{services.engine.url.get_backend_name()} answers"


async def _ray(services: Services) -> str:
    hosts = await asyncio.to_thread(services.grains.stats)
    return f"{len(hosts)} grain host(s) answer"


async def _production_model_name(services: Services) -> str:
    """A model name with a production version: the default model's if it has one."""
    models = await asyncio.to_thread(list_models, services.engine)
    names = sorted(
        (m.name for m in models if m.production is not None), key=lambda n: n != services.settings.default_model
    )
    if not names:
        raise LookupError(
            "no model version is in production: promote one (POST /v1/models/{name}/versions/{v}/promote)"
        )
    return names[0]


async def _model(services: Services) -> str:
    model = await services.lookups.model(await _production_model_name(services))
    await services.scorer.stats(model)
    return f"{model.ref} in production; the scorer answers"
