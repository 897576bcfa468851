"""The DatasetVersion grain (kind ``"dataset"``, key = the content id) and how to register one.

Registering is two steps, so that no RDKit work runs on a caller's or a grain host's event loop:

1. ``register_dataset`` runs ``build_dataset`` and ``descriptor_profile`` in a Ray task
   (``num_cpus=1``). A refused file (empty, missing columns, no valid row, too large) raises
   there, with ``build_dataset``'s message, before anything is written. Otherwise the task
   writes the rows to ``datasets/<id>/rows.parquet`` (content-addressed: the same content
   always lands on the same path with the same rows, so writing again changes nothing).
   A Parquet file over ``settings.max_upload_rows`` / ``max_upload_columns`` (read from its
   footer) is refused by the caller, before the task; a CSV's rows are counted by the task as
   it reads them (``data.upload_limits``).
2. The grain's ``record`` then stores the version: the first registration's name, source,
   counts and descriptor profile in the grain state, its report as ``datasets/<id>/report.json``.
   A later registration of the same content changes nothing but may add its name as an alias.

Rows written by a task whose ``record`` never ran (the caller died in between) are harmless: the
version does not exist until recorded, and registering the content again records it.

The grain's state stays small (counts, profile, split summaries): reports and rows are
artifacts, so listing thousands of versions reads little.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any, cast

import ray
from pydantic import BaseModel, Field
from ray.exceptions import RayTaskError
from sqlalchemy import Engine

from repurpose.contracts.datasets import (
    ClassBalance,
    DatasetDetail,
    DatasetRegistration,
    DatasetSummary,
    DescriptorProfile,
    LengthStats,
    RowCounts,
    SplitSummary,
    TableFormat,
    ValidationReport,
)
from repurpose.contracts.ids import DATASET_ID_PATTERN
from repurpose.contracts.splits import split_id_for
from repurpose.data.dataset_access import check_dataset_id, compute_split, report_path, rows_path
from repurpose.data.datasets import PARQUET_MAGIC, build_dataset, rows_to_parquet
from repurpose.data.descriptors import descriptor_profile
from repurpose.data.upload_limits import UploadLimits, check_parquet_shape, open_parquet
from repurpose.errors import DatasetNotFound, InvalidInput, RepurposeError
from repurpose.grains import Grain, GrainClient, grain
from repurpose.plain_text import check_plain_text
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, get_task, reports_start
from repurpose.store import list_states

KIND = "dataset"
MAX_ALIASES = 50
MIN_PREFIX = 4


class RecordedVersion(BaseModel):
    """What the first registration established (never changed afterwards)."""

    name: str
    source: str
    format: TableFormat
    created_at: dt.datetime
    counts: RowCounts
    class_balance: ClassBalance
    compound_heavy_atoms: LengthStats
    protein_length: LengthStats
    profile: DescriptorProfile


class DatasetState(BaseModel):
    recorded: RecordedVersion | None = None  # None: never registered
    aliases: list[str] = Field(default_factory=list)
    splits: list[SplitSummary] = Field(default_factory=list)


class RecordOutcome(BaseModel):
    """What ``record`` answers: the stored version and whether this call stored it."""

    summary: DatasetSummary
    created: bool


@grain(KIND)
class DatasetVersion(Grain[DatasetState]):
    """One dataset version: its summary, report, descriptor profile and splits."""

    async def record(
        self, report: ValidationReport, profile: DescriptorProfile, alias: str | None = None
    ) -> RecordOutcome:
        """Record the version whose rows are stored already (``register_dataset`` calls this).

        The first call stores it; later ones only add ``alias`` (a name given at registration)."""
        check_dataset_id(self.key)
        report = ValidationReport.model_validate(report)
        profile = DescriptorProfile.model_validate(profile)
        if report.dataset_id != self.key:
            raise InvalidInput(f"the report is of dataset {report.dataset_id}, not of {self.key}")
        recorded = self.state.recorded
        if recorded is not None:
            name = alias.strip() if alias is not None else ""
            known = name == recorded.name or name in self.state.aliases
            if name and not known and len(self.state.aliases) < MAX_ALIASES:  # beyond that, names are not kept
                self.state.aliases.append(name)
            return RecordOutcome(summary=self._summary(), created=False)

        artifacts = self.context.artifacts
        if not await asyncio.to_thread(artifacts.exists, rows_path(self.key)):
            raise InvalidInput(f"dataset {self.key} has no stored rows: store them before recording the version")
        await asyncio.to_thread(artifacts.put_bytes, report_path(self.key), report.model_dump_json().encode())
        self.state.recorded = RecordedVersion(
            name=report.name,
            source=report.source,
            format=report.format,
            created_at=dt.datetime.now(dt.UTC),
            counts=report.counts,
            class_balance=report.class_balance,
            compound_heavy_atoms=report.compound_heavy_atoms,
            protein_length=report.protein_length,
            profile=profile,
        )
        return RecordOutcome(summary=self._summary(), created=True)

    def summary(self) -> DatasetSummary:
        return self._summary()

    async def show(self) -> DatasetDetail:
        """The summary, the first registration's report, the descriptor profile and the splits."""
        recorded = self._recorded()
        data = await asyncio.to_thread(self.context.artifacts.get_bytes, report_path(self.key))
        return DatasetDetail(
            **self._summary().model_dump(),
            report=ValidationReport.model_validate_json(data),
            compound_heavy_atoms=recorded.compound_heavy_atoms,
            protein_length=recorded.protein_length,
            profile=recorded.profile,
            split_details=list(self.state.splits),
        )

    def profile(self) -> DescriptorProfile:
        """The descriptor profile: the reference distribution for drift monitoring."""
        return self._recorded().profile

    async def split(self, kind: str, seed: int, fractions: list[float] | None = None) -> SplitSummary:
        """Split the rows (random, cold-drug, cold-target or scaffold) and store the split.

        Deterministic in (dataset, kind, seed, fractions): asking again returns the stored split."""
        self._recorded()
        split_id = split_id_for(kind, seed, fractions)
        for existing in self.state.splits:
            if existing.split_id == split_id:
                return existing
        settings = self.context.settings
        ref = _split_task.remote(settings.artifact_url, self.key, split_id)
        try:
            summary = cast(SplitSummary, await await_task(ref, f"splitting dataset {self.key[:12]}", settings))
        except RayTaskError as error:
            raise _domain_error(error) from None
        self.state.splits.append(summary)
        return summary

    def splits(self) -> list[SplitSummary]:
        self._recorded()
        return list(self.state.splits)

    def _recorded(self) -> RecordedVersion:
        if self.state.recorded is None:
            raise DatasetNotFound(f"no dataset version {self.key} is registered", dataset_id=self.key)
        return self.state.recorded

    def _summary(self) -> DatasetSummary:
        return _summary_of(self.key, self.state)


