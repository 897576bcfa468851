"""The ensemble model type: its stack, its directory, and scoring it by its members' paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from repurpose.contracts.manifest import EnsembleStack, StackMember
from repurpose.contracts.scoring import PairToScore, ProfileRequest, ResolvedModel
from repurpose.contracts.training import EnsembleTraining, training_config
from repurpose.data.pairs import pairs_from_columns, read_pairs
from repurpose.errors import InvalidInput, ModelDirectoryError
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.evaluation.retrieval import library_scorer
from repurpose.model.directory import CARD, MANIFEST, load_model_dir, model_files
from repurpose.model.ensemble import combine, feature_values, fit_stack
from repurpose.model.published import load_published_model, publish_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import ScoringCore
from repurpose.screening.attempt import featurise_chunk
from repurpose.settings import Settings
from repurpose.training.pipeline import CHECKPOINT_DIR, evaluate_model, train_model
from tests.helpers import SAMPLE_TEST, SAMPLE_TRAIN, SAMPLE_VAL

BAD = "C1CC"  # an unclosed ring: no member can read it


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """knn + xgb on the BindingDB sample (read-only)."""
    out = tmp_path_factory.mktemp("ensemble") / "ensemble-sample"
    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, training_config("ensemble", seed=3))
    return out


@pytest.fixture(scope="module")
def drugban_ensemble_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DrugBAN (one epoch) + knn on the BindingDB sample (read-only)."""
    out = tmp_path_factory.mktemp("ensemble") / "drugban-knn"
    train_model(SAMPLE_TRAIN, SAMPLE_VAL, out, training_config("ensemble", members=["drugban", "knn"], epochs=1))
    return out


def test_the_stack_weights_apply_to_raw_features_as_sklearn_does_to_standardised_ones() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probability = np.clip(0.3 * labels + rng.uniform(0, 0.7, 300), 0, 1)  # a member that outputs probabilities
    tanimoto = np.clip(0.2 * labels + rng.uniform(0, 0.5, 300), 0, 1)

    stack = fit_stack(["xgb", "knn"], [probability, tanimoto], labels)

    x = np.column_stack([feature_values("logit", probability), tanimoto])
    reference = LogisticRegression(C=1.0, max_iter=1000).fit((x - x.mean(0)) / x.std(0), labels)
    expected = reference.predict_proba((x - x.mean(0)) / x.std(0))[:, 1]
    np.testing.assert_allclose(combine(stack, [probability, tanimoto]), expected, rtol=1e-9, atol=1e-12)
    assert [(m.model_type, m.feature, m.path) for m in stack.members] == [
        ("xgb", "logit", "members/xgb"),
        ("knn", "score", "members/knn"),
    ]
    assert all(m.weight > 0 for m in stack.members)  # both carry signal


def test_combine_is_per_pair_and_a_pair_any_member_misses_gets_no_score() -> None:
    stack = EnsembleStack(
        members=[
            StackMember(model_type="xgb", path="members/xgb", feature="logit", weight=0.5, val_auroc=0.8),
            StackMember(model_type="knn", path="members/knn", feature="score", weight=2.0, val_auroc=0.7),
        ],
        intercept=-1.0,
    )
    xgb, knn = np.array([0.5, 0.9, 0.2, np.nan]), np.array([0.0, 1.0, np.nan, 0.4])

    combined = combine(stack, [xgb, knn])

    assert combined[0] == pytest.approx(1 / (1 + np.exp(1.0)))  # logit(0.5) = 0, knn 0
    assert combined[1] == pytest.approx(1 / (1 + np.exp(-(-1.0 + 0.5 * np.log(9) + 2.0))))
    assert np.isnan(combined[2:]).all()
    np.testing.assert_array_equal(combine(stack, [xgb[1:2], knn[1:2]]), combined[1:2])  # the same alone
    with pytest.raises(ValueError, match="1 members' scores for a stack of 2"):
        combine(stack, [xgb])


