"""Compound libraries and screening jobs at the boundaries: what registering, submitting,
showing, listing and reading results take and return.

A library is a table of compounds (``compound_id``, ``smiles``) named by its content (sha256 of
the normalised rows). A screen scores every compound of one library against one or more
registered targets with one model version, in chunks, and keeps the best ``top`` per target.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, ValidationError, field_validator

from repurpose.contracts.base import Contract
from repurpose.contracts.ids import LIBRARY_ID_PATTERN
from repurpose.contracts.scoring import MAX_CHUNK, HitEvidence, ResolvedModel
from repurpose.errors import InvalidInput

MAX_LIBRARY_BYTES = 256 * 1024 * 1024
"""The largest library file a registration reads (refused before it is read)."""
DEFAULT_TOP = 100
MAX_TOP = 10_000
MAX_TARGETS = 100
MAX_FAILURES_LISTED = 100
"""Failed compounds a job lists (the count is always exact)."""
SHOWN_HITS = 10
"""Hits per target in a job's detail (``results`` gives more)."""

LibraryFormat = Literal["csv", "tsv", "smi"]
ScreenStatus = Literal["running", "succeeded", "failed", "cancelled"]
ResultsSource = Literal["state", "parquet", "chunks"]
FINISHED_SCREEN: tuple[ScreenStatus, ...] = ("succeeded", "failed", "cancelled")
EVIDENCE_COLUMNS = (
    "drug_like",
    "drug_like_issue",
    "nearest_binder_id",
    "nearest_binder_smiles",
    "nearest_binder_tanimoto",
    "max_training_tanimoto",
    "in_domain",
)
RESULT_COLUMNS = ("target_id", "rank", "compound_id", "smiles", "score", *EVIDENCE_COLUMNS)
"""A result row's columns in CSV downloads (the Parquet results add none and drop none)."""
COMPLETE_HEADER = "X-Results-Complete"
"""Says on a streamed download whether the job had finished (``true``) or the ranks are partial."""


# --- libraries -----------------------------------------------------------------------------------


class LibraryCompound(Contract):
    compound_id: str
    smiles: str = Field(description="As given: SMILES are checked when a screen featurises them.")


class LibrarySummary(Contract):
    """One registered library in a few fields (what `libraries list` shows)."""

    library_id: str = Field(description="sha256 of the normalised rows (sorted by compound id).")
    name: str = Field(description="The name given at the first registration (else the file's stem).")
    aliases: list[str] = Field(default_factory=list, description="Names given by later registrations.")
    source: str = Field(description="The file of the first registration.")
    format: LibraryFormat
    compounds: int
    created_at: dt.datetime
    compounds_path: str = Field(description="Artifact path of the compounds (Parquet: compound_id, smiles).")


class LibraryDetail(LibrarySummary):
    extra_columns: list[str] = Field(default_factory=list, description="Columns of the first upload not stored.")
    sample: list[LibraryCompound] = Field(default_factory=list, description="The first compounds, by id.")


class LibraryRegistration(LibraryDetail):
    created: bool = Field(description="True if this registration stored the library; False if it existed.")


# --- screens -------------------------------------------------------------------------------------


class ScreenRequest(Contract):
    """What a screen is asked to do."""

    model_config = ConfigDict(strict=True)  # a JSON "5" is not the number 5

    library_id: str = Field(
        validation_alias=AliasChoices("library_id", "library"), description="A registered library's full id."
    )
    targets: list[str] = Field(min_length=1, max_length=MAX_TARGETS, description="Registered target ids.")
    model: str | None = Field(
        default=None,
        description="name (its production version), name@3 or name@stage; default: the production version of the "
        "cluster's default model: the bundled model that `up` puts in production for its retrieval merit, or the "
        "setting default_model (REPURPOSE_DEFAULT_MODEL) where set.",
    )
    top: int = Field(default=DEFAULT_TOP, ge=1, le=MAX_TOP, description="Best hits kept per target.")
    chunk_size: int | None = Field(
        default=None, ge=1, le=MAX_CHUNK, description="Compounds per scorer call (default: the cluster's setting)."
    )
    drug_like_only: bool = Field(
        default=False,
        description="Keep only drug-like compounds as hits (see the hits' drug_like). Off by default: a screen "
        "answers with the model's own ranking, every hit flagged, and a fragment or metallodrug library "
        "would lose what it was screened for; every score stays in the results (all=true) either way.",
    )

    @field_validator("library_id", mode="after")
    @classmethod
    def _library_id(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.match(LIBRARY_ID_PATTERN, value):
            raise ValueError(f"{value!r:.80} is not a library id (64 hex digits): resolve a name or prefix first")
        return value

    @field_validator("targets", mode="after")
    @classmethod
    def _targets(cls, values: list[str]) -> list[str]:
        unique = list(dict.fromkeys(v.strip() for v in values))  # keep the order, drop repeats
        if any(not v for v in unique):
            raise ValueError("a target id is empty")
        return unique

    @field_validator("model", mode="after")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


def validated_request(request: ScreenRequest | dict[str, Any]) -> ScreenRequest:
    """The request as a ScreenRequest; InvalidInput naming the first field at fault."""
    try:
        return ScreenRequest.model_validate(request)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"invalid screen request: {where}: {message}") from None


