"""``/v1/screens``: submit a screen of a compound library against targets, follow it, read its
results (the best per target as JSON, CSV or Parquet; every score with ``all=true``: streamed as
CSV or Parquet, paged as JSON), cancel it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator

from repurpose.actors.screening_job import ScreeningJob, asubmit_screen, list_screens, resolve_screen
from repurpose.contracts.ids import SCREEN_REFERENCE_PATTERN, TARGET_ID_PATTERN
from repurpose.contracts.screening import COMPLETE_HEADER, MAX_TOP, ScreenDetail, ScreenRequest, ScreenResults
from repurpose.errors import InvalidInput
from repurpose.gateway.bodies import ScreenList, checked_idempotency_key
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.gateway.services import Services
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.screening.results import (
    MAX_PAGE,
    PARQUET_MEDIA_TYPE,
    ScoresSource,
    csv_stream,
    parquet_stream,
    results_page,
    rows_table,
    score_batches,
)

router = APIRouter(prefix="/v1/screens", tags=["screening"], responses=responses(401, 403, 422, 429, 503))

ScreenRef = Annotated[
    str, Path(pattern=SCREEN_REFERENCE_PATTERN, description="The job id (scr-…) or a unique prefix of its digits (4+).")
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
        AfterValidator(checked_idempotency_key),
    ] = None,
) -> ScreenDetail:
    """Score every compound of a registered library against registered targets with one model version."""
    scoped = f"{principal.subject}:{idempotency_key}" if idempotency_key else None  # keys are per caller
    if body.model is None:  # this gateway's default model (the cluster's setting)
        body = body.model_copy(update={"model": services.settings.default_model})
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
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    PARQUET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
                "description": "JSON, or CSV with format=csv, or Parquet with format=parquet",
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
    format: Annotated[Literal["json", "csv", "parquet"], Query(description="json (default), csv or parquet.")] = "json",
    every: Annotated[
        bool,
        Query(
            alias="all",
            description="Every score, not the best `top`: csv and parquet stream them all, json answers pages.",
        ),
    ] = False,
    offset: Annotated[int, Query(ge=0, description="With all=true and json: the page's first row, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="With all=true and json: rows per page.")] = MAX_PAGE,
) -> ScreenResults:
    """The best hits per target, ranked, or every score (``all=true``); partial (``complete`` false)
    while the job runs."""
    job_id = await _job_id(services, screen)
    if every:
        if top is not None:
            with blame("top"):
                raise InvalidInput("give top (the best K per target) or all=true (every score), not both")
        with blame("target"):
            source: ScoresSource = await services.grains.acall(ScreeningJob, job_id, "scores_source", target=target)
        artifacts = ArtifactStore.from_settings(services.settings)
        if format == "json":
            return await asyncio.to_thread(results_page, artifacts, source, offset, limit, target)
        batches = score_batches(artifacts, source)  # read as the answer is sent (Starlette iterates in a thread)
        return _download(job_id, format, csv_stream(batches) if format == "csv" else parquet_stream(batches), source)
    with blame("target"):
        found: ScreenResults = await services.grains.acall(ScreeningJob, job_id, "results", target=target, top=top)
    if format == "csv":
        return Response(  # type: ignore[return-value]  # documented above as text/csv
            found.to_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{job_id}-results.csv"'},
        )
    if format == "parquet":
        return _download(job_id, format, parquet_stream(rows_table(found.rows).to_batches()), None)
    return found


def _download(job_id: str, format: str, content: Iterator[bytes], source: ScoresSource | None) -> ScreenResults:
    media_type = "text/csv" if format == "csv" else PARQUET_MEDIA_TYPE
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-results.{format}"'}
    if source is not None:  # a streamed answer has no body field to say it: a header does
        headers[COMPLETE_HEADER] = "true" if source.complete else "false"
    return StreamingResponse(content, media_type=media_type, headers=headers)  # type: ignore[return-value]


@router.delete("/{screen}", responses=responses(404, 409))
async def cancel_screen(services: ServicesDep, _: Writer, screen: ScreenRef) -> ScreenDetail:
    """Stop a running job (the chunks done keep their results); 409 once it has succeeded."""
    detail: ScreenDetail = await services.grains.acall(ScreeningJob, await _job_id(services, screen), "cancel")
    return detail


async def _job_id(services: Services, reference: str) -> str:
    with blame("screen"):
        return await asyncio.to_thread(resolve_screen, services.engine, reference)
