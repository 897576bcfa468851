"""Why a pair scores as it does: the atoms and residues DrugBAN's attention weighs most.

The maps come from the reference forward (``DrugBAN.reference_forward``): per head, a
290 × 1185 grid of drug nodes × protein CNN positions. An atom's weight is the total absolute
attention over heads and positions; a position's weight the total over heads and real atoms.
CNN position j sees residues j+1 … j+16 (three convolutions, kernels 3, 6 and 9), so a
position is reported as that window of the sequence. Virtual nodes and positions past the
sequence's end carry no meaning and are left out. The forward runs on the model's device (in
bfloat16 autocast with ``precision="bf16"``); the maps come back to the CPU to be ranked.
"""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem

from repurpose.contracts.scoring import AtomWeight, Explanation, ResidueWindow
from repurpose.contracts.targets import normalize_protein
from repurpose.data.drug_graph import featurize_drug, parse_smiles
from repurpose.data.protein_encoding import encode_protein
from repurpose.model.devices import Compute, widened
from repurpose.model.drugban import DrugBAN, model_device
from repurpose.model.pair_batch import padded_drug_inputs
from repurpose.settings import Precision


def explain_pair(
    model: DrugBAN,
    smiles: str,
    sequence: str,
    *,
    top_atoms: int = 10,
    top_residues: int = 10,
    precision: Precision = "fp32",
) -> Explanation:
    """The top atoms and residue windows of one pair by attention (validates both inputs)."""
    sequence = normalize_protein(sequence)
    graph = featurize_drug(smiles)
    molecule = parse_smiles(smiles)
    features, adjacency = padded_drug_inputs([graph])
    codes = torch.from_numpy(encode_protein(sequence, model.config.max_protein_length))[None]
    model.eval()
    compute = Compute(model_device(model), precision)
    device = compute.device
    with torch.inference_mode(), compute.autocast():
        logits, maps = model.reference_forward(features.to(device), adjacency.to(device), codes.to(device))
    grid = maps[0].abs().sum(0).double().cpu().numpy()  # (290, positions)
    n_atoms = graph.n_atoms
    kernels = model.config.protein_kernels
    receptive = sum(k - 1 for k in kernels) + 1
    shown_positions = max(1, min(grid.shape[1], len(sequence[: model.config.max_protein_length]) - receptive + 1))
    real = grid[:n_atoms, :shown_positions]
    atom_weights = real.sum(1)
    position_weights = real.sum(0)
    atoms = [
        AtomWeight(index=int(i), symbol=_symbol(molecule, int(i)), weight=float(atom_weights[i] / atom_weights.sum()))
        for i in np.argsort(-atom_weights, kind="stable")[:top_atoms]
    ]
    residues = [
        ResidueWindow(
            start=int(j) + 1,
            end=int(j) + receptive,
            residues=sequence[int(j) : int(j) + receptive],
            weight=float(position_weights[j] / position_weights.sum()),
        )
        for j in np.argsort(-position_weights, kind="stable")[:top_residues]
    ]
    return Explanation(
        probability=float(torch.sigmoid(widened(logits))[0]),
        atoms=atoms,
        residues=residues,
        heads=int(maps.shape[1]),
        protein_positions=shown_positions,
    )


def _symbol(molecule: Chem.Mol, index: int) -> str:
    return str(molecule.GetAtomWithIdx(index).GetSymbol()) if index < molecule.GetNumAtoms() else "?"
