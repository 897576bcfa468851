from __future__ import annotations

import numpy as np
import pytest

from repurpose.data.drug_graph import (
    ATOM_FEATURES,
    MAX_DRUG_NODES,
    NODE_FEATURES,
    OFFSET_AROMATIC,
    OFFSET_DEGREE,
    OFFSET_FORMAL_CHARGE,
    OFFSET_HYBRIDISATION,
    OFFSET_IMPLICIT_VALENCE,
    OFFSET_TOTAL_H,
    OFFSET_VIRTUAL,
    atom_features,
    canonical_smiles,
    featurize_drug,
    parse_smiles,
)
from repurpose.errors import InvalidInput, InvalidSmiles
from tests.helpers import DRUG_LIKE_SMILES

# Block offsets written out by hand (symbol 0, degree 43, implicit valence 54, formal charge 61,
# radicals 62, hybridisation 63 with SP, SP2, SP3, aromatic 68, total H 69, virtual flag 74).
SYMBOL_C, SYMBOL_N, SYMBOL_O = 0, 1, 2
DEGREE, VALENCE, CHARGE, RADICALS, SP, SP2, SP3, AROMATIC, TOTAL_H, VIRTUAL = 43, 54, 61, 62, 63, 64, 65, 68, 69, 74


def hot(*columns: int, charge: float = 0.0) -> np.ndarray:
    """The expected 75-wide row: ones at ``columns``, ``charge`` in the formal charge column."""
    x = np.zeros(75, dtype=np.float32)
    x[list(columns)] = 1.0
    x[CHARGE] = charge
    return x


def test_featurize_sizes_are_74_atom_features_plus_the_virtual_flag() -> None:
    graph = featurize_drug("CCO")

    assert (ATOM_FEATURES, NODE_FEATURES, MAX_DRUG_NODES) == (74, 75, 290)
    assert graph.node_features.shape == (3, 75)
    assert graph.node_features.dtype == np.float32
    assert (OFFSET_DEGREE, OFFSET_IMPLICIT_VALENCE, OFFSET_FORMAL_CHARGE) == (DEGREE, VALENCE, CHARGE)
    assert (OFFSET_HYBRIDISATION, OFFSET_AROMATIC, OFFSET_TOTAL_H, OFFSET_VIRTUAL) == (SP, AROMATIC, TOTAL_H, VIRTUAL)


def test_featurize_ethanol_atoms_by_hand() -> None:
    graph = featurize_drug("CCO")

    # CH3: C, degree 1, implicit valence 3, SP3, 3 H
    np.testing.assert_array_equal(graph.node_features[0], hot(SYMBOL_C, DEGREE + 1, VALENCE + 3, SP3, TOTAL_H + 3))
    # CH2: C, degree 2, implicit valence 2, SP3, 2 H
    np.testing.assert_array_equal(graph.node_features[1], hot(SYMBOL_C, DEGREE + 2, VALENCE + 2, SP3, TOTAL_H + 2))
    # OH: O, degree 1, implicit valence 1, SP3, 1 H
    np.testing.assert_array_equal(graph.node_features[2], hot(SYMBOL_O, DEGREE + 1, VALENCE + 1, SP3, TOTAL_H + 1))


def test_featurize_pyridine_aromatic_atoms_by_hand() -> None:
    graph = featurize_drug("c1ccncc1")

    assert graph.n_atoms == 6
    # aromatic CH: degree 2, implicit valence 1, SP2, aromatic, 1 H
    np.testing.assert_array_equal(
        graph.node_features[0], hot(SYMBOL_C, DEGREE + 2, VALENCE + 1, SP2, AROMATIC, TOTAL_H + 1)
    )
    # aromatic N: degree 2, implicit valence 0, SP2, aromatic, no H
    np.testing.assert_array_equal(
        graph.node_features[3], hot(SYMBOL_N, DEGREE + 2, VALENCE + 0, SP2, AROMATIC, TOTAL_H)
    )


def test_featurize_quaternary_ammonium_sets_formal_charge() -> None:
    graph = featurize_drug("C[N+](C)(C)C")

    # N+: degree 4, implicit valence 0, charge +1, SP3, no H
    np.testing.assert_array_equal(graph.node_features[1], hot(SYMBOL_N, DEGREE + 4, VALENCE, SP3, TOTAL_H, charge=1.0))
    assert graph.node_features[:, CHARGE].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


def test_featurize_negative_charge_is_minus_one() -> None:
    graph = featurize_drug("CC(=O)[O-]")

    assert graph.node_features[:, CHARGE].tolist() == [0.0, 0.0, 0.0, -1.0]


def test_featurize_unknown_element_has_no_symbol_bit() -> None:
    graph = featurize_drug("[Ba]")  # barium is not among DGL-LifeSci's 43 symbols

    assert graph.node_features[0, :DEGREE].sum() == 0.0
    assert graph.node_features[0, DEGREE] == 1.0  # degree 0


def test_featurize_counts_heavy_atoms_only() -> None:
    assert featurize_drug("C").n_atoms == 1
    assert featurize_drug("[H]C([H])([H])O").n_atoms == 2  # explicit hydrogens are removed
    assert featurize_drug(DRUG_LIKE_SMILES).n_atoms == 24  # counted by hand


