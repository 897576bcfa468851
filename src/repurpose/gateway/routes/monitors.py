"""``/v1/monitors``: a model's live traffic against its training data (drift), as JSON or an HTML page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import Field

from repurpose.contracts.feedback import ModelQuality
from repurpose.contracts.ids import MODEL_NAME_PATTERN
from repurpose.contracts.monitoring import DEFAULT_WINDOW, MONITOR_WINDOW_PATTERN, MonitorReport
from repurpose.gateway.bodies import MAX_REFERENCE_LENGTH, Label
from repurpose.gateway.bodies import Body as StrictBody
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import responses
from repurpose.services import feedback
from repurpose.services import monitors as service

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], responses=responses(401, 403, 404, 422, 429, 503))

Model = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="A registered model name.", examples=["knn-union"])]
Window = Annotated[
    str,
    Query(
        pattern=MONITOR_WINDOW_PATTERN,
        description="pairs (the last pairs scored, the setting monitor_window_pairs), hour, day, or job:<screen id>.",
        examples=["pairs", "hour", "job:scr-96db2016c36b"],
    ),
]


class ResetBody(StrictBody):
    reference: Label | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REFERENCE_LENGTH,
        description="A dataset version (id, unique prefix or name) to compare with. Default: the dataset the "
        "model's version was trained on (its lineage).",
    )


@router.get("/{model}")
async def monitor(services: ServicesDep, _: Reader, model: Model, window: Window = DEFAULT_WINDOW) -> MonitorReport:
    """A window of the model's traffic against its reference: per feature both sides, the statistic and
    whether it drifted; dataset drift, the drift share, the out-of-domain share, score drift."""
    report = await service.show_monitor(services, model=model, window=window)
    services.metrics.monitors.observe(report)
    return report


@router.get(
    "/{model}/report",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The report page."}},
)
async def monitor_page(services: ServicesDep, _: Reader, model: Model, window: Window = DEFAULT_WINDOW) -> HTMLResponse:
    """The same report as one HTML page: per feature the reference's and the window's histograms (inline SVG)."""
    return HTMLResponse(await service.monitor_page(services, model=model, window=window))


@router.get("/{model}/quality")
async def quality(services: ServicesDep, _: Reader, model: Model) -> ModelQuality:
    """Live quality per version from the outcomes fed back: AUROC, Brier score, reliability bins, and the
    drop from the registry's AUROC of the version."""
    answer = await feedback.model_quality(services, model=model)
    for version in answer.versions:
        services.metrics.quality.observe(version)
    return answer


@router.post("/{model}/reset", responses=responses(413))
async def reset_monitor(
    services: ServicesDep, _: Writer, model: Model, body: Annotated[ResetBody | None, Body()] = None
) -> MonitorReport:
    """Forget the monitor's windows and take its reference again (from its lineage, or the dataset named)."""
    reference = body.reference if body is not None else None
    return await service.reset_monitor(services, model=model, reference=reference)
