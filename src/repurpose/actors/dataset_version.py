"""The DatasetVersion grain (kind ``"dataset"``, key = the content id) and the store's versions.

A version is registered in two steps (``services.datasets.register_dataset``): a Ray task
validates and profiles the table and writes its rows to ``datasets/<id>/rows.parquet``; then the
grain's ``record`` stores the version: the first registration's name, source, counts and
descriptor profile in the grain state, its report as ``datasets/<id>/report.json``. A later
registration of the same content changes nothing but may add its name as an alias.

The grain's state stays small (counts, profile, split summaries): reports and rows are
artifacts, so listing thousands of versions reads little.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import cast

import ray
from pydantic import BaseModel, Field
from ray.exceptions import RayTaskError
from sqlalchemy import Engine

from repurpose.contracts.datasets import (
    ClassBalance,
    DatasetDetail,
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
from repurpose.data.dataset_paths import check_dataset_id, report_path, rows_path
from repurpose.errors import DatasetNotFound, InvalidInput
from repurpose.grains import Grain, grain
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, reports_start, task_domain_error
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
        """Record the version whose rows are stored already (``services.datasets`` calls this).

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
            raise task_domain_error(error) from None
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


# --- tasks --------------------------------------------------------------------------------------


@ray.remote(num_cpus=1)
@reports_start
def _split_task(artifact_url: str, dataset_id: str, split_id: str) -> SplitSummary:
    from repurpose.data.dataset_access import compute_split  # pandas and RDKit: in the task, not the grain host

    return compute_split(ArtifactStore(artifact_url), dataset_id, split_id)


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
