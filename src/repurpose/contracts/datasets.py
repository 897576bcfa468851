"""Dataset versions at the boundaries: what registering, showing, splitting and listing return.

A registration's ``ValidationReport`` (made by ``repurpose.data.datasets.build_dataset``) and a
version's ``DescriptorProfile`` (``repurpose.data.descriptors.descriptor_profile``) travel as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from repurpose.contracts.base import Contract
from repurpose.contracts.splits import SplitFractions, SplitKind
from repurpose.contracts.targets import MAX_PROTEIN_LENGTH

TableFormat = Literal["csv", "parquet"]
MAX_DATASET_BYTES = 256 * 1024 * 1024
"""The largest pair table a registration reads (refused before it is read)."""
NORMALISATION = "repurpose-rows-v1"
"""How stored rows are normalised; hashed into every dataset id (``repurpose.data.datasets``)."""


# --- the validation report -----------------------------------------------------------------------


class RejectedRow(Contract):
    row: int = Field(description="Data row number, from 1.")
    columns: list[str] = Field(description="The source columns at fault.")
    reason: str = Field(description="Every problem of the row, '; '-separated.")


class DuplicateGroup(Contract):
    """Rows that normalise to the same pair and label; stored once."""

    smiles: str
    protein: str
    y: int
    count: int
    rows: list[int]


class ConflictGroup(Contract):
    """Rows of one pair with both labels; none of them is stored."""

    smiles: str
    protein: str
    positive_rows: list[int]
    negative_rows: list[int]


class RowCounts(Contract):
    read: int = Field(description="Data rows in the file.")
    valid: int = Field(description="Rows that passed validation (read - rejected).")
    rejected: int
    duplicates_removed: int = Field(description="Extra copies of exact duplicates, not stored.")
    conflicts_dropped: int = Field(description="Valid rows of pairs with conflicting labels, not stored.")
    stored: int = Field(description="valid - duplicates_removed - conflicts_dropped.")
    compounds: int = Field(description="Distinct canonical SMILES among the stored rows.")
    proteins: int = Field(description="Distinct proteins among the stored rows.")


class ClassBalance(Contract):
    positives: int
    negatives: int
    positive_fraction: float


class LengthStats(Contract):
    min: int
    median: float
    mean: float
    max: int


class ValidationReport(Contract):
    """What registering a table found. Lists hold at most ``max_listed`` entries each (counts
    are always exact); ``lists_complete`` says whether anything was left out."""

    dataset_id: str
    name: str
    source: str
    format: TableFormat
    counts: RowCounts
    rejected: list[RejectedRow]
    duplicates: list[DuplicateGroup]
    conflicts: list[ConflictGroup]
    lists_complete: bool
    class_balance: ClassBalance
    compound_heavy_atoms: LengthStats = Field(description="Heavy atoms per stored row's compound.")
    protein_length: LengthStats = Field(description="Residues per stored row's protein.")
    long_proteins: int = Field(
        description=f"Stored rows whose protein is longer than {MAX_PROTEIN_LENGTH} residues: DrugBAN sees only "
        f"the first {MAX_PROTEIN_LENGTH}."
    )
    extra_columns: list[str] = Field(description="Source columns that were ignored.")
    normalisation: str = NORMALISATION
    rdkit_version: str


# --- the descriptor profile (see ``repurpose.data.descriptors``) -------------------------------------


class Quantile(Contract):
    level: float
    value: float


class Histogram(Contract):
    """Counts on right-closed bins with open outer ends; see ``repurpose.data.descriptors``."""

    edges: list[float]
    counts: list[int]

    def fractions(self) -> list[float]:
        total = sum(self.counts)
        return [c / total if total else 0.0 for c in self.counts]


class FeatureProfile(Contract):
    n: int
    mean: float
    std: float
    quantiles: list[Quantile]
    histogram: Histogram


class DescriptorProfile(Contract):
    """The reference distribution of a dataset version, per feature in ``data.descriptors.PROFILE_FEATURES``."""

    weighting: Literal["row"] = "row"
    rows: int
    compounds: int = Field(description="Distinct compounds among the rows.")
    features: dict[str, FeatureProfile]
    rdkit_version: str


# --- versions and splits -------------------------------------------------------------------------


class SplitPartSummary(Contract):
    size: int
    fraction: float = Field(description="size / rows: the actual fraction.")
    groups: int = Field(description="Distinct compounds / proteins / scaffolds in the part (rows for random).")
    positives: int


class SplitSummary(Contract):
    """A stored split of a dataset version; its row indices are an artifact at ``path``."""

    split_id: str = Field(description="kind-seed (e.g. cold-drug-1), with -train-val-test when not 0.8/0.1/0.1.")
    kind: SplitKind
    seed: int
    requested: SplitFractions
    train: SplitPartSummary
    val: SplitPartSummary
    test: SplitPartSummary
    path: str = Field(description="Artifact path of the row-to-part table (Parquet).")
    created_at: dt.datetime


class DatasetSummary(Contract):
    """One dataset version in a few numbers (what `datasets list` shows)."""

    dataset_id: str = Field(description="sha256 of the normalised, sorted rows.")
    name: str = Field(description="The name given at the first registration (else the file's stem).")
    aliases: list[str] = Field(default_factory=list, description="Names given by later registrations.")
    source: str = Field(description="The file of the first registration.")
    format: TableFormat
    created_at: dt.datetime
    counts: RowCounts
    class_balance: ClassBalance
    splits: list[str] = Field(default_factory=list, description="Ids of the splits made so far.")
    rows_path: str = Field(description="Artifact path of the stored rows (Parquet: smiles, protein, y).")


class DatasetDetail(DatasetSummary):
    """Everything about a dataset version (what `datasets show` shows)."""

    report: ValidationReport = Field(description="The first registration's validation report.")
    compound_heavy_atoms: LengthStats
    protein_length: LengthStats
    profile: DescriptorProfile = Field(description="Descriptor histograms and quantiles: the drift reference.")
    split_details: list[SplitSummary] = Field(default_factory=list)


class DatasetRegistration(DatasetSummary):
    """The answer to a registration: the stored version, and what this upload held."""

    created: bool = Field(description="True if this registration stored the version; False if it existed.")
    report: ValidationReport = Field(description="This upload's report (rejected rows, duplicates, conflicts).")
