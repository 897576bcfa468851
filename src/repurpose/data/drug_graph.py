"""Drug featurisation exactly as DrugBAN does it, on RDKit.

A molecule becomes a graph of its heavy atoms. Each atom carries the 74 features of the
DGL-LifeSci canonical atom featuriser plus a 75th "virtual node" flag (0 for real atoms).
DrugBAN pads every graph to 290 nodes with virtual nodes (74 zeros and the flag set) and
adds self-loops twice to real atoms (once when the graph is built, once after padding)
and once to virtual nodes.

We keep the compact form (real atoms and bonds only): every virtual node of every graph
is identical and only loops to itself, so the model can treat them as one weighted row.
``to_padded`` rebuilds the literal 290-node form for the reference forward and for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdchem

from repurpose.errors import InvalidSmiles
from repurpose.plain_text import hidden_character

rdBase.DisableLog("rdApp.warning")  # e.g. "not removing hydrogen atom without neighbors", per molecule

MAX_DRUG_NODES = 290
ATOM_FEATURES = 74
NODE_FEATURES = ATOM_FEATURES + 1  # + the virtual-node flag
REAL_ATOM_SELF_LOOPS = 2
VIRTUAL_NODE_SELF_LOOPS = 1

# The 43 symbols of DGL-LifeSci's atom_type_one_hot, in its order (unknown: all zeros).
ATOM_SYMBOLS: tuple[str, ...] = (
    "C", "N", "O", "S", "F", "Si", "P", "Cl", "Br", "Mg", "Na", "Ca", "Fe", "As", "Al",
    "I", "B", "V", "K", "Tl", "Yb", "Sb", "Sn", "Ag", "Pd", "Co", "Se", "Ti", "Zn", "H",
    "Li", "Ge", "Cu", "Au", "Ni", "Cd", "In", "Mn", "Zr", "Cr", "Pt", "Hg", "Pb",
)  # fmt: skip
DEGREES = tuple(range(11))
IMPLICIT_VALENCES = tuple(range(7))
HYBRIDISATIONS = (
    rdchem.HybridizationType.SP,
    rdchem.HybridizationType.SP2,
    rdchem.HybridizationType.SP3,
    rdchem.HybridizationType.SP3D,
    rdchem.HybridizationType.SP3D2,
)
TOTAL_HS = tuple(range(5))

# Offsets of each block inside the 74-feature vector, for readers and tests.
OFFSET_SYMBOL = 0
OFFSET_DEGREE = OFFSET_SYMBOL + len(ATOM_SYMBOLS)  # 43
OFFSET_IMPLICIT_VALENCE = OFFSET_DEGREE + len(DEGREES)  # 54
OFFSET_FORMAL_CHARGE = OFFSET_IMPLICIT_VALENCE + len(IMPLICIT_VALENCES)  # 61
OFFSET_RADICALS = OFFSET_FORMAL_CHARGE + 1  # 62
OFFSET_HYBRIDISATION = OFFSET_RADICALS + 1  # 63
OFFSET_AROMATIC = OFFSET_HYBRIDISATION + len(HYBRIDISATIONS)  # 68
OFFSET_TOTAL_H = OFFSET_AROMATIC + 1  # 69
OFFSET_VIRTUAL = OFFSET_TOTAL_H + len(TOTAL_HS)  # 74
assert OFFSET_VIRTUAL == ATOM_FEATURES

_SYMBOL_INDEX = {symbol: i for i, symbol in enumerate(ATOM_SYMBOLS)}
_HYBRIDISATION_INDEX = {h: i for i, h in enumerate(HYBRIDISATIONS)}


@dataclass(frozen=True)
class DrugGraph:
    """A molecule's real atoms and bonds; virtual padding is implicit."""

    smiles: str
    node_features: np.ndarray  # (n_atoms, 75) float32, virtual flag column all 0
    bond_src: np.ndarray  # (2 * n_bonds,) int64, both directions of every bond
    bond_dst: np.ndarray  # (2 * n_bonds,) int64

    @property
    def n_atoms(self) -> int:
        return int(self.node_features.shape[0])

    def to_padded(self) -> tuple[np.ndarray, np.ndarray]:
        """The literal DrugBAN input: (290, 75) node features and the (290, 290) edge-count
        matrix (row = destination), self-loops included."""
        n = self.n_atoms
        features = np.zeros((MAX_DRUG_NODES, NODE_FEATURES), dtype=np.float32)
        features[:n] = self.node_features
        features[n:, OFFSET_VIRTUAL] = 1.0
        adjacency = np.zeros((MAX_DRUG_NODES, MAX_DRUG_NODES), dtype=np.float32)
        np.add.at(adjacency, (self.bond_dst, self.bond_src), 1.0)
        loops = np.full(MAX_DRUG_NODES, VIRTUAL_NODE_SELF_LOOPS, dtype=np.float32)
        loops[:n] = REAL_ATOM_SELF_LOOPS
        adjacency[np.arange(MAX_DRUG_NODES), np.arange(MAX_DRUG_NODES)] += loops
        return features, adjacency