def _summary_of(dataset_id: str, state: DatasetState) -> DatasetSummary:
    recorded = state.recorded
    if recorded is None:
        raise DatasetNotFound(f"no dataset version {dataset_id} is registered", dataset_id=dataset_id)
    return DatasetSummary(
        dataset_id=dataset_id,
        name=recorded.name,
        aliases=list(state.aliases),
        source=recorded.source,
        format=recorded.format,
        created_at=recorded.created_at,
        counts=recorded.counts,
        class_balance=recorded.class_balance,
        splits=[s.split_id for s in state.splits],
        rows_path=rows_path(dataset_id),
    )


# --- registration --------------------------------------------------------------------------------


@ray.remote(num_cpus=1)
@reports_start
def _build_task(
    data: bytes, filename: str | None, name: str | None, artifact_url: str, limits: UploadLimits
) -> tuple[ValidationReport, DescriptorProfile]:
    """Validate and profile the table, store its rows; the report and the profile go back."""
    build = build_dataset(data, filename=filename, name=name, limits=limits)
    profile = descriptor_profile(build.rows)
    artifacts = ArtifactStore(artifact_url)
    path = rows_path(build.dataset_id)
    if not artifacts.exists(path):  # content-addressed: rows already there are these rows
        artifacts.put_bytes(path, rows_to_parquet(build.rows))
    return build.report, profile


