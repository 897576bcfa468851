"""``/v1/screens``: submit a screen of a compound library against targets, follow it, read its
results (the best per target as JSON, CSV or Parquet; every score with ``all=true``: streamed as
CSV or Parquet, paged as JSON), cancel it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator

from repurpose.contracts.ids import SCREEN_REFERENCE_PATTERN, TARGET_ID_PATTERN
from repurpose.contracts.screening import COMPLETE_HEADER, MAX_TOP, ScreenDetail, ScreenRequest, ScreenResults
from repurpose.gateway.bodies import ScreenList, checked_idempotency_key
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.screening.results import MAX_PAGE, PARQUET_MEDIA_TYPE
from repurpose.services import screens as service
from repurpose.services.screens import ResultsDownload

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
    return await service.submit_screen(services, request=body, idempotency_key=scoped)


@router.get("")
async def screens(services: ServicesDep, _: Reader) -> ScreenList:
    """Every screening job, newest first."""
    return ScreenList(items=await service.list_screens(services))


@router.get("/{screen}", responses=responses(404))
async def screen(services: ServicesDep, _: Reader, screen: ScreenRef) -> ScreenDetail:
    """Status and progress (pairs done, pace, ETA), the best hits so far, failed compounds."""
    with blame("screen"):
        return await service.show_screen(services, reference=screen)


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
    if format == "json":
        return await service.screen_results(
            services, reference=screen, target=target, top=top, every=every, offset=offset, limit=limit
        )
    if format == "csv" and not every:  # the best hits: a small answer, sent whole
        found = await service.screen_results(services, reference=screen, target=target, top=top)
        return Response(  # type: ignore[return-value]  # documented above as text/csv
            found.to_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{found.job_id}-results.csv"'},
        )
    download = await service.download_screen_results(
        services, reference=screen, file_format=format, target=target, top=top, every=every
    )
    return _streamed(download, format)


def _streamed(download: ResultsDownload, format: Literal["csv", "parquet"]) -> ScreenResults:
    """The download's bytes as they are read (Starlette iterates them in a thread); a streamed
    answer has no body field to say whether the job had finished: a header does."""
    headers = {
        "Content-Disposition": f'attachment; filename="{download.job_id}-results.{format}"',
        COMPLETE_HEADER: "true" if download.complete else "false",
    }
    media_type = "text/csv" if format == "csv" else PARQUET_MEDIA_TYPE
    return StreamingResponse(download.pieces, media_type=media_type, headers=headers)  # type: ignore[return-value]


@router.delete("/{screen}", responses=responses(404, 409))
async def cancel_screen(services: ServicesDep, _: Writer, screen: ScreenRef) -> ScreenDetail:
    """Stop a running job (the chunks done keep their results); 409 once it has succeeded."""
    with blame("screen"):
        return await service.cancel_screen(services, reference=screen)
