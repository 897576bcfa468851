"""The evidence beside a hit: the target's nearest training binder and the applicability domain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from repurpose.contracts.scoring import DOMAIN_THRESHOLD
from repurpose.data.pairs import pairs_from_columns, read_pairs
from repurpose.errors import ModelDirectoryError
from repurpose.model.directory import load_model_dir
from repurpose.model.evidence import (
    TRAINING_COMPOUNDS_FILE,
    TrainingEvidence,
    build_training_evidence,
    pair_evidence,
    read_training_evidence,
    record_training_evidence,
)
from repurpose.model.similarity import BINDERS_FILE, packed_fingerprints
from tests.helpers import REPO_ROOT, SAMPLE_TRAIN, random_protein

GEFITINIB = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
ERLOTINIB = "COCCOc1cc2ncnc(Nc3cccc(C#C)c3)c2cc1OCCOC"
HALOPERIDOL = "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1"
SPIPERONE = "O=C(CCCN1CCC2(CC1)C(=O)NCN2c1ccccc1)c1ccc(F)cc1"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
EGFR, DRD2, ORPHAN = random_protein(300, seed=1), random_protein(300, seed=2), random_protein(300, seed=3)


def rdkit_tanimoto(a: str, b: str) -> float:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fa, fb = (generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return float(DataStructs.TanimotoSimilarity(fa, fb))


@pytest.fixture
def evidence() -> TrainingEvidence:
    """Two EGFR inhibitors bind EGFR, haloperidol binds DRD2; caffeine is a training negative."""
    train = pairs_from_columns(
        [GEFITINIB, ERLOTINIB, HALOPERIDOL, CAFFEINE, HALOPERIDOL],
        [EGFR, EGFR, DRD2, EGFR, ORPHAN],
        np.array([1, 1, 1, 0, 0]),
    )
    return build_training_evidence(train)


def test_the_nearest_binder_is_the_targets_most_similar_training_binder(evidence: TrainingEvidence) -> None:
    (found,) = evidence.evidence(EGFR, packed_fingerprints([ERLOTINIB]))
    (novel,) = evidence.evidence(EGFR, packed_fingerprints([SPIPERONE]))

    assert (found.nearest_binder_smiles, found.nearest_binder_tanimoto) == (ERLOTINIB, 1.0)
    assert found.nearest_binder_id is None  # the pairs name no compounds: the SMILES is the binder's name
    expected = max(rdkit_tanimoto(SPIPERONE, GEFITINIB), rdkit_tanimoto(SPIPERONE, ERLOTINIB))
    assert novel.nearest_binder_tanimoto == pytest.approx(expected, abs=1e-4)
    # the domain looks at every training compound, of any target and label: haloperidol is close
    assert novel.max_training_tanimoto == pytest.approx(rdkit_tanimoto(SPIPERONE, HALOPERIDOL), abs=1e-4)


def test_the_applicability_domain_flag_is_the_threshold_on_the_nearest_training_compound(
    evidence: TrainingEvidence,
) -> None:
    far, near, trained = evidence.evidence(DRD2, packed_fingerprints(["CCCCCCCCCCCCCCCC(=O)O", SPIPERONE, CAFFEINE]))

    assert far.max_training_tanimoto is not None and far.max_training_tanimoto < DOMAIN_THRESHOLD
    assert far.in_domain is False
    assert near.max_training_tanimoto is not None and near.max_training_tanimoto >= DOMAIN_THRESHOLD
    assert near.in_domain is True
    assert (trained.max_training_tanimoto, trained.in_domain) == (1.0, True)  # a training negative counts


def test_a_target_without_training_binders_has_no_nearest_binder(evidence: TrainingEvidence) -> None:
    (found,) = evidence.evidence(ORPHAN, packed_fingerprints([HALOPERIDOL]))

    assert found.nearest_binder_smiles is None and found.nearest_binder_tanimoto is None
    assert found.in_domain is True  # it is a training compound all the same


def test_the_files_round_trip_and_older_directories_have_none(tmp_path: Path) -> None:
    train = read_pairs(SAMPLE_TRAIN)
    written = record_training_evidence(tmp_path / "model", train)
    back = read_training_evidence(tmp_path / "model")

    assert back is not None and back.compounds is not None and written.compounds is not None
    np.testing.assert_array_equal(back.compounds, written.compounds)
    assert len(back.compounds) == len(set(train.smiles))
    assert {p: b.smiles for p, b in back.binders.items()} == {p: b.smiles for p, b in written.binders.items()}
    assert read_training_evidence(tmp_path) is None  # no files: no evidence (fields stay None)
    only_binders = read_training_evidence(tmp_path / "model", written.binders)
    assert only_binders is not None and only_binders.compounds is not None
    (tmp_path / "model" / TRAINING_COMPOUNDS_FILE).unlink()
    no_domain = read_training_evidence(tmp_path / "model")
    assert no_domain is not None and no_domain.compounds is None
    (found,) = no_domain.evidence(train.proteins[0], packed_fingerprints([train.smiles[0]]))
    assert found.max_training_tanimoto is None and found.in_domain is None


def test_a_damaged_training_compounds_file_is_named(tmp_path: Path) -> None:
    record_training_evidence(tmp_path, read_pairs(SAMPLE_TRAIN))
    (tmp_path / TRAINING_COMPOUNDS_FILE).write_bytes(b"not parquet")

    with pytest.raises(ModelDirectoryError, match=TRAINING_COMPOUNDS_FILE):
        read_training_evidence(tmp_path)


def test_training_writes_the_evidence_into_every_model_directory(knn_model_dir: Path) -> None:
    model = load_model_dir(knn_model_dir)

    assert (knn_model_dir / BINDERS_FILE).is_file() and (knn_model_dir / TRAINING_COMPOUNDS_FILE).is_file()
    assert model.evidence is not None and model.knn is not None
    assert model.evidence.binders is model.knn.binders  # a knn model's binders are its weights
    assert model.evidence.compounds is not None and len(model.evidence.compounds) == len(
        set(read_pairs(SAMPLE_TRAIN).smiles)
    )


@pytest.mark.parametrize("name", ["drugban-human", "rf-human", "xgb-human"])
def test_the_bundled_human_models_carry_their_training_evidence(name: str) -> None:
    model = load_model_dir(REPO_ROOT / "models" / name)
    train = read_pairs(REPO_ROOT / "data" / "human" / "random" / "train.csv")

    assert model.manifest.train_data_sha256 == train.sha256
    assert model.evidence is not None and model.evidence.compounds is not None
    assert len(model.evidence.compounds) == len(set(train.smiles))
    found = pair_evidence(model.evidence, train.smiles[0], train.proteins[0])
    assert found.max_training_tanimoto == 1.0 and found.in_domain


def test_a_pairs_evidence_flags_what_is_not_drug_like(evidence: TrainingEvidence) -> None:
    salt = pair_evidence(evidence, "[Na+].[Cl-]", EGFR)
    drug = pair_evidence(evidence, GEFITINIB, EGFR)
    unknown = pair_evidence(None, "CCO", EGFR)

    assert (salt.drug_like, salt.drug_like_issue, salt.in_domain) == (False, "no carbon (inorganic)", False)
    assert (drug.drug_like, drug.nearest_binder_tanimoto, drug.in_domain) == (True, 1.0, True)
    assert (unknown.drug_like, unknown.drug_like_issue, unknown.nearest_binder_smiles) == (False, "3 heavy atoms", None)
