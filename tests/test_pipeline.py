"""From pair files to model directories and back: baselines, evaluation, single predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from repurpose.errors import InvalidProtein, InvalidSmiles, InvalidTable, ModelDirectoryError
from repurpose.metrics import binary_metrics
from repurpose.model_dir import load_model_dir
from repurpose.pairs import read_pairs
from repurpose.pipeline import evaluate_model, predict_pair, train_model
from repurpose.training import TrainingConfig
from tests.helpers import DRUG_LIKE_SMILES, SAMPLE_TEST, SAMPLE_VAL, small_train_file

BASELINES = {"rf": ("model.joblib", RandomForestClassifier), "xgb": ("model.json", XGBClassifier)}


@pytest.fixture(scope="module", params=sorted(BASELINES))
def baseline_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp(request.param)
    out = directory / request.param
    train_model(small_train_file(directory), SAMPLE_VAL, out, TrainingConfig(model_type=request.param, seed=3))
    return out


@pytest.mark.slow
def test_train_model_baseline_writes_loadable_dir(baseline_dir: Path) -> None:
    model_type = baseline_dir.name
    weights, estimator_type = BASELINES[model_type]

    model = load_model_dir(baseline_dir, expected_type=model_type)

    assert sorted(p.name for p in baseline_dir.iterdir()) == sorted(["MODEL_CARD.md", "manifest.json", weights])
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

    assert metrics.n == 49
    assert 0.0 <= metrics.auroc <= 1.0
    assert metrics.threshold == load_model_dir(baseline_dir).threshold


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

    assert 0.0 <= probability <= 1.0
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