def test_featurize_bonds_are_listed_in_both_directions() -> None:
    graph = featurize_drug("CCO")

    edges = sorted(zip(graph.bond_src.tolist(), graph.bond_dst.tolist(), strict=True))
    assert edges == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert featurize_drug("C").bond_src.shape == (0,)


def test_featurize_real_atoms_have_virtual_flag_zero() -> None:
    graph = featurize_drug(DRUG_LIKE_SMILES)

    assert not graph.node_features[:, VIRTUAL].any()


def test_to_padded_fills_virtual_nodes_with_flag_only() -> None:
    graph = featurize_drug("CCO")

    features, _ = graph.to_padded()

    assert features.shape == (290, 75)
    np.testing.assert_array_equal(features[:3], graph.node_features)
    np.testing.assert_array_equal(features[3:, :74], np.zeros((287, 74)))
    np.testing.assert_array_equal(features[3:, 74], np.ones(287))


def test_to_padded_adjacency_has_self_loops_and_symmetric_bonds() -> None:
    graph = featurize_drug("CCO")

    _, adjacency = graph.to_padded()

    assert adjacency.shape == (290, 290)
    np.testing.assert_array_equal(np.diag(adjacency), [2.0] * 3 + [1.0] * 287)  # real atoms twice, virtual once
    off_diagonal = adjacency - np.diag(np.diag(adjacency))
    np.testing.assert_array_equal(off_diagonal, off_diagonal.T)
    assert off_diagonal[0, 1] == off_diagonal[1, 2] == 1.0
    assert off_diagonal.sum() == 4.0  # two bonds, both directions, nothing else


def test_to_padded_ring_bonds_connect_only_ring_neighbours() -> None:
    graph = featurize_drug("c1ccncc1")

    _, adjacency = graph.to_padded()

    off_diagonal = adjacency - np.diag(np.diag(adjacency))
    ring = [(i, (i + 1) % 6) for i in range(6)]
    expected = np.zeros((290, 290), dtype=np.float32)
    for i, j in ring:
        expected[i, j] = expected[j, i] = 1.0
    np.testing.assert_array_equal(off_diagonal, expected)


def test_to_padded_largest_molecule_has_no_virtual_nodes() -> None:
    graph = featurize_drug("C" * 290)

    features, adjacency = graph.to_padded()

    assert not features[:, VIRTUAL].any()
    np.testing.assert_array_equal(np.diag(adjacency), np.full(290, 2.0))


def test_parse_unparsable_smiles_names_it_and_rdkit_reason() -> None:
    with pytest.raises(InvalidSmiles) as caught:
        featurize_drug("C1CC")

    assert "'C1CC'" in caught.value.message
    assert "unclosed ring" in caught.value.message
    assert caught.value.smiles == "C1CC"
    assert caught.value.code == "invalid_smiles"
    assert isinstance(caught.value, InvalidInput)


def test_parse_kekulisation_failure_gives_rdkit_reason() -> None:
    with pytest.raises(InvalidSmiles, match="kekulize"):
        parse_smiles("c1cccc1")


@pytest.mark.parametrize("smiles", ["", "   ", "\t\n"])
def test_parse_empty_or_whitespace_smiles_refused(smiles: str) -> None:
    with pytest.raises(InvalidSmiles, match="empty SMILES"):
        featurize_drug(smiles)


def test_parse_more_than_290_heavy_atoms_refused_with_count_and_limit() -> None:
    with pytest.raises(InvalidSmiles) as caught:
        featurize_drug("C" * 291)

    assert "291 heavy atoms" in caught.value.message
    assert "at most 290" in caught.value.message


def test_parse_exactly_290_heavy_atoms_accepted() -> None:
    assert featurize_drug("C" * 290).n_atoms == 290


def test_canonical_smiles_same_for_equivalent_inputs() -> None:
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"


@pytest.mark.parametrize(
    "smiles",
    [
        DRUG_LIKE_SMILES,
        "C",  # one atom, no bonds
        "F[S](F)(F)(F)(F)F",  # degree 6, SP3D2
        "[CH3]",  # a radical
        "[Na+].[Cl-]",  # charges, no bonds
        "C[Sm]C",  # an element outside the 43 symbols
        "[2H]C([2H])([2H])C(=O)[O-]",  # isotopes of hydrogen kept as atoms
        "CC1=CC(=O)C=CC1=O",  # a quinone
    ],
)
def test_graph_features_equal_atom_features_atom_by_atom(smiles: str) -> None:
    # the vectorised featuriser against the per-atom definition
    mol = parse_smiles(smiles)
    graph = featurize_drug(smiles)
    expected = np.zeros((mol.GetNumAtoms(), NODE_FEATURES), dtype=np.float32)
    for atom in mol.GetAtoms():
        expected[atom.GetIdx(), :ATOM_FEATURES] = atom_features(atom)
    np.testing.assert_array_equal(graph.node_features, expected)
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    assert sorted(zip(graph.bond_src.tolist(), graph.bond_dst.tolist(), strict=True)) == sorted(
        [*bonds, *((j, i) for i, j in bonds)]
    )
