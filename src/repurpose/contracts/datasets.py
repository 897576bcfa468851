"""Dataset versions at the boundaries: what registering, showing, splitting and listing return.

The validation report (``repurpose.datasets.ValidationReport``) and the descriptor profile
(``repurpose.descriptors.DescriptorProfile``) are pydantic models already and travel as they are.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from repurpose.dataset_splits import SplitFractions, SplitKind
from repurpose.datasets import ClassBalance, LengthStats, RowCounts, TableFormat, ValidationReport
from repurpose.descriptors import DescriptorProfile


class SplitPartSummary(BaseModel):
    size: int
    fraction: float = Field(description="size / rows: the actual fraction.")
    groups: int = Field(description="Distinct compounds / proteins / scaffolds in the part (rows for random).")
    positives: int


class SplitSummary(BaseModel):
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


class DatasetSummary(BaseModel):
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
