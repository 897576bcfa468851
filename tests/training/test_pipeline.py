"""From pair files to model directories and back: baselines, evaluation, single predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from repurpose.contracts.training import KnnTraining, training_config
from repurpose.data.pairs import pairs_from_columns, read_pairs
from repurpose.errors import InvalidProtein, InvalidSmiles, InvalidTable, ModelDirectoryError
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.directory import load_model_dir
from repurpose.model.evidence import EVIDENCE_FILES
from repurpose.training.pipeline import evaluate_model, knn_threshold, predict_pair, train_model
from tests.helpers import DRUG_LIKE_SMILES, SAMPLE_TEST, SAMPLE_TRAIN, SAMPLE_VAL, small_train_file

BASELINES = {"rf": ("model.joblib", RandomForestClassifier), "xgb": ("model.json", XGBClassifier)}


@pytest.fixture(scope="module", params=sorted(BASELINES))
def baseline_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp(request.param)
    out = directory / request.param
    train_model(small_train_file(directory), SAMPLE_VAL, out, training_config(request.param, seed=3))
    return out


@pytest.mark.slow
def test_train_model_baseline_writes_loadable_dir(baseline_dir: Path) -> None:
    model_type = baseline_dir.name
    weights, estimator_type = BASELINES[model_type]

    model = load_model_dir(baseline_dir, expected_type=model_type)

    files = ["MODEL_CARD.md", "manifest.json", weights, *EVIDENCE_FILES]  # the evidence: training_evidence
    assert sorted(p.name for p in baseline_dir.iterdir()) == sorted(files)
    assert isinstance(model.estimator, estimator_type)
    assert model.drugban is None
    assert model.manifest.train_pairs == 60
    assert model.manifest.best_epoch is None


@pytest.mark.slow
def test_train_model_baseline_val_metrics_reproduced_after_loading(baseline_dir: Path) -> None:
    model = load_model_dir(baseline_dir)
    val = read_pairs(SAMPLE_VAL)
    assert val.labels is not None

    metrics = binary_metrics(val.labels, model.predict(val), model.threshold)

    assert metrics == model.manifest.val_metrics


@pytest.mark.slow
def test_evaluate_model_baseline_scores_test_file(baseline_dir: Path) -> None:
    metrics = evaluate_model(baseline_dir, SAMPLE_TEST)

    model, test = load_model_dir(baseline_dir), read_pairs(SAMPLE_TEST)
    assert test.labels is not None
    assert metrics == binary_metrics(test.labels, model.predict(test), model.threshold)  # the figures of its scores
    assert metrics.n == 49 and metrics.threshold == model.threshold


def test_evaluate_model_missing_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelDirectoryError, match="no such model directory"):
        evaluate_model(tmp_path / "absent", SAMPLE_TEST)


def test_evaluate_model_broken_data_file_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("SMILES,Protein,Y\nCCO,MKV,1\nC1CC,MKV,0\n")

    with pytest.raises(InvalidTable, match="row 2"):
        evaluate_model(tiny_model_dir, path)


def test_predict_pair_gives_a_probability(tiny_model_dir: Path) -> None:
    model = load_model_dir(tiny_model_dir)

    probability = predict_pair(model, DRUG_LIKE_SMILES, "mkvlaagic")

    assert probability == float(model.predict(pairs_from_columns([DRUG_LIKE_SMILES], ["MKVLAAGIC"]))[0])
    assert probability == predict_pair(model, DRUG_LIKE_SMILES, "MKVLAAGIC")


def test_predict_pair_matches_batch_prediction(tiny_model_dir: Path) -> None:
    model = load_model_dir(tiny_model_dir)
    pairs = read_pairs(SAMPLE_TEST).subset(np.arange(5))

    together = model.predict(pairs)
    one_by_one = [predict_pair(model, s, p) for s, p in zip(pairs.smiles, pairs.proteins, strict=True)]

    np.testing.assert_allclose(one_by_one, together, rtol=1e-5, atol=1e-6)


def test_predict_pair_broken_smiles_refused_as_smiles(tiny_model_dir: Path) -> None:
    model = load_model_dir(tiny_model_dir)

    with pytest.raises(InvalidSmiles, match="unclosed ring"):
        predict_pair(model, "C1CC", "MKV")


def test_predict_pair_bad_protein_refused_as_protein(tiny_model_dir: Path) -> None:
    model = load_model_dir(tiny_model_dir)

    with pytest.raises(InvalidProtein, match="'1' at position 3"):
        predict_pair(model, "CCO", "MK1V")


def test_train_model_knn_keeps_the_training_binders_and_reproduces_val_metrics(knn_model_dir: Path) -> None:
    model = load_model_dir(knn_model_dir, expected_type="knn")
    train, val = read_pairs(SAMPLE_TRAIN), read_pairs(SAMPLE_VAL)
    assert train.labels is not None and val.labels is not None
    positives = [i for i, y in enumerate(train.labels.tolist()) if y == 1]

    files = ["MODEL_CARD.md", "binders.parquet", "manifest.json", "training_compounds.parquet"]
    assert sorted(p.name for p in knn_model_dir.iterdir()) == files
    assert model.knn is not None and model.manifest.knn is not None
    assert model.manifest.knn.binders == len({(train.smiles[i], train.proteins[i]) for i in positives})
    assert set(model.manifest.knn.val_auroc) == {"max", "top3", "top5"}
    assert model.threshold > 0  # a pair sharing no bit with a known binder never interacts
    assert binary_metrics(val.labels, model.predict(val), model.threshold) == model.manifest.val_metrics
    assert "Nearest known binder" in (knn_model_dir / "MODEL_CARD.md").read_text()


def test_knn_scores_a_known_binder_1_its_evidence_itself_and_an_unknown_protein_0(knn_model_dir: Path) -> None:
    model = load_model_dir(knn_model_dir)
    train = read_pairs(SAMPLE_TRAIN)
    assert train.labels is not None
    i = int(np.flatnonzero(train.labels == 1)[0])
    pairs = pairs_from_columns([train.smiles[i], train.smiles[i]], [train.proteins[i], "MKVLAAGIVALLLAAGCSSS"])

    assert model.predict(pairs).tolist() == [1.0, 0.0]
    nearest, unknown = model.nearest_binders(pairs)
    assert nearest is not None and (nearest.smiles, nearest.tanimoto) == (train.smiles[i], 1.0)
    assert unknown is None
    assert predict_pair(model, train.smiles[i], train.proteins[i]) == 1.0


def test_evaluate_model_knn_scores_test_file(knn_model_dir: Path) -> None:
    metrics = evaluate_model(knn_model_dir, SAMPLE_TEST)
    test = read_pairs(SAMPLE_TEST)
    assert test.labels is not None

    assert metrics.n == 49
    assert metrics == binary_metrics(test.labels, load_model_dir(knn_model_dir).predict(test), metrics.threshold)


def test_knn_threshold_is_above_zero_or_identity() -> None:
    labels = np.array([1, 0, 1, 0, 1])
    # nothing above 0 to measure a cut on: the plain F1 maximum, never a cut with undefined metrics
    assert knn_threshold(labels, np.array([0.0, 0.0, 0.0, 0.0, 0.0])) == 0.0
    # F1 over every pair would pick 0 (all interact: F1 0.75); above 0 the best cut is 0.6
    assert knn_threshold(labels, np.array([0.0, 0.0, 0.6, 0.0, 0.0])) == 0.6


def test_knn_on_validation_proteins_without_binders_writes_a_readable_manifest(tmp_path: Path) -> None:
    """A split whose validation proteins have no training binder (every score 0): the manifest
    must still read back (a NaN metric was written as null and refused on loading)."""
    val = tmp_path / "val.csv"
    val.write_text("SMILES,Protein,Y\nCCO,MKVLAAGIVA,1\nCCN,MKVLAAGIVA,0\n")

    train_model(SAMPLE_TRAIN, val, tmp_path / "knn", KnnTraining())

    assert load_model_dir(tmp_path / "knn").manifest.val_metrics.n == 2
