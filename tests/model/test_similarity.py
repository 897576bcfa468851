"""The nearest-known-binder model's fingerprints, Tanimoto and evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from repurpose.errors import InvalidSmiles
from repurpose.model.fingerprint_cache import FingerprintCache
from repurpose.model.similarity import (
    KnnIndex,
    group_binders,
    packed_fingerprints,
    read_binders,
    score_against,
    tanimoto,
    write_binders,
)

GEFITINIB = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
ERLOTINIB = "COCCOc1cc2ncnc(Nc3cccc(C#C)c3)c2cc1OCCOC"
HALOPERIDOL = "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ETHANOL = "CCO"


def _rdkit_tanimoto(a: str, b: str) -> float:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fa, fb = (generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return float(DataStructs.TanimotoSimilarity(fa, fb))


def test_tanimoto_equals_rdkit() -> None:
    smiles = [GEFITINIB, ERLOTINIB, HALOPERIDOL, ASPIRIN, ETHANOL]
    fingerprints = packed_fingerprints(smiles)
    assert fingerprints.shape == (5, 32) and fingerprints.dtype == np.uint64
    similarity = tanimoto(fingerprints, fingerprints)
    expected = np.array([[_rdkit_tanimoto(a, b) for b in smiles] for a in smiles])
    np.testing.assert_allclose(similarity, expected, atol=1e-6)
    np.testing.assert_allclose(np.diag(similarity), 1.0)


def test_empty_inputs_and_bad_smiles() -> None:
    assert tanimoto(packed_fingerprints([]), packed_fingerprints([ASPIRIN])).shape == (0, 1)
    with pytest.raises(InvalidSmiles, match="C1CC"):
        packed_fingerprints(["C1CC"])


def test_scores_and_nearest_binder_as_evidence() -> None:
    binders = group_binders(
        [GEFITINIB, HALOPERIDOL, ASPIRIN, GEFITINIB],
        ["EGFRSEQ", "DRD2SEQ", "EGFRSEQ", "EGFRSEQ"],
        [1, 1, 0, 1],
        ["DB00317", "DB00502", "DB00945", "DB00317"],
    )
    assert set(binders) == {"EGFRSEQ", "DRD2SEQ"}
    assert binders["EGFRSEQ"].compound_ids == ["DB00317"]  # the negative and the repeat left out
    result = score_against(binders["EGFRSEQ"], packed_fingerprints([ERLOTINIB, ETHANOL]), aggregate="max", k=3)
    assert result.scores[0] == pytest.approx(_rdkit_tanimoto(ERLOTINIB, GEFITINIB), abs=1e-6)
    assert result.scores[0] > result.scores[1]
    nearest = result.nearest[0]
    assert nearest is not None and nearest.compound_id == "DB00317" and nearest.smiles == GEFITINIB
    unknown = score_against(binders.get("NOSUCH"), packed_fingerprints([ERLOTINIB]), aggregate="max", k=3)
    assert unknown.scores.tolist() == [0.0] and unknown.nearest == [None]


def test_top_k_mean() -> None:
    binders = group_binders([GEFITINIB, ERLOTINIB, HALOPERIDOL], ["T"] * 3, [1, 1, 1])
    query = packed_fingerprints([GEFITINIB])
    top2 = score_against(binders["T"], query, aggregate="topk", k=2)
    expected = (1.0 + _rdkit_tanimoto(GEFITINIB, ERLOTINIB)) / 2
    assert top2.scores[0] == pytest.approx(expected, abs=1e-6)
    assert score_against(binders["T"], query, aggregate="max", k=2).scores[0] == pytest.approx(1.0)


def test_knn_index_scores_each_pair_against_its_own_protein() -> None:
    binders = group_binders([GEFITINIB, HALOPERIDOL], ["EGFRSEQ", "DRD2SEQ"], [1, 1], ["DB00317", "DB00502"])
    index = KnnIndex(binders, "max", 1)

    result = index.score([ERLOTINIB, ERLOTINIB, GEFITINIB], ["EGFRSEQ", "DRD2SEQ", "NOBINDERS"])

    assert result.scores[0] == pytest.approx(_rdkit_tanimoto(ERLOTINIB, GEFITINIB), abs=1e-6)
    assert result.scores[1] == pytest.approx(_rdkit_tanimoto(ERLOTINIB, HALOPERIDOL), abs=1e-6)
    assert result.scores[2] == 0.0
    assert [n.compound_id if n else None for n in result.nearest] == ["DB00317", "DB00502", None]
    np.testing.assert_array_equal(index.score_target("EGFRSEQ", packed_fingerprints([ERLOTINIB])), result.scores[:1])


def test_topk_mean_averages_the_k_nearest() -> None:
    binders = group_binders([GEFITINIB, ERLOTINIB, HALOPERIDOL], ["T"] * 3, [1, 1, 1])
    query = packed_fingerprints([GEFITINIB])
    expected = sorted(_rdkit_tanimoto(GEFITINIB, b) for b in (GEFITINIB, ERLOTINIB, HALOPERIDOL))[-2:]

    assert KnnIndex(binders, "topk", 2).score_target("T", query)[0] == pytest.approx(np.mean(expected), abs=1e-6)
    assert KnnIndex(binders, "topk", 9).score_target("T", query)[0] == pytest.approx(
        np.mean([_rdkit_tanimoto(GEFITINIB, b) for b in (GEFITINIB, ERLOTINIB, HALOPERIDOL)]), abs=1e-6
    )


def test_binders_file_round_trips(tmp_path: Path) -> None:
    binders = group_binders([GEFITINIB, ERLOTINIB, HALOPERIDOL], ["EGFR", "EGFR", "DRD2"], [1, 1, 1], ["a", "b", "c"])

    write_binders(tmp_path / "binders.parquet", binders)
    back = read_binders(tmp_path / "binders.parquet")

    assert set(back) == {"EGFR", "DRD2"}
    for protein, found in binders.items():
        assert back[protein].compound_ids == found.compound_ids and back[protein].smiles == found.smiles
        np.testing.assert_array_equal(back[protein].fingerprints, found.fingerprints)


def test_fingerprint_cache_parses_once_and_remembers_refusals() -> None:
    cache = FingerprintCache(capacity=10)

    rows, kept, failed = cache.get_many([ASPIRIN, "C1CC", ASPIRIN])
    again, kept_again, failed_again = cache.get_many([ASPIRIN, "C1CC"])

    assert kept == [0, 2] and [(f.index, f.smiles) for f in failed] == [(1, "C1CC")] and "C1CC" in failed[0].reason
    np.testing.assert_array_equal(rows, packed_fingerprints([ASPIRIN, ASPIRIN]))
    assert (cache.misses, cache.hits) == (2, 3) and len(cache) == 2
    assert kept_again == [0] and failed_again[0].reason == failed[0].reason
    np.testing.assert_array_equal(again, rows[:1])
