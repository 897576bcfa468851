"""``/v1/training-runs``: start a run (or find the one with the same signature), follow it, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from repurpose.contracts.ids import RUN_REFERENCE_PATTERN
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.gateway.bodies import RunList
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.services import runs as service

router = APIRouter(prefix="/v1/training-runs", tags=["training"], responses=responses(401, 403, 422, 429, 503))

RunRef = Annotated[
    str, Path(pattern=RUN_REFERENCE_PATTERN, description="The run id or a unique prefix of it (6+ hex digits).")
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        404,
        413,
        also={200: {"model": RunDetail, "description": "The run with this signature runs or succeeded already"}},
    ),
)
async def start_run(services: ServicesDep, _: Writer, body: RunRequest, response: Response) -> RunDetail:
    """Train a model on a registered dataset version's split; the same request reaches the same run."""
    detail = await service.start_run(services, request=body)
    if not detail.created:
        response.status_code = status.HTTP_200_OK
    return detail


@router.get("")
async def runs(services: ServicesDep, _: Reader) -> RunList:
    """Every training run, newest first."""
    return RunList(items=await service.list_runs(services))


@router.get("/{run}", responses=responses(404))
async def run(services: ServicesDep, _: Reader, run: RunRef) -> RunDetail:
    """Status, progress (epoch, batch, loss, ETA), per-epoch curves and the model version it made."""
    with blame("run"):
        return await service.show_run(services, reference=run)


@router.post("/{run}/cancel", responses=responses(404, 409))
async def cancel_run(services: ServicesDep, _: Writer, run: RunRef) -> RunDetail:
    """Stop a running run (its checkpoint stays: starting it again resumes); 409 once it has succeeded."""
    with blame("run"):
        return await service.cancel_run(services, reference=run)