@ray.remote(num_cpus=1)
@reports_start
def _split_task(artifact_url: str, dataset_id: str, split_id: str) -> SplitSummary:
    return compute_split(ArtifactStore(artifact_url), dataset_id, split_id)


def register_dataset(
    client: GrainClient, data: bytes, *, filename: str | None = None, name: str | None = None
) -> DatasetRegistration:
    """Register a CSV or Parquet table of ``SMILES,Protein,Y`` (its bytes) as a dataset version.

    The same content (in any row order or spelling) gives the same id; registering it again
    stores nothing new but the name, as an alias. A refused table raises InvalidTable with the
    reason and stores nothing. Blocks; ``aregister_dataset`` is the same for async code.
    """
    _check_upload(data, filename, name)
    limits = UploadLimits.from_settings(client.settings)
    _check_parquet_upload(data, filename, limits)
    try:
        report, profile = get_task(
            _build_task.remote(data, filename, name, client.settings.artifact_url, limits),
            "building the dataset",
            client.settings,
        )
    except RayTaskError as error:
        raise _domain_error(error) from None
    outcome = client.call(DatasetVersion, report.dataset_id, "record", report, profile, alias=name, idempotent=False)
    return _registration(outcome, report)


async def aregister_dataset(
    client: GrainClient, data: bytes, *, filename: str | None = None, name: str | None = None
) -> DatasetRegistration:
    """``register_dataset`` for async code (the gateway)."""
    _check_upload(data, filename, name)
    limits = UploadLimits.from_settings(client.settings)
    await asyncio.to_thread(_check_parquet_upload, data, filename, limits)
    try:
        report, profile = await await_task(
            _build_task.remote(data, filename, name, client.settings.artifact_url, limits),
            "building the dataset",
            client.settings,
        )
    except RayTaskError as error:
        raise _domain_error(error) from None
    outcome = await client.acall(
        DatasetVersion, report.dataset_id, "record", report, profile, alias=name, idempotent=False
    )
    return _registration(outcome, report)


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


def _registration(outcome: RecordOutcome, report: ValidationReport) -> DatasetRegistration:
    return DatasetRegistration(**outcome.summary.model_dump(), created=outcome.created, report=report)


def _domain_error(error: RayTaskError) -> BaseException:
    """The domain error a Ray task raised, as itself; anything else as Ray reported it."""
    cause: Any = getattr(error, "cause", None)
    return cause if isinstance(cause, RepurposeError) else error


# --- reading the store ---------------------------------------------------------------------------


def list_datasets(engine: Engine) -> list[DatasetSummary]:
    """Every registered dataset version, oldest first."""
    summaries = []
    for stored in list_states(engine, KIND):
        state = DatasetState.model_validate(stored.state)
        if state.recorded is not None:
            summaries.append(_summary_of(stored.key, state))
    return sorted(summaries, key=lambda s: (s.created_at, s.dataset_id))


def resolve_dataset(engine: Engine, reference: str) -> str:
    """The dataset id ``reference`` names: a full id, a unique id prefix (4+ hex digits), or a
    unique name or alias. DatasetNotFound if none matches, InvalidInput if several do."""
    reference = reference.strip() if isinstance(reference, str) else ""
    if not reference:
        raise InvalidInput("give a dataset id (or a unique prefix of it, or its name)")
    if re.match(DATASET_ID_PATTERN, reference):
        return reference
    versions = list_datasets(engine)
    by_name = [v for v in versions if reference == v.name or reference in v.aliases]
    by_prefix = (
        [v for v in versions if v.dataset_id.startswith(reference.lower())] if len(reference) >= MIN_PREFIX else []
    )
    matches = {v.dataset_id: v for v in by_name or by_prefix}
    if not matches:
        raise DatasetNotFound(f"no dataset version matches {reference!r}", dataset_id=reference)
    if len(matches) > 1:
        shown = ", ".join(f"{v.dataset_id[:12]} ({v.name})" for v in list(matches.values())[:5])
        raise InvalidInput(f"{reference!r} matches {len(matches)} dataset versions: {shown}; give more of the id")
    return next(iter(matches))