def parse_smiles(smiles: str) -> Chem.Mol:
    """RDKit's molecule for ``smiles``, or InvalidSmiles naming the SMILES and RDKit's reason."""
    text = smiles.strip() if isinstance(smiles, str) else ""
    if not text:
        raise InvalidSmiles("empty SMILES: a compound needs a SMILES string", smiles=str(smiles))
    hidden = hidden_character(text)
    if hidden is not None:  # RDKit would skip some of them and parse what is left
        raise InvalidSmiles(
            f"invalid SMILES {text!r}: it holds {hidden}; a SMILES may not hold control or format characters",
            smiles=text,
        )
    with rdBase.CaptureErrorLog() as log:  # RDKit's reason, instead of noise on stderr
        mol = Chem.MolFromSmiles(text)
    if mol is None:
        reason = _rdkit_reason(str(log.messages)) or "RDKit could not parse it"
        raise InvalidSmiles(f"invalid SMILES {text!r}: {reason}", smiles=text)
    if mol.GetNumAtoms() == 0:
        raise InvalidSmiles(f"SMILES {text!r} has no atoms", smiles=text)
    if mol.GetNumAtoms() > MAX_DRUG_NODES:
        raise InvalidSmiles(
            f"SMILES {text!r} has {mol.GetNumAtoms()} heavy atoms; DrugBAN takes at most {MAX_DRUG_NODES}",
            smiles=text,
        )
    return mol


def canonical_smiles(smiles: str) -> str:
    """RDKit's canonical SMILES (validated like every featurised compound)."""
    return str(Chem.MolToSmiles(parse_smiles(smiles)))


def atom_features(atom: Chem.Atom) -> np.ndarray:
    """The 74 DGL-LifeSci canonical features of one atom (without the virtual flag)."""
    x = np.zeros(ATOM_FEATURES, dtype=np.float32)
    symbol = _SYMBOL_INDEX.get(atom.GetSymbol())
    if symbol is not None:
        x[OFFSET_SYMBOL + symbol] = 1.0
    _one_hot(x, OFFSET_DEGREE, atom.GetDegree(), len(DEGREES))
    _one_hot(x, OFFSET_IMPLICIT_VALENCE, atom.GetValence(Chem.ValenceType.IMPLICIT), len(IMPLICIT_VALENCES))
    x[OFFSET_FORMAL_CHARGE] = atom.GetFormalCharge()
    x[OFFSET_RADICALS] = atom.GetNumRadicalElectrons()
    hybridisation = _HYBRIDISATION_INDEX.get(atom.GetHybridization())
    if hybridisation is not None:
        x[OFFSET_HYBRIDISATION + hybridisation] = 1.0
    x[OFFSET_AROMATIC] = float(atom.GetIsAromatic())
    _one_hot(x, OFFSET_TOTAL_H, atom.GetTotalNumHs(), len(TOTAL_HS))
    return x


def featurize_drug(smiles: str) -> DrugGraph:
    """The DrugBAN graph of ``smiles`` (atoms in RDKit's input order)."""
    return graph_of(parse_smiles(smiles), smiles)


def graph_of(mol: Chem.Mol, smiles: str) -> DrugGraph:
    """The DrugBAN graph of a molecule ``parse_smiles`` accepted (``smiles`` is kept as its name).

    The features equal ``atom_features`` atom by atom; they are read in one pass over the atoms
    and set block by block with NumPy, since screening featurises millions of atoms.
    """
    implicit = Chem.ValenceType.IMPLICIT
    properties = np.array(
        [
            (
                _SYMBOL_INDEX.get(atom.GetSymbol(), -1),
                atom.GetDegree(),
                atom.GetValence(implicit),
                atom.GetFormalCharge(),
                atom.GetNumRadicalElectrons(),
                _HYBRIDISATION_INDEX.get(atom.GetHybridization(), -1),
                atom.GetIsAromatic(),
                atom.GetTotalNumHs(),
            )
            for atom in mol.GetAtoms()
        ],
        dtype=np.int64,
    ).reshape(-1, 8)
    n = properties.shape[0]
    features = np.zeros((n, NODE_FEATURES), dtype=np.float32)
    symbol, degree, valence, charge, radicals, hybridisation, aromatic, total_h = properties.T
    for offset, values, size in (
        (OFFSET_SYMBOL, symbol, len(ATOM_SYMBOLS)),
        (OFFSET_DEGREE, degree, len(DEGREES)),
        (OFFSET_IMPLICIT_VALENCE, valence, len(IMPLICIT_VALENCES)),
        (OFFSET_HYBRIDISATION, hybridisation, len(HYBRIDISATIONS)),
        (OFFSET_TOTAL_H, total_h, len(TOTAL_HS)),
    ):
        inside = (values >= 0) & (values < size)  # outside the one-hot's range: all zeros
        features[np.flatnonzero(inside), offset + values[inside]] = 1.0
    features[:, OFFSET_FORMAL_CHARGE] = charge
    features[:, OFFSET_RADICALS] = radicals
    features[:, OFFSET_AROMATIC] = aromatic
    ends = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()], dtype=np.int64).reshape(-1, 2)
    src = np.concatenate([ends[:, 0], ends[:, 1]])
    dst = np.concatenate([ends[:, 1], ends[:, 0]])
    return DrugGraph(smiles=smiles, node_features=features, bond_src=src, bond_dst=dst)


def _one_hot(x: np.ndarray, offset: int, value: int, size: int) -> None:
    if 0 <= value < size:  # out-of-range values encode as all zeros, as DGL-LifeSci does
        x[offset + value] = 1.0


def _rdkit_reason(messages: str) -> str:
    """RDKit's first error line without its timestamp and generic prefix."""
    for line in messages.splitlines():
        text = line.split("] ", 1)[-1].strip()
        text = text.removeprefix("SMILES Parse Error: ")
        if text:
            return text
    return ""
