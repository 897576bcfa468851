"""``/v1/screens``: submit a screen of a compound library against targets, follow it, read its
results (JSON or CSV), cancel it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status

from repurpose.actors.screening_job import ScreeningJob, asubmit_screen, list_screens, resolve_screen
from repurpose.contracts.screening import MAX_TOP, ScreenDetail, ScreenRequest, ScreenResults
from repurpose.gateway.bodies import SCREEN_ID_PATTERN, TARGET_ID_PATTERN, ScreenList
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.gateway.services import Services

router = APIRouter(prefix="/v1/screens", tags=["screening"], responses=responses(401, 403, 422, 429, 503))

ScreenRef = Annotated[
    str, Path(pattern=SCREEN_ID_PATTERN, description="The job id (scr-…) or a unique prefix of its digits (4+).")
]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(404, 409, 413))
async def submit_screen(
    services: ServicesDep,
    principal: Writer,
    body: ScreenRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=100,
            description="A retried submit with the same key gets the first submit's answer instead of a second job.",
        ),
    ] = None,
) -> ScreenDetail:
    """Score every compound of a registered library against registered targets with one model version."""
    scoped = f"{principal.subject}:{idempotency_key}" if idempotency_key else None  # keys are per caller
    return await asubmit_screen(services.grains, body, idempotency_key=scoped)


@router.get("")
async def screens(services: ServicesDep, _: Reader) -> ScreenList:
    """Every screening job, newest first."""
    return ScreenList(items=await asyncio.to_thread(list_screens, services.engine))


@router.get("/{screen}", responses=responses(404))
async def screen(services: ServicesDep, _: Reader, screen: ScreenRef) -> ScreenDetail:
    """Status and progress (pairs done, pace, ETA), the best hits so far, failed compounds."""
    detail: ScreenDetail = await services.grains.acall(ScreeningJob, await _job_id(services, screen), "show")
    return detail


@router.get(
    "/{screen}/results",
    responses=responses(
        404,
        also={
            200: {
                "content": {"text/csv": {"schema": {"type": "string"}}},
                "description": "JSON, or CSV with format=csv",
            }
        },
    ),
)
async def results(
    services: ServicesDep,
    _: Reader,
    screen: ScreenRef,
    top: Annotated[
        int | None, Query(ge=1, le=MAX_TOP, description="Best K per target (default: the job's top).")
    ] = None,
    target: Annotated[str | None, Query(pattern=TARGET_ID_PATTERN, description="Only this target's results.")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")] = "json",
) -> ScreenResults:
    """The best hits per target, ranked; partial (``complete`` false) while the job runs."""
    job_id = await _job_id(services, screen)
    with blame("target"):
        found: ScreenResults = await services.grains.acall(ScreeningJob, job_id, "results", target=target, top=top)
    if format == "csv":
        return Response(  # type: ignore[return-value]  # documented above as text/csv
            found.to_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{job_id}-results.csv"'},
        )
    return found


@router.delete("/{screen}", responses=responses(404, 409))
async def cancel_screen(services: ServicesDep, _: Writer, screen: ScreenRef) -> ScreenDetail:
    """Stop a running job (the chunks done keep their results); 409 once it has succeeded."""
    detail: ScreenDetail = await services.grains.acall(ScreeningJob, await _job_id(services, screen), "cancel")
    return detail


async def _job_id(services: Services, reference: str) -> str:
    with blame("screen"):
        return await asyncio.to_thread(resolve_screen, services.engine, reference)
