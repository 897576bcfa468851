"""Compound libraries: register one from a file's bytes, list them, show one."""

from __future__ import annotations

import asyncio

import ray
from ray.exceptions import RayTaskError

from repurpose.actors.compound_library import CompoundLibrary, LibraryRecordOutcome, compounds_path, resolve_library
from repurpose.actors.compound_library import list_libraries as stored_libraries
from repurpose.contracts.screening import LibraryDetail, LibraryRegistration, LibrarySummary
from repurpose.data.libraries import LibraryBuild, build_library, check_upload, library_to_parquet
from repurpose.data.upload_limits import UploadLimits
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, reports_start, task_domain_error
from repurpose.services.context import Context


async def register_library(
    ctx: Context, *, data: bytes, filename: str | None = None, name: str | None = None
) -> LibraryRegistration:
    """Register a compound library (a CSV/TSV or .smi file's bytes; ``data.libraries`` says what
    is refused, with InvalidTable and nothing stored).

    The same compounds (in any order) give the same id; registering them again stores nothing
    new but the name, as an alias."""
    check_upload(data, filename, name)
    limits = UploadLimits.from_settings(ctx.settings)
    try:
        build: LibraryBuild = await await_task(
            _build_task.remote(data, filename, name, ctx.settings.artifact_url, limits),
            "building the library",
            ctx.settings,
        )
    except RayTaskError as error:  # the task's own refusal (InvalidTable…) reaches the caller as it is
        raise task_domain_error(error) from None
    outcome: LibraryRecordOutcome = await ctx.grains.acall(
        CompoundLibrary, build.library_id, "record", build, alias=name, idempotent=False
    )
    return LibraryRegistration(**outcome.detail.model_dump(), created=outcome.created)


async def list_libraries(ctx: Context) -> list[LibrarySummary]:
    """Every registered library, oldest first."""
    return await asyncio.to_thread(stored_libraries, ctx.engine)


async def show_library(ctx: Context, *, reference: str) -> LibraryDetail:
    """The library ``reference`` names (an id, a unique prefix of 4+ digits, a name or an alias):
    its size, format and first compounds."""
    library_id = await asyncio.to_thread(resolve_library, ctx.engine, reference)
    detail: LibraryDetail = await ctx.grains.acall(CompoundLibrary, library_id, "show")
    return detail


# --- registration's steps ---------------------------------------------------------------------


@ray.remote(num_cpus=1)
@reports_start
def _build_task(
    data: bytes, filename: str | None, name: str | None, artifact_url: str, limits: UploadLimits
) -> LibraryBuild:
    """Parse and validate the upload, store its compounds; the build goes back (for ``record``)."""
    parsed = build_library(data, filename=filename, name=name, limits=limits)
    artifacts = ArtifactStore(artifact_url)
    path = compounds_path(parsed.build.library_id)
    if not artifacts.exists(path):  # content-addressed: compounds already there are these compounds
        artifacts.put_bytes(path, library_to_parquet(parsed.compound_ids, parsed.smiles))
    return parsed.build
