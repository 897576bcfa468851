"""What a monitor compares live traffic with: a dataset version's descriptor profile and a sample.

The profile (``data.descriptors.descriptor_profile``, stored with every dataset version) gives
each feature's fixed bins, with the reference's counts on them, and its summary figures. The
two-sample statistics need raw values as well: ``build_reference`` draws a seeded uniform
sample of at most ``REFERENCE_SAMPLE_ROWS`` of the dataset's rows (every row of a smaller
dataset) and computes their descriptors, once, when the monitor takes its reference.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from repurpose.contracts.datasets import DescriptorProfile, FeatureProfile
from repurpose.contracts.monitoring import ReferenceInfo, ReferenceSource
from repurpose.data.descriptors import PROFILE_FEATURES, describe_compounds
from repurpose.errors import InvalidInput
from repurpose.monitoring.reservoir import DECIMALS

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_SAMPLE_ROWS = 1_000
REFERENCE_SEED = 42


class Reference(BaseModel):
    """A dataset version's profile per feature, and the values of a sample of its rows."""

    dataset_id: str
    dataset_name: str
    rows: int
    source: ReferenceSource
    model_version: int | None
    created_at: dt.datetime
    features: dict[str, FeatureProfile]
    samples: dict[str, list[float]] = Field(description="Per feature, the values of the same sampled rows.")

    def edges(self) -> dict[str, list[float]]:
        """The fixed edges each feature's live values are binned on."""
        return {name: list(profile.histogram.edges) for name, profile in self.features.items()}

    def info(self) -> ReferenceInfo:
        return ReferenceInfo(
            dataset_id=self.dataset_id,
            dataset_name=self.dataset_name,
            rows=self.rows,
            sample_rows=len(next(iter(self.samples.values()), [])),
            source=self.source,
            model_version=self.model_version,
            created_at=self.created_at,
        )


def build_reference(
    rows: pd.DataFrame,
    profile: DescriptorProfile,
    *,
    dataset_id: str,
    dataset_name: str,
    source: ReferenceSource,
    model_version: int | None,
) -> Reference:
    """The reference of a dataset version from its rows (columns ``smiles`` and ``protein``) and profile."""
    missing = [name for name in PROFILE_FEATURES if name not in profile.features]
    if missing:
        raise InvalidInput(f"the descriptor profile of dataset {dataset_id[:12]} lacks {', '.join(missing)}")
    if rows.empty:
        raise InvalidInput(f"dataset {dataset_id[:12]} has no rows to sample")
    rng = np.random.default_rng(REFERENCE_SEED)
    picked = np.sort(rng.choice(len(rows), size=min(REFERENCE_SAMPLE_ROWS, len(rows)), replace=False))
    sampled = rows.iloc[picked]
    table = describe_compounds(sampled["smiles"].tolist())
    table["protein_length"] = sampled["protein"].str.len().to_numpy()
    return Reference(
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        rows=profile.rows,
        source=source,
        model_version=model_version,
        created_at=dt.datetime.now(dt.UTC),
        features={name: profile.features[name] for name in PROFILE_FEATURES},
        samples={
            name: [float(v) for v in np.round(table[name].to_numpy(dtype=np.float64), DECIMALS)]
            for name in PROFILE_FEATURES
        },
    )