def test_a_stack_member_lies_in_its_own_folder() -> None:
    with pytest.raises(ValueError, match="members/"):
        StackMember(model_type="knn", path="../../etc", feature="score", weight=1.0, val_auroc=0.5)
    with pytest.raises(ValueError, match="lies in members/knn"):
        StackMember(model_type="knn", path="members/xgb", feature="score", weight=1.0, val_auroc=0.5)


def test_an_ensemble_directory_holds_its_members_and_predicts_by_its_stack(ensemble_dir: Path) -> None:
    model = load_model_dir(ensemble_dir, expected_type="ensemble")
    manifest = json.loads((ensemble_dir / MANIFEST).read_text())
    test = read_pairs(SAMPLE_TEST)

    assert [m.model_type for m in model.members] == ["knn", "xgb"]
    assert (ensemble_dir / "members" / "knn" / "binders.parquet").is_file()
    assert (ensemble_dir / "members" / "xgb" / "model.json").is_file()
    # only the parameters the ensemble and its members use
    assert manifest["training"]["members"][1] == {**manifest["training"]["members"][1], "model_type": "xgb", "seed": 3}
    assert "epochs" not in json.dumps(manifest["training"])
    assert [m["model_type"] for m in manifest["ensemble"]["members"]] == ["knn", "xgb"]
    np.testing.assert_array_equal(
        model.predict(test), combine(model.stack, [member.predict(test) for member in model.members])
    )
    assert model.nearest_binders(test)[0] == model.members[0].nearest_binders(test)[0]  # from its knn member
    metrics = evaluate_model(ensemble_dir, SAMPLE_TEST)
    assert test.labels is not None
    assert metrics == binary_metrics(test.labels, model.predict(test), model.threshold)  # the figures of its scores
    assert metrics.n == len(test) and metrics.threshold == model.threshold
    card = (ensemble_dir / CARD).read_text()
    assert "| knn | `members/knn` | score |" in card and "| xgb | `members/xgb` | logit |" in card
    assert "logistic stack of knn, xgb" in card


def test_its_files_are_its_own_and_its_members_and_publishing_keeps_them(ensemble_dir: Path, tmp_path: Path) -> None:
    manifest = load_model_dir(ensemble_dir).manifest
    files = model_files(ensemble_dir, manifest)
    assert {MANIFEST, CARD, "members/knn/manifest.json", "members/xgb/model.json"} <= set(files)
    settings = Settings(home=tmp_path)

    path = publish_model_dir(ArtifactStore.from_settings(settings), ensemble_dir)
    published = load_published_model(settings, path)

    pairs = read_pairs(SAMPLE_TEST)
    np.testing.assert_array_equal(published.predict(pairs), load_model_dir(ensemble_dir).predict(pairs))
    assert publish_model_dir(ArtifactStore.from_settings(settings), ensemble_dir) == path  # content-addressed


