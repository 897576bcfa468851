"""Compound descriptors and a dataset's descriptor profile: the reference for drift monitoring.

Per compound (RDKit): molecular weight (average, ``Descriptors.MolWt``), Crippen logP, TPSA,
H-bond donors and acceptors (``rdMolDescriptors.CalcNumHBD/HBA``, RDKit's Lipinski-module
definitions: aspirin has 1 and 3), rotatable bonds (RDKit's default, strict definition) and
heavy atoms; per row also the protein length.

A profile weighs every row once, as training saw the data: a compound tested against five
targets counts five times. For each feature it keeps n, mean, std (population), the
quantiles in ``QUANTILE_LEVELS`` and a histogram on fixed edges for PSI:

- edges are the distinct deciles (10 %, …, 90 %) of the reference values, so the bins hold
  about a tenth of the reference each. Deciles are taken as observed values (inverted CDF,
  no interpolation) and repeats merged: a discrete feature (donors, rotatable bonds) gets one
  bin per common value and no bin between two integers that no reference value can fill;
  every bin but possibly the last then holds reference values (PSI still needs a small
  floor for empty bins of either side);
- bins are closed on the right and the outer ones open: bin 0 is ``x <= edges[0]``, bin i is
  ``edges[i-1] < x <= edges[i]``, the last is ``x > edges[-1]``; ``counts`` has
  ``len(edges) + 1`` entries and every live value falls in some bin;
- ``bin_counts`` applies exactly this rule, so live traffic binned with it is comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from repurpose.contracts.datasets import DescriptorProfile, FeatureProfile, Histogram, Quantile
from repurpose.errors import InvalidInput, InvalidSmiles, InvalidTable

if TYPE_CHECKING:
    import pandas as pd
    from rdkit import Chem

# RDKit and pandas are imported where descriptors are computed: the feature names and the binning
# rule serve grains and sketches (actors.monitor) that compute none.

COMPOUND_DESCRIPTORS = (
    "molecular_weight",
    "logp",
    "tpsa",
    "h_bond_donors",
    "h_bond_acceptors",
    "rotatable_bonds",
    "heavy_atoms",
)
PROFILE_FEATURES = (*COMPOUND_DESCRIPTORS, "protein_length")
QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
EDGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class CompoundDescriptors(BaseModel):
    smiles: str
    molecular_weight: float = Field(description="Average molecular weight, g/mol.")
    logp: float = Field(description="Crippen logP.")
    tpsa: float = Field(description="Topological polar surface area, Å².")
    h_bond_donors: int
    h_bond_acceptors: int
    rotatable_bonds: int
    heavy_atoms: int


def describe_compound(smiles: str) -> CompoundDescriptors:
    """The descriptors of one compound; InvalidSmiles if RDKit cannot read it."""
    from repurpose.data.drug_graph import parse_smiles

    return CompoundDescriptors.model_validate({"smiles": smiles, **compound_descriptors(parse_smiles(smiles))})


def describe_compounds(smiles: Sequence[str]) -> pd.DataFrame:
    """One row of ``COMPOUND_DESCRIPTORS`` per input SMILES, in input order; repeats are computed
    once. InvalidSmiles names the first bad compound by its position (from 1)."""
    import pandas as pd

    from repurpose.data.drug_graph import parse_smiles

    seen: dict[str, dict[str, float]] = {}
    records: list[dict[str, float]] = []
    for position, text in enumerate(smiles, start=1):
        if text not in seen:
            try:
                seen[text] = compound_descriptors(parse_smiles(text))
            except InvalidSmiles as error:
                raise InvalidSmiles(f"compound {position}: {error.message}", smiles=error.smiles) from None
        records.append(seen[text])
    return pd.DataFrame.from_records(records, columns=list(COMPOUND_DESCRIPTORS))


def descriptor_profile(rows: pd.DataFrame) -> DescriptorProfile:
    """The profile of a dataset version's rows (columns smiles and protein)."""
    from rdkit import rdBase

    missing = [c for c in ("smiles", "protein") if c not in rows.columns]
    if missing:
        raise InvalidTable(f"rows to profile lack the column(s) {', '.join(missing)}")
    if rows.empty:
        raise InvalidTable("no rows to profile")
    table = describe_compounds(rows["smiles"].tolist())
    table["protein_length"] = rows["protein"].str.len().to_numpy()
    return DescriptorProfile(
        rows=len(rows),
        compounds=int(rows["smiles"].nunique()),
        features={name: feature_profile(table[name].to_numpy(dtype=np.float64)) for name in PROFILE_FEATURES},
        rdkit_version=rdBase.rdkitVersion,
    )


def feature_profile(values: np.ndarray | Sequence[float], *, edges: Sequence[float] | None = None) -> FeatureProfile:
    """Statistics of one feature; NaN and infinities are left out. ``edges`` default to the
    values' distinct deciles; pass a reference's edges to profile live data on its bins."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise InvalidInput("no finite values to profile")
    bins = histogram_edges(array) if edges is None else [float(e) for e in edges]
    return FeatureProfile(
        n=int(array.size),
        mean=float(array.mean()),
        std=float(array.std()),
        quantiles=[
            Quantile(level=level, value=float(value))
            for level, value in zip(QUANTILE_LEVELS, np.quantile(array, QUANTILE_LEVELS), strict=True)
        ],
        histogram=Histogram(edges=bins, counts=bin_counts(array, bins)),
    )


def histogram_edges(values: np.ndarray | Sequence[float]) -> list[float]:
    """The distinct deciles of the values (observed values, not interpolated): the fixed edges
    of a reference histogram."""
    array = np.asarray(values, dtype=np.float64)
    deciles = np.quantile(array[np.isfinite(array)], EDGE_LEVELS, method="inverted_cdf")
    return [float(e) for e in np.unique(deciles)]


def bin_counts(values: np.ndarray | Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin (``len(edges) + 1`` of them): right-closed bins, open outer ends."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    # side="left" puts x == edges[i] into bin i: the bins are closed on the right
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), array, side="left")
    return [int(c) for c in np.bincount(bins, minlength=len(edges) + 1)]


def compound_descriptors(mol: Chem.Mol) -> dict[str, float]:
    """``COMPOUND_DESCRIPTORS`` of a parsed molecule (for a caller that reads the molecule for more)."""
    from rdkit.Chem import Descriptors, rdMolDescriptors

    return {
        "molecular_weight": float(Descriptors.MolWt(mol)),  # type: ignore[attr-defined]  # set at import time
        "logp": float(rdMolDescriptors.CalcCrippenDescriptors(mol)[0]),  # what Crippen.MolLogP returns
        "tpsa": float(rdMolDescriptors.CalcTPSA(mol)),
        "h_bond_donors": int(rdMolDescriptors.CalcNumHBD(mol)),
        "h_bond_acceptors": int(rdMolDescriptors.CalcNumHBA(mol)),
        "rotatable_bonds": int(rdMolDescriptors.CalcNumRotatableBonds(mol)),
        "heavy_atoms": int(mol.GetNumHeavyAtoms()),
    }
