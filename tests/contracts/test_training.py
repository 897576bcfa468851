"""Each model type records only the parameters it uses; manifests written before still load."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from repurpose.contracts.manifest import Manifest
from repurpose.contracts.training import (
    DrugBANTraining,
    EnsembleTraining,
    ForestTraining,
    KnnTraining,
    TrainingConfig,
    XGBTraining,
    drugban_config,
    parse_members,
    training_config,
    used_settings,
)
from repurpose.errors import InvalidInput
from repurpose.model.directory import MANIFEST, load_model_dir
from tests.helpers import REPO_ROOT

CONFIG = TypeAdapter(TrainingConfig)
BUNDLED = REPO_ROOT / "models"


@pytest.mark.parametrize(
    ("model", "kind", "keys"),
    [
        ("drugban-human", DrugBANTraining, {"model_type", "epochs", "batch_size", "lr", "seed"}),
        ("rf-human", ForestTraining, {"model_type", "seed", "n_estimators", "min_samples_leaf", "max_features"}),
        (
            "xgb-human",
            XGBTraining,
            {
                "model_type",
                "seed",
                "n_estimators",
                "learning_rate",
                "max_depth",
                "subsample",
                "colsample_bytree",
                "early_stopping_rounds",
            },
        ),
    ],
)
def test_bundled_manifests_load_unchanged_with_their_own_parameters(model: str, kind: type, keys: set[str]) -> None:
    path = BUNDLED / model / MANIFEST
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    stored = json.loads(path.read_text())["training"]

    loaded = load_model_dir(BUNDLED / model)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # read, never rewritten
    assert isinstance(loaded.manifest.training, kind)
    assert set(loaded.manifest.training.model_dump()) == keys
    # the old file gave every type DrugBAN's settings: a forest keeps its seed and drops the rest
    assert {"epochs", "batch_size", "lr"} <= set(stored)
    assert loaded.manifest.training.model_dump().get("seed") == stored["seed"]


def test_a_legacy_knn_config_drops_even_its_seed_but_an_unknown_field_is_refused() -> None:
    legacy = {"model_type": "knn", "epochs": 100, "batch_size": 64, "lr": 5e-5, "seed": 42}
    assert CONFIG.validate_python(legacy) == KnnTraining()
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CONFIG.validate_python({"model_type": "rf", "max_depth": 4})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CONFIG.validate_python({"model_type": "drugban", "n_estimators": 4})


def test_a_manifest_round_trip_keeps_only_the_types_parameters() -> None:
    manifest = json.loads((BUNDLED / "rf-human" / MANIFEST).read_text())
    again = Manifest.model_validate_json(Manifest.model_validate(manifest).model_dump_json())
    assert "epochs" not in again.training.model_dump() and again.training == ForestTraining(seed=42)


def test_training_config_refuses_settings_the_type_does_not_use() -> None:
    cases = [
        ({"model_type": "rf", "epochs": 5}, "rf models do not use epochs"),
        ({"model_type": "xgb", "lr": 0.1}, "xgb models do not use lr"),
        ({"model_type": "knn", "seed": 3}, "knn models do not use seed"),
        ({"model_type": "drugban", "members": ["knn", "xgb"]}, "drugban models have no members"),
        ({"model_type": "ensemble", "epochs": 3}, "ensemble models without a drugban member do not use epochs"),
        ({"model_type": "ensemble", "members": ["knn"]}, "two or more different member types"),
        ({"model_type": "ensemble", "members": ["knn", "knn"]}, "two or more different member types"),
        ({"model_type": "ensemble", "members": ["knn", "svm"]}, "'svm' is not a member type"),
    ]
    for settings, message in cases:
        with pytest.raises(InvalidInput, match=message):
            training_config(**settings)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="greater than 0"):
        training_config("drugban", lr=0)


def test_each_type_gets_its_settings_and_defaults() -> None:
    assert training_config("drugban", epochs=3, seed=7) == DrugBANTraining(epochs=3, seed=7)
    assert training_config("rf", seed=3) == ForestTraining(seed=3)
    assert training_config("knn") == KnnTraining()
    ensemble = training_config("ensemble", members=["drugban", "knn"], epochs=2, seed=5)
    assert isinstance(ensemble, EnsembleTraining)
    assert ensemble.members == (DrugBANTraining(epochs=2, seed=5), KnnTraining())
    assert drugban_config(ensemble) == DrugBANTraining(epochs=2, seed=5)
    assert drugban_config(training_config("ensemble")) is None
    assert training_config("ensemble") == EnsembleTraining(members=(KnnTraining(), XGBTraining()))
    assert used_settings("ensemble", ["knn", "xgb"]) == {"members", "seed"}
    assert used_settings("ensemble", ["drugban", "knn"]) >= {"epochs", "batch_size", "lr", "num_gpus"}


def test_params_are_flat_and_only_the_types_own() -> None:
    assert ForestTraining(seed=1).params() == {
        "seed": 1,
        "n_estimators": 500,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
    }
    assert KnnTraining().params() == {"aggregates": "max,top3,top5"}
    params = training_config("ensemble", seed=9).params()
    assert params["members"] == "knn,xgb" and params["stack"] == "logistic"
    assert params["xgb.seed"] == 9 and params["knn.aggregates"] == "max,top3,top5"
    assert not any(key.endswith(("epochs", "lr", "batch_size")) for key in params)


def test_an_ensemble_config_reads_back_from_json_and_refuses_repeated_members() -> None:
    config = training_config("ensemble", members=["drugban", "xgb", "knn"], epochs=4)
    assert CONFIG.validate_json(CONFIG.dump_json(config)) == config
    with pytest.raises(ValidationError, match="repeat a model type"):
        EnsembleTraining(members=(KnnTraining(), KnnTraining()))
    assert parse_members(" knn , rf ") == ["knn", "rf"]
