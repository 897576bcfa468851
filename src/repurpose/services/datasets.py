"""Dataset versions: register a pair table, list the versions, show one, split one.

Registering is two steps, so that no RDKit work runs on a caller's or a grain host's event loop:

1. ``register_dataset`` runs ``build_dataset`` and ``descriptor_profile`` in a Ray task
   (``num_cpus=1``). A refused file (empty, missing columns, no valid row, too large) raises
   there, with ``build_dataset``'s message, before anything is written. Otherwise the task
   writes the rows to ``datasets/<id>/rows.parquet`` (content-addressed: the same content
   always lands on the same path with the same rows, so writing again changes nothing).
   A Parquet file over ``settings.max_upload_rows`` / ``max_upload_columns`` (read from its
   footer) is refused here, before the task; a CSV's rows are counted by the task as it reads
   them (``data.upload_limits``).
2. The ``DatasetVersion`` grain's ``record`` then stores the version (see its module).

Rows written by a task whose ``record`` never ran (the caller died in between) are harmless: the
version does not exist until recorded, and registering the content again records it.
"""

from __future__ import annotations

import asyncio

import ray
from ray.exceptions import RayTaskError

from repurpose.actors.dataset_version import DatasetVersion, RecordOutcome, resolve_dataset
from repurpose.actors.dataset_version import list_datasets as stored_datasets
from repurpose.contracts.datasets import (
    DatasetDetail,
    DatasetRegistration,
    DatasetSummary,
    DescriptorProfile,
    SplitSummary,
    ValidationReport,
)
from repurpose.data.dataset_paths import rows_path
from repurpose.data.upload_limits import PARQUET_MAGIC, UploadLimits, check_parquet_shape, open_parquet
from repurpose.errors import InvalidInput, blame
from repurpose.plain_text import check_plain_text
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, reports_start, task_domain_error
from repurpose.services.context import Context


async def register_dataset(
    ctx: Context, *, data: bytes, filename: str | None = None, name: str | None = None
) -> DatasetRegistration:
    """Register a CSV or Parquet table of ``SMILES,Protein,Y`` (its bytes) as a dataset version.

    The same content (in any row order or spelling) gives the same id; registering it again
    stores nothing new but the name, as an alias. A refused table raises InvalidTable with the
    reason and stores nothing."""
    _check_upload(data, filename, name)
    settings = ctx.settings
    limits = UploadLimits.from_settings(settings)
    await asyncio.to_thread(_check_parquet_upload, data, filename, limits)
    try:
        report, profile = await await_task(
            _build_task.remote(data, filename, name, settings.artifact_url, limits), "building the dataset", settings
        )
    except RayTaskError as error:
        raise task_domain_error(error) from None
    outcome: RecordOutcome = await ctx.grains.acall(
        DatasetVersion, report.dataset_id, "record", report, profile, alias=name, idempotent=False
    )
    return DatasetRegistration(**outcome.summary.model_dump(), created=outcome.created, report=report)


async def list_datasets(ctx: Context) -> list[DatasetSummary]:
    """Every registered dataset version, oldest first."""
    return await asyncio.to_thread(stored_datasets, ctx.engine)


async def show_dataset(ctx: Context, *, reference: str) -> DatasetDetail:
    """The version with its validation report, class balance, lengths, descriptor profile and splits."""
    dataset_id = await resolve_dataset_id(ctx, reference=reference)
    detail: DatasetDetail = await ctx.grains.acall(DatasetVersion, dataset_id, "show")
    return detail


async def split_dataset(
    ctx: Context, *, reference: str, kind: str, seed: int, fractions: list[float] | None
) -> SplitSummary:
    """Split the version (random, cold-drug, cold-target or scaffold) and store the split; the same
    request gives the same split."""
    dataset_id = await resolve_dataset_id(ctx, reference=reference)
    with blame("fractions"):  # refused past the reference: the split asked for is at fault, not the dataset
        split: SplitSummary = await ctx.grains.acall(DatasetVersion, dataset_id, "split", kind, seed, fractions)
    return split


async def resolve_dataset_id(ctx: Context, *, reference: str) -> str:
    """The dataset id ``reference`` names: a full id, a unique prefix (4+ hex digits), or a unique
    name or alias. DatasetNotFound if none matches, InvalidInput if several do."""
    return await asyncio.to_thread(resolve_dataset, ctx.engine, reference)


# --- registration's steps ---------------------------------------------------------------------


@ray.remote(num_cpus=1)
@reports_start
def _build_task(
    data: bytes, filename: str | None, name: str | None, artifact_url: str, limits: UploadLimits
) -> tuple[ValidationReport, DescriptorProfile]:
    """Validate and profile the table, store its rows; the report and the profile go back."""
    # pandas and RDKit in the task's worker only: the CLI and the gateway never load them for this
    from repurpose.data.datasets import build_dataset, rows_to_parquet
    from repurpose.data.descriptors import descriptor_profile

    build = build_dataset(data, filename=filename, name=name, limits=limits)
    profile = descriptor_profile(build.rows)
    artifacts = ArtifactStore(artifact_url)
    path = rows_path(build.dataset_id)
    if not artifacts.exists(path):  # content-addressed: rows already there are these rows
        artifacts.put_bytes(path, rows_to_parquet(build.rows))
    return build.report, profile


def _check_upload(data: bytes, filename: str | None, name: str | None) -> None:
    if not isinstance(data, bytes):
        raise InvalidInput(f"a dataset upload is the file's bytes, not {type(data).__name__}")
    if filename is not None and (not isinstance(filename, str) or len(filename) > 500):
        raise InvalidInput("a dataset's file name is text of at most 500 characters")
    if name is not None and (not isinstance(name, str) or len(name.strip()) > 200):
        raise InvalidInput("a dataset name is at most 200 characters")
    if name is not None:
        check_plain_text(name.strip(), "dataset name")


def _check_parquet_upload(data: bytes, filename: str | None, limits: UploadLimits) -> None:
    """Refuse a Parquet upload over the row or column limit from its footer, here: before it takes a
    task's CPU (a CSV's rows are counted by the task as it reads them)."""
    if data.startswith(PARQUET_MAGIC):
        label = filename or "uploaded table"
        check_parquet_shape(open_parquet(data, label), label, limits)
