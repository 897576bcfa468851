"""``/healthz`` (alive), ``/readyz`` (store, Ray and a production model answer), ``/metrics`` (Prometheus).

These three take no API key: probes and scrapers reach them from inside the cluster.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response

from repurpose.contracts.operations import Liveness, Readiness
from repurpose.gateway.deps import ServicesDep
from repurpose.gateway.metrics import CONTENT_TYPE
from repurpose.services import alerts, operations

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

STATS_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> Liveness:
    """The gateway answers."""
    return Liveness()


@router.get("/readyz", responses={503: {"model": Readiness, "description": "Not ready: the failing checks say why"}})
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """Ready when the store answers, the grain hosts answer and the scorer answers for a production model."""
    readiness = await operations.readiness(services)
    if not readiness.ready:
        response.status_code = 503
    return readiness


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics(services: ServicesDep) -> Response:
    """Requests, latencies, queue depth, batch sizes, pairs scored, the scorer's cache figures and alerts."""
    try:
        model = await services.lookups.model(await operations.production_model_name(services))
        services.metrics.scorer.record(await asyncio.wait_for(services.scorer.stats(model), STATS_SECONDS))
    except Exception as error:  # the gateway's own figures still go out; the scorer's are the last read
        logger.info("scorer figures not refreshed for /metrics: %s", error)
    try:  # bounded as the scorer's: a grain host or store that hangs must not hang the scrape
        overview = await asyncio.wait_for(alerts.list_alerts(services, history=0), STATS_SECONDS)
        services.metrics.alerts.observe(overview.states)
    except Exception as error:  # the rules grain or the store did not answer: the last states read stay
        logger.warning("alert states not refreshed for /metrics: %r", error)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
