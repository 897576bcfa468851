"""The ModelRegistry grain on a real local Ray cluster (SQLite; versions and NaN metrics on PostgreSQL too), and
its helpers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from repurpose.actors.dataset_version import DatasetVersion
from repurpose.actors.model_registry import ModelRegistry, list_models, register_model_dir
from repurpose.contracts.models import (
    ModelEvaluation,
    ModelLineage,
    ModelVersionDetail,
    check_model_name,
    parse_version_ref,
)
from repurpose.contracts.training import DrugBANTraining
from repurpose.data.dataset_access import load_dataset_pairs, load_split_pairs
from repurpose.data.pairs import PairSet
from repurpose.errors import (
    DatasetNotFound,
    InvalidInput,
    ModelDirectoryError,
    ModelNotFound,
    PromotionRefused,
)
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.evaluation.model_evaluation import training_overlap
from repurpose.grains import GrainClient
from repurpose.model.directory import load_model_dir
from repurpose.model.published import load_published_model, model_cache_dir, publish_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings
from repurpose.store import list_states
from tests.helpers import (
    BUNDLED_DIR,
    SAMPLE_VAL,
    both_stores,
    kill_host,
    lineage,
    model_variant,
    promote,
    register_dataset,
    to_production,
    wait_for_new_host,
)

NAME = "dti-test"


def register(client: GrainClient, tmp_path: Path, *aurocs: float, name: str = NAME) -> list[ModelVersionDetail]:
    directories = [model_variant(tmp_path, auroc, f"{name}-{i}") for i, auroc in enumerate(aurocs)]
    return [register_model_dir(client, name, directory, lineage()) for directory in directories]


def stages(client: GrainClient, name: str = NAME) -> list[str]:
    return [v.stage for v in client.call(ModelRegistry, name, "versions")]


# --- without Ray ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["drugban-human", "a", "rf.v2_final", "0" * 64])
def test_check_model_name_accepts(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", "Bad Name", "-x", "UPPER", "a/b", "x" * 65, ".hidden"])
def test_check_model_name_refuses_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"is not a model name: use 1 to 64 lower-case letters"):
        check_model_name(name)


def test_parse_version_ref() -> None:
    assert [parse_version_ref(r) for r in ("3", "v12", " Latest ", "production", "staging", 7)] == [
        3,
        12,
        "latest",
        "production",
        "staging",
        7,
    ]
    for bad in ("foo", "0", "-1", "", "v", "1.5", 0):
        with pytest.raises(InvalidInput):
            parse_version_ref(bad)


def test_publish_is_content_addressed_and_loads_from_a_cache(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    artifacts = ArtifactStore.from_settings(settings)
    source = model_variant(tmp_path, 0.9)
    (source / "checkpoints").mkdir()
    (source / "checkpoints" / "checkpoint.pt").write_bytes(b"not part of the model")

    path = publish_model_dir(artifacts, source)

    assert path.startswith("model-dirs/") and len(path) == len("model-dirs/") + 64
    assert publish_model_dir(artifacts, source) == path  # idempotent
    published = sorted(p.rsplit("/", 1)[-1] for p in artifacts.list(path))
    assert published == sorted(p.name for p in BUNDLED_DIR.iterdir())  # no checkpoints/
    assert publish_model_dir(artifacts, model_variant(tmp_path, 0.91)) != path  # other content, other path

    model = load_published_model(settings, path)
    cached = model_cache_dir(settings) / path.rsplit("/", 1)[-1]
    assert model.path == cached and model.manifest.val_metrics.auroc == 0.9
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".tmp")]
    artifacts.delete(path)  # the cache answers from now on
    assert load_published_model(settings, path).threshold == model.threshold


def test_publish_and_load_refuse_what_is_not_a_model(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    artifacts = ArtifactStore.from_settings(settings)
    with pytest.raises(ModelDirectoryError, match="no such model directory"):
        publish_model_dir(artifacts, tmp_path / "absent")
    incomplete = model_variant(tmp_path, 0.9)
    (incomplete / "weights.pt").unlink()
    with pytest.raises(ModelDirectoryError, match=r"incomplete drugban model directory, missing weights\.pt"):
        publish_model_dir(artifacts, incomplete)
    assert artifacts.list() == []

    path = publish_model_dir(artifacts, model_variant(tmp_path, 0.8))
    artifacts.put_bytes(f"{path}/config.json", b"{}")  # damaged in the store
    with pytest.raises(ModelDirectoryError, match="do not match their content hash"):
        load_published_model(settings, path)
    assert not (model_cache_dir(settings) / path.rsplit("/", 1)[-1]).exists()
    with pytest.raises(InvalidInput, match="is not a published model directory"):
        load_published_model(settings, "models/elsewhere")


# --- the grain -----------------------------------------------------------------------------------


@pytest.mark.slow
@both_stores
def test_versions_are_numbered_and_a_directory_registers_once(
    client: GrainClient, engine: Engine, tmp_path: Path
) -> None:
    first, second, third = register(client, tmp_path, 0.9, 0.91, 0.92)

    assert [(v.version, v.stage) for v in (first, second, third)] == [(n, "candidate") for n in (1, 2, 3)]
    assert first.lineage == lineage() and first.manifest.val_metrics.auroc == 0.9
    assert first.stage_history[0].reason == "registered from run:run-1"
    again = register_model_dir(client, NAME, tmp_path / f"variant-0.9-{NAME}-0", lineage("another-run"))
    assert again == first  # the same files: the same version, unchanged
    direct = client.call(
        ModelRegistry, NAME, "add_version", first.artifact_path, first.manifest, lineage(), idempotency_key="other"
    )
    assert direct == first

    summary = client.call(ModelRegistry, NAME, "summary")
    assert (summary.versions, summary.production, summary.latest) == (3, None, 3)
    assert [m.name for m in list_models(engine)] == [NAME]
    assert [v.version for v in client.call(ModelRegistry, NAME, "versions")] == [1, 2, 3]
    assert [client.call(ModelRegistry, NAME, "resolve", r) for r in ("latest", "v2", "1", "candidate")] == [3, 2, 1, 3]
    assert client.call(ModelRegistry, NAME, "resolved", "v2") == client.call(ModelRegistry, NAME, "show", 2)
    assert client.call(ModelRegistry, NAME, "show").version == 3  # nothing in production: the latest
    with pytest.raises(InvalidInput, match="is not a published model directory"):
        client.call(ModelRegistry, NAME, "add_version", "elsewhere/x", first.manifest, lineage(), idempotent=False)
    with pytest.raises(InvalidInput, match=f"no published model directory at .*{'0' * 64}: publish it first"):
        client.call(
            ModelRegistry, NAME, "add_version", f"model-dirs/{'0' * 64}", first.manifest, lineage(), idempotent=False
        )
    assert client.call(ModelRegistry, NAME, "summary").versions == 3


@pytest.mark.slow
def test_every_stage_gate_refuses_with_its_rule(client: GrainClient, tmp_path: Path) -> None:
    register(client, tmp_path, 0.95, 0.60, 0.90, 0.94)

    with pytest.raises(PromotionRefused, match="version 1 of dti-test is a candidate: promote it to staging first"):
        promote(client, NAME, 1, "production")
    assert to_production(client, NAME, 1, reason="first release").stage_history[-1].reason == "first release"
    for stage in ("archived", "staging", "candidate"):
        with pytest.raises(PromotionRefused, match="is in production: it leaves production only when another"):
            promote(client, NAME, 1, stage)

    promote(client, NAME, 2, "staging")
    with pytest.raises(PromotionRefused) as low:
        promote(client, NAME, 2, "production")
    assert "its validation AUROC 0.6000 is below the minimum 0.7000 (promotion_min_auroc)" in low.value.message
    assert "0.3500 below production version 1's 0.9500" in low.value.message
    assert (low.value.name, low.value.version) == (NAME, 2)

    promote(client, NAME, 3, "staging")
    with pytest.raises(PromotionRefused, match=r"0\.0500 below production version 1's 0\.9500, more than the 0\.0200"):
        promote(client, NAME, 3, "production")
    with pytest.raises(PromotionRefused, match="is in staging: it can go to production or archived, not back to"):
        promote(client, NAME, 3, "candidate")
    assert stages(client) == ["production", "staging", "staging", "candidate"]  # refusals changed nothing

    forced = promote(client, NAME, 3, "production", reason="hotfix", force=True)
    assert forced.stage == "production"
    assert forced.stage_history[-1].reason == (
        "hotfix (forced past the metric gates: on the validation pairs both were validated on, its AUROC 0.9000 "
        "is 0.0500 below production version 1's 0.9500, more than the 0.0200 allowed (promotion_max_auroc_drop))"
    )
    old = client.call(ModelRegistry, NAME, "show", 1)
    assert (old.stage, old.stage_history[-1].reason) == ("archived", "replaced in production by version 3")

    to_production(client, NAME, 4)  # 0.94 against production's 0.90: both gates pass
    assert stages(client) == ["archived", "staging", "archived", "production"]

    promote(client, NAME, 2, "archived", reason="too weak")
    with pytest.raises(PromotionRefused, match="is archived: return it to candidate first"):
        promote(client, NAME, 2, "staging")
    history = len(client.call(ModelRegistry, NAME, "show", 2).stage_history)
    assert promote(client, NAME, 2, "archived").stage == "archived"  # the stage it has: a no-op
    assert len(client.call(ModelRegistry, NAME, "show", 2).stage_history) == history
    assert promote(client, NAME, 2, "candidate").stage == "candidate"
    assert stages(client).count("production") == 1

    with pytest.raises(InvalidInput, match="'live' is not a model stage"):
        promote(client, NAME, 2, "live")
    with pytest.raises(ModelNotFound, match=r"model dti-test has no version 9 \(it has versions 1 to 4\)"):
        promote(client, NAME, 9, "staging")


@pytest.mark.slow
def test_rollback_walks_back_the_production_history(client: GrainClient, tmp_path: Path) -> None:
    register(client, tmp_path, 0.95, 0.96, 0.97)
    with pytest.raises(PromotionRefused, match="dti-test has no version in production to roll back"):
        client.call(ModelRegistry, NAME, "rollback", idempotent=False)
    for version in (1, 2, 3):
        to_production(client, NAME, version)
    assert stages(client) == ["archived", "archived", "production"]

    back = client.call(ModelRegistry, NAME, "rollback", "v3 misbehaves", idempotent=False)

    assert (back.version, back.stage) == (2, "production")
    assert back.stage_history[-1].reason == "rollback from version 3: v3 misbehaves"
    assert client.call(ModelRegistry, NAME, "show", 3).stage_history[-1].reason == (
        "rolled back to version 2: v3 misbehaves"
    )
    assert client.call(ModelRegistry, NAME, "rollback", idempotent=False).version == 1
    assert stages(client) == ["production", "archived", "archived"]
    with pytest.raises(PromotionRefused, match="version 1 is the first production version of dti-test: there is no"):
        client.call(ModelRegistry, NAME, "rollback", idempotent=False)

    promote(client, NAME, 3, "candidate")  # a rolled-back version can climb again
    to_production(client, NAME, 3)
    assert client.call(ModelRegistry, NAME, "summary").production == 3
    assert client.call(ModelRegistry, NAME, "rollback", idempotent=False).version == 1


@pytest.mark.slow
def test_unknown_name_or_version_is_not_found_and_stores_nothing(client: GrainClient, engine: Engine) -> None:
    for method, args in [
        ("show", ()),
        ("summary", ()),
        ("versions", ()),
        ("resolve", ("latest",)),
        ("promote", (1, "staging")),
        ("rollback", ()),
        ("evaluate", (1, "0" * 64)),
    ]:
        with pytest.raises(ModelNotFound, match="no model named 'never-registered' is registered"):
            client.call(ModelRegistry, "never-registered", method, *args, idempotent=False)
    assert list_states(engine, "model") == []
    assert list_models(engine) == []
    with pytest.raises(InvalidInput, match="'Bad Name' is not a model name"):
        client.call(ModelRegistry, "Bad Name", "show")


@pytest.mark.slow
def test_resolve_names_what_exists(client: GrainClient, tmp_path: Path) -> None:
    register(client, tmp_path, 0.9)
    with pytest.raises(ModelNotFound, match="model dti-test has no version in staging"):
        client.call(ModelRegistry, NAME, "resolve", "staging")
    with pytest.raises(ModelNotFound, match="has no version 4"):
        client.call(ModelRegistry, NAME, "resolve", "4")
    with pytest.raises(InvalidInput, match="'newest' is not a model version"):
        client.call(ModelRegistry, NAME, "resolve", "newest")
    with pytest.raises(ModelNotFound, match="model dti-test has no version in staging"):
        client.call(ModelRegistry, NAME, "resolved", "staging")


@pytest.mark.slow
def test_evaluate_on_a_registered_dataset(
    client: GrainClient, settings: Settings, artifacts: ArtifactStore, tmp_path: Path
) -> None:
    detail = register_model_dir(client, NAME, BUNDLED_DIR, lineage())
    dataset_id = register_dataset(client, SAMPLE_VAL.read_bytes(), filename="val.csv").dataset_id
    local = load_model_dir(BUNDLED_DIR)

    everything: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id)
    test_part: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, "random-1", "test")

    pairs = load_dataset_pairs(artifacts, dataset_id)
    assert pairs.labels is not None
    expected = binary_metrics(pairs.labels, local.predict(pairs), local.threshold)
    assert (everything.split_id, everything.part, everything.metrics.n) == (None, "all", 25)
    assert np.allclose(list(everything.metrics.model_dump().values()), list(expected.model_dump().values()))
    test_pairs = load_split_pairs(artifacts, dataset_id, "random-1")["test"]
    assert (test_part.split_id, test_part.part, test_part.metrics.n) == ("random-1", "test", len(test_pairs))
    assert client.call(DatasetVersion, dataset_id, "summary").splits == ["random-1"]  # made on the dataset
    assert (model_cache_dir(settings) / detail.artifact_path.rsplit("/", 1)[-1] / "weights.pt").is_file()

    again: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id)
    shown = client.call(ModelRegistry, NAME, "show", 1)
    assert [(e.split_id, e.part) for e in shown.evaluations] == [("random-1", "test"), (None, "all")]
    assert shown.evaluations[-1] == again and again.metrics.auroc == everything.metrics.auroc

    with pytest.raises(DatasetNotFound, match=f"no dataset version {'1' * 64} is registered"):
        client.call(ModelRegistry, NAME, "evaluate", 1, "1" * 64)
    with pytest.raises(InvalidInput, match="part 'test' is a part of a split: give the split too"):
        client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, None, "test")
    with pytest.raises(InvalidInput, match="'middle' is not a part to evaluate on"):
        client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, "random-1", "middle")
    with pytest.raises(InvalidInput, match="'sideways-1' is not a split id"):
        client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, "sideways-1", "test")
    with pytest.raises(InvalidInput, match="is not a dataset id"):
        client.call(ModelRegistry, NAME, "evaluate", 1, "abc")
    assert len(client.call(ModelRegistry, NAME, "show", 1).evaluations) == 2


def test_training_overlap_counts_rows_with_a_training_pair() -> None:
    def pairs(*rows: tuple[str, str]) -> PairSet:
        return PairSet(smiles=[s for s, _ in rows], proteins=[p for _, p in rows], labels=None, sha256="-")

    training = pairs(("CCO", "MKV"), ("CCN", "MKV"), ("CCO", "MAA"))
    assert training_overlap(pairs(("CCO", "MKV"), ("CCO", "MKW"), ("CCN", "MAA"), ("CCO", "MAA")), training) == 2
    assert training_overlap(pairs(("CCC", "MKV")), training) == 0


@pytest.mark.slow
def test_evaluate_defaults_to_its_own_split_and_refuses_its_training_rows(
    client: GrainClient, artifacts: ArtifactStore
) -> None:
    dataset_id = register_dataset(client, SAMPLE_VAL.read_bytes(), filename="val.csv").dataset_id
    trained = ModelLineage(
        source="run:run-own",
        run_id="run-own",
        dataset_id=dataset_id,
        split_id="random-42",
        code_version="0.1.0",
        training=DrugBANTraining(epochs=3),
    )
    register_model_dir(client, NAME, BUNDLED_DIR, trained)

    own: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id)  # no split, no part
    test_rows = load_split_pairs(artifacts, dataset_id, "random-42")["test"]
    assert (own.split_id, own.part, own.metrics.n, own.training_overlap) == ("random-42", "test", len(test_rows), 0)

    # every row holds its 20 training rows: refused, and nothing recorded
    with pytest.raises(InvalidInput, match=r"20 of the 25 rows of dataset .* are training rows of dti-test v1"):
        client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, None, "all")
    assert [(e.split_id, e.part) for e in client.call(ModelRegistry, NAME, "show", 1).evaluations] == [
        ("random-42", "test")
    ]
    allowed: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, None, "all", True)
    assert (allowed.split_id, allowed.metrics.n, allowed.training_overlap) == (None, 25, 20)

    # another split of the same rows: its test part holds rows the version trained on
    other = load_split_pairs(artifacts, dataset_id, "random-1")["test"]
    shared = training_overlap(other, load_split_pairs(artifacts, dataset_id, "random-42")["train"])
    assert shared > 0  # the data make the case: random-1's test rows are mostly random-42's training rows
    with pytest.raises(InvalidInput, match=f"{shared} of the {len(other)} rows of part test of split random-1"):
        client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id, "random-1", "test")
    shown = client.call(ModelRegistry, NAME, "show", 1).evaluations
    assert [(e.split_id, e.part, e.training_overlap) for e in shown] == [("random-42", "test", 0), (None, "all", 20)]


@pytest.mark.slow
@both_stores
def test_metrics_that_are_not_numbers_are_stored_and_read_back(client: GrainClient, tmp_path: Path) -> None:
    header, *rows = SAMPLE_VAL.read_text().splitlines()
    positives = "\n".join([header, *(r for r in rows if r.endswith(",1"))]) + "\n"
    dataset_id = register_dataset(client, positives.encode(), filename="positives.csv").dataset_id
    register_model_dir(client, NAME, BUNDLED_DIR, lineage())

    evaluation: ModelEvaluation = client.call(ModelRegistry, NAME, "evaluate", 1, dataset_id)

    assert math.isnan(evaluation.metrics.auroc) and math.isnan(evaluation.metrics.specificity)
    wait_for_new_host(
        client, "model", NAME, kill_host(client, "model", NAME)
    )  # read back from the store (JSONB has no NaN)
    (stored,) = client.call(ModelRegistry, NAME, "show", 1).evaluations
    assert math.isnan(stored.metrics.auroc) and stored.metrics.sensitivity == evaluation.metrics.sensitivity
    assert stored.model_dump(mode="json")["metrics"]["auroc"] is None


@pytest.mark.slow
def test_state_survives_killing_the_host(client: GrainClient, tmp_path: Path) -> None:
    register(client, tmp_path, 0.95, 0.96)
    to_production(client, NAME, 1)
    to_production(client, NAME, 2)
    before = [client.call(ModelRegistry, NAME, "show", v) for v in (1, 2)]

    killed = kill_host(client, "model", NAME)
    wait_for_new_host(client, "model", NAME, killed)  # the new host holds no activation: it reads the store

    assert [client.call(ModelRegistry, NAME, "show", v) for v in (1, 2)] == before
    assert client.call(ModelRegistry, NAME, "rollback", idempotent=False).version == 1  # the history survived
