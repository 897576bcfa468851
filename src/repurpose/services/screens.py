"""Screening jobs: submit one, list them, show one, read its results, cancel one.

Results come three ways: the best ``top`` per target (``screen_results``; from the job's state,
or read from its files beyond the hits it keeps), a page of every score (``screen_results`` with
``every``), or every score (or the best ``top``) as CSV or Parquet bytes read from the artifact
store as they are sent (``download_screen_results``: the gateway streams them,
``write_screen_results`` writes them into a file). A running or stopped job's results are ranked
among the chunks it has recorded (``complete`` False).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from repurpose.actors.screening_job import ScreeningJob, resolve_screen
from repurpose.actors.screening_job import list_screens as stored_screens
from repurpose.contracts.client import ResultsFormat
from repurpose.contracts.screening import ScreenDetail, ScreenRequest, ScreenResults, ScreenSummary, validated_request
from repurpose.errors import InvalidInput, blame
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.screening.results import (
    MAX_PAGE,
    ScoresSource,
    csv_stream,
    parquet_stream,
    results_page,
    rows_table,
    score_batches,
)
from repurpose.services.context import Context


@dataclass(frozen=True)
class ResultsDownload:
    """A job's results as the bytes of a CSV or Parquet file, read from the artifact store as
    ``pieces`` is iterated (blocking reads: iterate it in a thread)."""

    job_id: str
    complete: bool  # False: the job had not finished, the ranks are among the chunks it recorded
    pieces: Iterator[bytes]


async def submit_screen(ctx: Context, *, request: ScreenRequest, idempotency_key: str | None = None) -> ScreenDetail:
    """Start a screen of a registered library against registered targets with one model version
    (``ScreeningJob.start`` checks them); ``idempotency_key`` makes a retried submit count once."""
    checked = validated_request(request)
    if checked.model is None:
        # this cluster's default model (cluster.json's: `up` may settle it after the grain hosts
        # started with theirs), not the grain host's
        checked = checked.model_copy(update={"model": ctx.settings.default_model})
    detail: ScreenDetail = await ctx.grains.acall(
        ScreeningJob,
        new_screen_id(idempotency_key),
        "start",
        checked,
        idempotent=False,
        idempotency_key=_call_key(idempotency_key, checked),
    )
    return detail


async def list_screens(ctx: Context) -> list[ScreenSummary]:
    """Every screening job, newest first."""
    return await asyncio.to_thread(stored_screens, ctx.engine)


async def screen_id(ctx: Context, *, reference: str) -> str:
    """The job id ``reference`` names: the full id, or a unique prefix of its hex digits (4+)."""
    return await asyncio.to_thread(resolve_screen, ctx.engine, reference)


async def show_screen(ctx: Context, *, reference: str) -> ScreenDetail:
    """Status and progress (pairs done, pace, ETA), the best hits so far, failed compounds."""
    detail: ScreenDetail = await ctx.grains.acall(ScreeningJob, await screen_id(ctx, reference=reference), "show")
    return detail


async def cancel_screen(ctx: Context, *, reference: str) -> ScreenDetail:
    """Stop a running job (the chunks done keep their results); ScreenStateConflict once it has succeeded."""
    detail: ScreenDetail = await ctx.grains.acall(ScreeningJob, await screen_id(ctx, reference=reference), "cancel")
    return detail


def check_results_choice(*, top: int | None, every: bool) -> None:
    """The best ``top`` per target or every score: not both."""
    if every and top is not None:
        raise InvalidInput("give top (the best K per target) or all=true (every score), not both")


async def screen_results(
    ctx: Context,
    *,
    reference: str,
    target: str | None = None,
    top: int | None = None,
    every: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> ScreenResults:
    """The best ``top`` per target (default: the job's top), or of one ``target``; with ``every``,
    the page of every score from ``offset`` (``limit`` rows, at most ``MAX_PAGE``: the default)."""
    job_id = await _results_job(ctx, reference, top, every)
    with blame("target"):
        if not every:
            found: ScreenResults = await ctx.grains.acall(ScreeningJob, job_id, "results", target=target, top=top)
            return found
        rows = MAX_PAGE if limit is None else limit
        if offset < 0 or not 1 <= rows <= MAX_PAGE:
            raise InvalidInput(f"a page of every score is 1 to {MAX_PAGE:,} rows from an offset of 0 or more")
        source: ScoresSource = await ctx.grains.acall(ScreeningJob, job_id, "scores_source", target=target)
        return await asyncio.to_thread(results_page, _artifacts(ctx), source, offset, rows, target)


async def download_screen_results(
    ctx: Context,
    *,
    reference: str,
    file_format: ResultsFormat,
    target: str | None = None,
    top: int | None = None,
    every: bool = True,
) -> ResultsDownload:
    """Every score (``every``), or the best ``top`` per target, as a CSV or Parquet file's bytes;
    no screen's size passes through its grain or through memory at once."""
    job_id = await _results_job(ctx, reference, top, every)
    with blame("target"):
        if every:
            source: ScoresSource = await ctx.grains.acall(ScreeningJob, job_id, "scores_source", target=target)
            batches = score_batches(_artifacts(ctx), source)
            complete = source.complete
        else:
            found: ScreenResults = await ctx.grains.acall(ScreeningJob, job_id, "results", target=target, top=top)
            batches = iter(rows_table(found.rows).to_batches())
            complete = found.complete
    pieces = csv_stream(batches) if file_format == "csv" else parquet_stream(batches)
    return ResultsDownload(job_id=job_id, complete=complete, pieces=pieces)


async def write_screen_results(
    ctx: Context,
    *,
    reference: str,
    sink: IO[bytes],
    file_format: ResultsFormat,
    target: str | None = None,
    top: int | None = None,
    every: bool = True,
) -> bool:
    """``download_screen_results`` written into ``sink``; whether the job had finished."""
    download = await download_screen_results(
        ctx, reference=reference, file_format=file_format, target=target, top=top, every=every
    )
    await asyncio.to_thread(_write_pieces, download.pieces, sink)
    return download.complete


def new_screen_id(idempotency_key: str | None = None) -> str:
    """``scr-`` and 12 hex digits: random, or derived from an idempotency key."""
    if idempotency_key is None:
        return f"scr-{uuid.uuid4().hex[:12]}"
    return f"scr-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]}"


def _call_key(idempotency_key: str | None, request: ScreenRequest) -> str | None:
    """The grain call's idempotency key: the caller's key and the request's digest.

    The job id comes from the caller's key alone, so a retry with the same request replays the
    recorded answer, while the same key with another request reaches the job's ``start``, which
    refuses it (ScreenStateConflict) instead of answering with the first job as if it were new.
    """
    if idempotency_key is None:
        return None
    digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]
    return f"{idempotency_key}:{digest}"


async def _results_job(ctx: Context, reference: str, top: int | None, every: bool) -> str:
    """The job whose results are asked for, once the choice of what to read is checked; errors name
    the argument at fault (``screen``, ``top``)."""
    with blame("screen"):
        job_id = await screen_id(ctx, reference=reference)
    with blame("top"):
        check_results_choice(top=top, every=every)
    return job_id


def _artifacts(ctx: Context) -> ArtifactStore:
    return ArtifactStore.from_settings(ctx.settings)


def _write_pieces(pieces: Iterator[bytes], sink: IO[bytes]) -> None:
    for piece in pieces:
        sink.write(piece)