def test_a_missing_or_wrong_member_is_named(ensemble_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(ensemble_dir, tmp_path / "broken")
    shutil.rmtree(broken / "members" / "xgb")
    with pytest.raises(ModelDirectoryError, match="the ensemble's xgb member"):
        load_model_dir(broken)
    with pytest.raises(ModelDirectoryError, match="the ensemble's xgb member"):
        model_files(broken, load_model_dir(ensemble_dir).manifest)
    shutil.copytree(ensemble_dir / "members" / "knn", broken / "members" / "xgb")
    with pytest.raises(ModelDirectoryError, match="holds a knn model, not xgb"):
        load_model_dir(broken)
    manifest = json.loads((broken / MANIFEST).read_text())
    del manifest["ensemble"]
    (broken / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirectoryError, match="needs its stack"):
        load_model_dir(broken)


def test_the_scorer_and_retrieval_score_it_by_its_members_paths(ensemble_dir: Path, tmp_path: Path) -> None:
    model = load_model_dir(ensemble_dir)
    test = read_pairs(SAMPLE_TEST)
    protein = test.proteins[0]
    smiles = list(dict.fromkeys(test.smiles))[:12]
    expected = model.predict(pairs_from_columns(smiles, [protein] * len(smiles), source="test"))
    core = ScoringCore(Settings(home=tmp_path))
    resolved = ResolvedModel(
        name="ens",
        version=1,
        model_type="ensemble",
        artifact_path="ens",
        threshold=model.threshold,
        members=["knn", "xgb"],
    )
    core._models[resolved.artifact_path] = core._loaded(resolved, model, resolved.artifact_path)

    predicted = core.predict_now(resolved, [PairToScore(smiles=s, sequence=protein) for s in smiles])
    featurised = len(core.compounds)  # no DrugBAN member: a prediction featurises nothing for one
    chunk = core.score_chunk_now(ChunkRequest(model=resolved, target_key="t", sequence=protein, smiles=[*smiles, BAD]))
    targets = [("a", protein), ("b", test.proteins[-1])]
    profile = core.profile_now(ProfileRequest(model=resolved, smiles=smiles[0], targets=targets))

    np.testing.assert_allclose(chunk.scores[:-1], expected, rtol=1e-6)  # type: ignore[arg-type]
    assert chunk.scores[-1] is None and [f.index for f in chunk.failures] == [len(smiles)]  # once, not per member
    np.testing.assert_allclose([p.probability for p in predicted], expected, rtol=1e-6)
    pairs = pairs_from_columns([smiles[0]] * 2, [protein, test.proteins[-1]], source="test")
    np.testing.assert_allclose(profile.scores, model.predict(pairs), rtol=1e-6)
    np.testing.assert_allclose(library_scorer(model)(protein, smiles), expected, rtol=1e-6)
    assert featurised == 0
    with pytest.raises(InvalidInput, match=r"pair 1: invalid SMILES 'C1CC': unclosed ring"):
        core.predict_now(resolved, [PairToScore(smiles=s, sequence=protein) for s in (smiles[0], BAD)])


@pytest.mark.slow
def test_a_drugban_member_trains_with_its_own_settings_and_scores_by_the_fast_path(
    drugban_ensemble_dir: Path, tmp_path: Path
) -> None:
    model = load_model_dir(drugban_ensemble_dir)
    assert isinstance(model.manifest.training, EnsembleTraining)
    drugban = model.manifest.training.members[0]
    assert drugban.model_dump() == {"model_type": "drugban", "epochs": 1, "batch_size": 64, "lr": 5e-5, "seed": 42}
    assert (drugban_ensemble_dir / CHECKPOINT_DIR).is_dir()  # the ensemble's, as a cluster worker expects
    assert not (drugban_ensemble_dir / "members" / "drugban" / CHECKPOINT_DIR).exists()
    assert not any(f.startswith(CHECKPOINT_DIR) for f in model_files(drugban_ensemble_dir, model.manifest))

    test = read_pairs(SAMPLE_TEST)
    protein = test.proteins[0]
    smiles = [*dict.fromkeys(test.smiles)][:10]
    expected = model.predict(pairs_from_columns(smiles, [protein] * len(smiles), source="test"))
    core = ScoringCore(Settings(home=tmp_path))
    resolved = ResolvedModel(
        name="ens", version=1, model_type="ensemble", artifact_path="e", threshold=0.5, members=["drugban", "knn"]
    )
    assert resolved.reads_graphs
    core._models["e"] = core._loaded(resolved, model, "e")
    graphs, failed = featurise_chunk([*smiles, BAD])  # as a screen sends them: featurised, failures known

    chunk = core.score_chunk_now(
        ChunkRequest(model=resolved, target_key="t", sequence=protein, smiles=[*smiles, BAD], graphs=graphs)
    )
    predicted = core.predict_now(resolved, [PairToScore(smiles=s, sequence=protein, target_key="t") for s in smiles])

    assert [f.index for f in failed] == [len(smiles)] and chunk.failures == []  # the caller reports it
    assert chunk.scores[-1] is None
    np.testing.assert_allclose(chunk.scores[:-1], expected, atol=1e-5)  # type: ignore[arg-type]
    np.testing.assert_allclose([p.probability for p in predicted], expected, atol=1e-5)
    assert core.targets.misses == 1  # the DrugBAN member's target side, computed once for both calls
