"""Featurised drug–protein pairs gathered into the tensors the model reads.

The compact batch keeps only real atoms: DrugBAN's virtual padding nodes are identical
across all molecules, so the model represents them by one weighted row per molecule.
``padded_drug_inputs`` builds the literal 290-node tensors for the reference forward.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from repurpose.data.drug_graph import MAX_DRUG_NODES, DrugGraph, featurize_drug
from repurpose.data.protein_encoding import encode_protein


@dataclass(frozen=True)
class PairBatch:
    node_features: torch.Tensor  # (N, 75) real atoms of every drug, drug after drug
    bond_src: torch.Tensor  # (E,) atom indices into node_features
    bond_dst: torch.Tensor  # (E,)
    atom_slot: torch.Tensor  # (N,) where each atom sits in the (B, R) row grid, flattened
    n_atoms: torch.Tensor  # (B,) real atoms per drug
    rows_per_drug: int  # R = 1 + max atoms: slot 0 is the drug's virtual-node row
    proteins: torch.Tensor  # (B, 1200) int64 residue codes
    labels: torch.Tensor | None  # (B,) float32 in {0, 1}, when known

    @property
    def size(self) -> int:
        return int(self.n_atoms.shape[0])

    def to(self, device: torch.device) -> PairBatch:
        """The same batch with every tensor on ``device`` (itself when they are there already)."""
        if self.node_features.device == device:
            return self
        return dataclasses.replace(
            self,
            node_features=self.node_features.to(device),
            bond_src=self.bond_src.to(device),
            bond_dst=self.bond_dst.to(device),
            atom_slot=self.atom_slot.to(device),
            n_atoms=self.n_atoms.to(device),
            proteins=self.proteins.to(device),
            labels=None if self.labels is None else self.labels.to(device),
        )


def collate_pairs(
    drugs: Sequence[DrugGraph],
    proteins: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None = None,
) -> PairBatch:
    """A compact batch of ``len(drugs)`` pairs; ``proteins`` is (B, 1200) codes."""
    counts = np.fromiter((d.n_atoms for d in drugs), dtype=np.int64, count=len(drugs))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rows = 1 + int(counts.max(initial=0))
    features = np.concatenate([d.node_features for d in drugs]) if drugs else np.zeros((0, 75), np.float32)
    src = np.concatenate([d.bond_src + s for d, s in zip(drugs, starts, strict=True)] or [np.zeros(0, np.int64)])
    dst = np.concatenate([d.bond_dst + s for d, s in zip(drugs, starts, strict=True)] or [np.zeros(0, np.int64)])
    drug_of_atom = np.repeat(np.arange(len(drugs)), counts)
    local_index = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    slot = drug_of_atom * rows + 1 + local_index
    return PairBatch(
        node_features=torch.from_numpy(features),
        bond_src=torch.from_numpy(src),
        bond_dst=torch.from_numpy(dst),
        atom_slot=torch.from_numpy(slot),
        n_atoms=torch.from_numpy(counts),
        rows_per_drug=rows,
        proteins=torch.as_tensor(proteins, dtype=torch.int64),
        labels=None if labels is None else torch.tensor(np.asarray(labels), dtype=torch.float32),
    )


def padded_drug_inputs(drugs: Sequence[DrugGraph]) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference model's drug input: (B, 290, 75) features and (B, 290, 290) edge counts."""
    features = np.zeros((len(drugs), MAX_DRUG_NODES, 75), dtype=np.float32)
    adjacency = np.zeros((len(drugs), MAX_DRUG_NODES, MAX_DRUG_NODES), dtype=np.float32)
    for i, drug in enumerate(drugs):
        features[i], adjacency[i] = drug.to_padded()
    return torch.from_numpy(features), torch.from_numpy(adjacency)


@dataclass(frozen=True)
class DrugBANInputs:
    """A PairSet featurised once for DrugBAN: one graph per unique SMILES, protein codes."""

    drugs: list[DrugGraph]  # per pair (shared objects for repeated SMILES)
    proteins: np.ndarray  # (n, 1200) int64
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.drugs)

    def batch(self, index: np.ndarray) -> PairBatch:
        labels = None if self.labels is None else self.labels[index]
        return collate_pairs([self.drugs[i] for i in index], self.proteins[index], labels)


def featurize_pairs(smiles: Sequence[str], proteins: Sequence[str], labels: np.ndarray | None) -> DrugBANInputs:
    graphs: dict[str, DrugGraph] = {}
    codes: dict[str, np.ndarray] = {}
    for s in smiles:
        if s not in graphs:
            graphs[s] = featurize_drug(s)
    for p in proteins:
        if p not in codes:
            codes[p] = encode_protein(p)
    return DrugBANInputs(
        drugs=[graphs[s] for s in smiles],
        proteins=np.stack([codes[p] for p in proteins]) if proteins else np.zeros((0, 1200), np.int64),
        labels=None if labels is None else np.asarray(labels, dtype=np.float32),
    )
