from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from repurpose.contracts.datasets import DescriptorProfile
from repurpose.data.datasets import build_dataset
from repurpose.data.descriptors import (
    COMPOUND_DESCRIPTORS,
    PROFILE_FEATURES,
    QUANTILE_LEVELS,
    bin_counts,
    describe_compound,
    describe_compounds,
    descriptor_profile,
    feature_profile,
    histogram_edges,
)
from repurpose.errors import InvalidInput, InvalidSmiles, InvalidTable
from tests.helpers import REPO_ROOT

HUMAN_VAL = REPO_ROOT / "data" / "human" / "random" / "val.csv"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def human_profile() -> DescriptorProfile:
    return descriptor_profile(build_dataset(HUMAN_VAL).rows)


def test_describe_aspirin_by_hand() -> None:
    d = describe_compound(ASPIRIN)

    # C9H8O4 with IUPAC standard atomic weights
    assert d.molecular_weight == pytest.approx(9 * 12.011 + 8 * 1.008 + 4 * 15.999, abs=1e-3)
    assert d.molecular_weight == pytest.approx(180.16, abs=0.01)
    # Ertl's contributions: two C=O oxygens 17.07 each, the ester oxygen 9.23, the OH oxygen 20.23
    assert d.tpsa == pytest.approx(2 * 17.07 + 9.23 + 20.23, abs=1e-6)
    assert d.logp == pytest.approx(1.3101, abs=1e-4)  # Wildman–Crippen, as published for aspirin
    assert d.h_bond_donors == 1  # the acid's OH
    assert d.h_bond_acceptors == 3  # RDKit's definition leaves the ester's single-bonded O out
    # strict definition: aryl–O and aryl–C(=O) rotate; the ester C(=O)–O bond does not count
    assert d.rotatable_bonds == 2
    assert d.heavy_atoms == 13


def test_describe_compounds_keeps_order_and_repeats() -> None:
    table = describe_compounds(["CCO", ASPIRIN, "OCC", "CCO"])

    assert list(table.columns) == list(COMPOUND_DESCRIPTORS)
    assert table["heavy_atoms"].tolist() == [3, 13, 3, 3]
    assert table.iloc[0].equals(table.iloc[3])
    assert table.loc[1, "molecular_weight"] == describe_compound(ASPIRIN).molecular_weight


def test_describe_compounds_names_the_bad_compound() -> None:
    with pytest.raises(InvalidSmiles, match=r"compound 2: invalid SMILES 'C1CC'"):
        describe_compounds(["CCO", "C1CC"])


def test_bin_counts_bins_are_right_closed_with_open_ends() -> None:
    assert bin_counts([-5.0, 1.0, 1.5, 2.0, 2.5, 99.0, math.nan], [1.0, 2.0]) == [2, 2, 2]


def test_histogram_edges_are_deciles_and_merge_repeats() -> None:
    assert histogram_edges(np.arange(101)) == pytest.approx([10.0 * k for k in range(1, 10)])
    discrete = [0, 0, 0, 0, 0, 1, 1, 1, 2, 3]
    edges = histogram_edges(discrete)
    assert edges == [0.0, 1.0, 2.0]  # observed values: no edge at 0.5 between two integers
    assert bin_counts(discrete, edges) == [5, 3, 1, 1]


def test_feature_profile_on_reference_edges_for_live_values() -> None:
    reference = feature_profile(np.arange(100.0))
    live = feature_profile(np.full(10, 1000.0), edges=reference.histogram.edges)

    assert live.histogram.edges == reference.histogram.edges
    assert live.histogram.counts == [0] * 9 + [10]
    assert reference.histogram.fractions() == pytest.approx([0.1] * 10)


def test_feature_profile_leaves_out_non_finite_values() -> None:
    profile = feature_profile([1.0, math.nan, 3.0, math.inf])

    assert profile.n == 2
    assert profile.mean == 2.0 and profile.std == 1.0
    with pytest.raises(InvalidInput, match="no finite values"):
        feature_profile([math.nan])


def test_profile_of_human_val_has_sensible_quantiles(human_profile: DescriptorProfile) -> None:
    assert set(human_profile.features) == set(PROFILE_FEATURES)
    assert human_profile.rows == 600
    for name, feature in human_profile.features.items():
        values = [q.value for q in feature.quantiles]
        assert [q.level for q in feature.quantiles] == list(QUANTILE_LEVELS)
        assert values == sorted(values), name
        assert feature.n == 600
        assert sum(feature.histogram.counts) == 600
        assert len(feature.histogram.counts) == len(feature.histogram.edges) + 1
        assert values[0] <= feature.mean <= values[-1]

    weight = {q.level: q.value for q in human_profile.features["molecular_weight"].quantiles}
    assert 150 < weight[0.5] < 500  # drug-like median
    protein = {q.level: q.value for q in human_profile.features["protein_length"].quantiles}
    lengths = pd.read_csv(HUMAN_VAL)["Protein"].str.len()
    assert (protein[0.0], protein[1.0]) == (lengths.min(), lengths.max())
    assert protein[0.5] == lengths.median()
    # continuous feature: the decile bins hold about a tenth each
    counts = human_profile.features["protein_length"].histogram.counts
    assert len(counts) == 10 and all(50 <= c <= 70 for c in counts)
    assert human_profile.features["h_bond_donors"].quantiles[0].value >= 0


def test_profile_survives_json(human_profile: DescriptorProfile) -> None:
    assert DescriptorProfile.model_validate_json(human_profile.model_dump_json()) == human_profile


def test_profile_refuses_rows_without_columns_or_rows() -> None:
    with pytest.raises(InvalidTable, match="lack the column"):
        descriptor_profile(pd.DataFrame({"smiles": ["CCO"]}))
    with pytest.raises(InvalidTable, match="no rows"):
        descriptor_profile(pd.DataFrame({"smiles": [], "protein": []}))