class ScreenProgress(Contract):
    pairs_done: int = Field(description="(compound, target) pairs in finished chunks, failed ones included.")
    pairs_total: int
    chunks_done: int
    chunks_total: int
    failed_compounds: int = Field(description="Compounds that could not be featurised (skipped).")
    pairs_per_second: float | None = Field(default=None, description="The current attempt's pace.")
    eta_seconds: float | None = None
    updated_at: dt.datetime | None = None

    @property
    def fraction(self) -> float:
        return self.pairs_done / self.pairs_total if self.pairs_total else 1.0


class RankedHit(HitEvidence):
    """One of a screening job's kept hits for a target: its rank among them, with its evidence (None
    where the model keeps no training data)."""

    rank: int = Field(ge=1, description="1 = the best score for the target (ties by compound id).")
    compound_id: str
    smiles: str
    score: float = Field(description="The model's interaction probability, 0 to 1.")


class TargetHits(Contract):
    target_id: str
    hits: list[RankedHit] = Field(description="Best first.")


class ScreenFailure(Contract):
    """A library row the scorer could not featurise: skipped for every target."""

    compound_id: str
    smiles: str
    reason: str


class ScreenAttempt(Contract):
    """One worker's life: what it skipped (recorded by earlier attempts) and what it recorded."""

    attempt: int
    started_at: dt.datetime
    skipped_chunks: int = Field(description="Chunks recorded before this attempt started: not scored again.")
    recorded_chunks: int = 0
    ended_at: dt.datetime | None = None
    outcome: str | None = Field(default=None, description="How it ended: finished, died (why), stopped, failed.")


class ScreenSummary(Contract):
    """One screening job in a few fields (what `screens list` shows)."""

    job_id: str
    status: ScreenStatus
    library_id: str
    library_name: str
    targets: list[str]
    model: str = Field(description="The resolved model version, name@version.")
    top: int
    compounds: int
    pairs_done: int
    pairs_total: int
    created_at: dt.datetime
    finished_at: dt.datetime | None = None


class ScreenDetail(ScreenSummary):
    """Everything about a job (what `screens show` shows and `screen` follows)."""

    request: ScreenRequest
    resolved_model: ResolvedModel
    chunk_size: int
    kept_top: int = Field(description="Hits per target the job keeps in its state (results beyond: from Parquet).")
    started_at: dt.datetime | None = None
    attempts: int
    attempt_log: list[ScreenAttempt] = Field(default_factory=list)
    progress: ScreenProgress
    best: list[TargetHits] = Field(description=f"Per target, its best {SHOWN_HITS} hits so far.")
    failures_total: int
    failures: list[ScreenFailure] = Field(description=f"The first {MAX_FAILURES_LISTED} failed compounds.")
    results_path: str | None = Field(default=None, description="Artifact path of every score (when succeeded).")
    error: str | None = None
    created: bool = Field(default=False, description="True in the answer to the submit that started the job.")


class ScreenResultRow(HitEvidence):
    """A result row: the evidence is filled for the hits a job kept (its best ``kept_top`` per
    target at least), None beyond; ``drug_like`` for every scored compound."""

    target_id: str
    rank: int
    compound_id: str
    smiles: str
    score: float


class ScreenResults(Contract):
    """A page of results: the best ``top`` per target (or of one target)."""

    job_id: str
    status: ScreenStatus
    top: int
    target: str | None = Field(default=None, description="The one target asked for; None: every target.")
    complete: bool = Field(description="False while the job runs (or if it stopped): ranks among the chunks done.")
    source: ResultsSource = Field(description="Where the rows came from: the job's state, results Parquet, chunks.")
    rows: list[ScreenResultRow] = Field(description="By target (in the request's order), then rank.")
    offset: int = Field(default=0, description="With all=true: the first row's position among every score.")
    total: int | None = Field(default=None, description="With all=true: how many scores there are in all.")
    next_offset: int | None = Field(default=None, description="With all=true: the next page's offset; None at the end.")

    def to_csv(self) -> str:
        """The rows as CSV, ``RESULT_COLUMNS`` (``csv_cells``)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for row in self.rows:
            values = row.model_dump()
            writer.writerow(csv_cells(values[c] for c in RESULT_COLUMNS))
        return buffer.getvalue()


def csv_cells(values: Iterable[object]) -> list[object]:
    """A result row's CSV cells (its values in ``RESULT_COLUMNS`` order): numbers as ``repr`` (no
    digit lost), None as an empty cell."""
    return [repr(v) if isinstance(v, float) else "" if v is None else v for v in values]
