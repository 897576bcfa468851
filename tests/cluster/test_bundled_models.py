"""The start hooks of the bundled data and models, on a small union and small knn models.

The "union" here is the BindingDB sample (246 pairs); its models are knn directories trained on
its random-42 split as ``scripts/train_bundled_models.py`` trains the real ones, with
``retrieval.json`` files written by the test: what production by merit reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from repurpose.actors.dataset_version import DatasetVersion, list_datasets
from repurpose.actors.model_registry import ModelRegistry, list_models, register_model_dir
from repurpose.bundled_paths import CHECKOUT, bundled_data_dir, bundled_models_dir
from repurpose.cluster.bundled_data import UNION, bundled_split_ids, register_bundled_datasets
from repurpose.cluster.bundled_models import (
    BUNDLED_MODEL,
    RETRIEVAL_FILE,
    default_model_by_merit,
    register_bundled_models,
)
from repurpose.cluster.up import CONFIGURE_STEPS, START_STEPS
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.retrieval import RetrievalResult, RetrievalSummary, TargetRetrieval
from repurpose.contracts.splits import DEFAULT_SPLIT_ID
from repurpose.contracts.training import KnnTraining
from repurpose.data.datasets import build_dataset
from repurpose.data.pairs import pairs_from_columns
from repurpose.data.splits import split_rows
from repurpose.grains import GrainClient
from repurpose.scoring.service import start_scorer
from repurpose.screening.runner import start_screening_runner
from repurpose.settings import Settings
from repurpose.training.pipeline import train_on_pairs
from tests.helpers import REPO_ROOT, SAMPLE_DIR

pytestmark = pytest.mark.slow

HELDOUT_SHA = "1" * 64
DECOYS_SHA = "2" * 64


def retrieval(bedroc: float, auroc: float, heldout_sha256: str = HELDOUT_SHA) -> RetrievalResult:
    """A retrieval result with these means (one target), as the training script writes them."""
    target = TargetRetrieval(target="T1", actives=3, decoys=100, auroc=auroc, ef1=10.0, ef5=5.0, bedroc=bedroc)
    summary = RetrievalSummary(targets=[target], mean_auroc=auroc, mean_ef1=10.0, mean_ef5=5.0, mean_bedroc=bedroc)
    return RetrievalResult(
        heldout="heldout.csv",
        decoys="DrugBank compounds of compounds.csv",
        heldout_sha256=heldout_sha256,
        decoys_sha256=DECOYS_SHA,
        decoy_count=100,
        actives=3,
        summary=summary,
    )


def model_dir(source: Path, out: Path, result: RetrievalResult | None) -> Path:
    shutil.copytree(source, out)
    if result is not None:
        (out / RETRIEVAL_FILE).write_text(result.model_dump_json(indent=2))
    return out


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory, knn_model_dir: Path) -> Path:
    """``data/union/pairs.parquet`` and ``models/`` of a small checkout."""
    root = tmp_path_factory.mktemp("bundled")
    table = pd.concat([pd.read_csv(SAMPLE_DIR / f"{part}.csv") for part in ("train", "val", "test")])
    union = root / "data" / "union" / "pairs.parquet"
    union.parent.mkdir(parents=True)
    table.to_parquet(union, index=False)

    build = build_dataset(union, name=UNION)  # the union's random-42 split, as the training script makes it
    split = split_rows(build.rows, kind="random", seed=42)
    train, val = (
        pairs_from_columns(rows["smiles"].tolist(), rows["protein"].tolist(), rows["y"].to_numpy())
        for rows in (build.rows.iloc[split.train.indices], build.rows.iloc[split.val.indices])
    )
    trained = root / "trained" / "knn"
    train_on_pairs(train, val, trained, KnnTraining())

    models = root / "models"
    model_dir(trained, models / "alpha-union", retrieval(0.40, 0.90))
    model_dir(trained, models / "beta-union", retrieval(0.60, 0.80))  # the best BEDROC
    model_dir(knn_model_dir, models / "gamma-sample", retrieval(0.60, 0.70))  # as good, but a lower AUROC
    model_dir(knn_model_dir, models / "delta-sample", retrieval(0.99, 0.99, heldout_sha256="3" * 64))  # other set
    (models / "epsilon-union" / "checkpoints").mkdir(parents=True)  # still training: no manifest
    return root


@pytest.fixture
def settings(settings: Settings, bundled: Path) -> Settings:
    # the small models' validation AUROC (25 pairs) is no test of the gate
    return settings.with_overrides(
        bundled_data_dir=bundled / "data", bundled_models_dir=bundled / "models", promotion_min_auroc=0.0
    )


def test_the_steps_of_up_register_datasets_first_and_warm_the_runner_after_the_scorer() -> None:
    assert START_STEPS.index(register_bundled_datasets) < START_STEPS.index(register_bundled_models)
    assert START_STEPS.index(start_screening_runner) == START_STEPS.index(start_scorer) + 1  # warms its handle
    assert default_model_by_merit in CONFIGURE_STEPS
    defaults = Settings()
    assert (bundled_data_dir(defaults), bundled_models_dir(defaults)) == (REPO_ROOT / "data", REPO_ROOT / "models")
    assert CHECKOUT == REPO_ROOT


def test_bundled_union_and_models_register_once_the_best_retrieval_in_production(
    client: GrainClient, engine: Engine, bundled: Path
) -> None:
    (line,) = register_bundled_datasets(client)
    (union,) = list_datasets(engine)
    assert (union.name, union.splits) == (UNION, bundled_split_ids())
    assert bundled_split_ids() == ["random-42", "cold-target-42", "cold-drug-42", "scaffold-42"]
    assert line.startswith(
        f"registered the bundled dataset union ({union.counts.stored:,} pairs, {union.dataset_id[:12]}) with its "
        "splits random-42, cold-target-42, cold-drug-42, scaffold-42 in "
    )

    models = bundled / "models"
    notes = [
        f"skipped {models / 'epsilon-union'}: no manifest.json (not a finished model directory)",
        f"delta-sample's {RETRIEVAL_FILE} is on another held-out set or decoys than the others': not compared",
    ]
    assert register_bundled_models(client) == [
        notes[0],
        "registered the bundled model alpha-union v1 (staging), trained on the random-42 split of union",
        "registered the bundled model beta-union v1 (production), trained on the random-42 split of union",
        "production by merit: beta-union v1, the best retrieval of the 3 bundled models measured on that set (mean "
        "BEDROC 0.600, mean AUROC 0.800 over 1 target of heldout.csv; next gamma-sample BEDROC 0.600, AUROC 0.700); "
        "the cluster's default model stays drugban-human (setting default_model)",
        "registered the bundled model delta-sample v1 (staging)",
        "registered the bundled model gamma-sample v1 (staging)",
        notes[1],
        "the cluster's default model is beta-union (v1 in production) in place of drugban-human, which has no "
        "production version (setting default_model)",  # no drugban-human among these models
    ]
    assert client.settings.default_model == "beta-union"  # settled: cluster.json gets it
    stages = {m.name: (m.versions, m.production) for m in list_models(engine)}
    assert stages == {n: (1, None) for n in ("alpha-union", "delta-sample", "gamma-sample")} | {"beta-union": (1, 1)}

    best = client.call(ModelRegistry, "beta-union", "show", 1)
    assert (best.lineage.source, best.lineage.dataset_id, best.lineage.split_id) == (
        "bundled:beta-union",
        union.dataset_id,
        DEFAULT_SPLIT_ID,
    )
    assert best.retrieval == [retrieval(0.60, 0.80)]
    assert [(c.stage, c.reason) for c in best.stage_history] == [
        ("candidate", "registered from bundled:beta-union"),
        ("staging", "bundled model"),
        (
            "production",
            "bundled model, the best by retrieval: mean BEDROC 0.600, mean AUROC 0.800 over 1 target of heldout.csv",
        ),
    ]
    sample = client.call(ModelRegistry, "gamma-sample", "show", 1)
    assert (sample.stage, sample.lineage.dataset_id, sample.lineage.split_id) == ("staging", None, None)

    # the lineage is what `models evaluate` reads: the test part of its own split, no training row in it
    evaluation = client.call(ModelRegistry, "alpha-union", "evaluate", 1, union.dataset_id, idempotent=False)
    assert (evaluation.split_id, evaluation.part, evaluation.training_overlap) == (DEFAULT_SPLIT_ID, "test", 0)

    # a second `up`: nothing new, only the notes again; a re-evaluation on the bundled figures' set stays
    mine = retrieval(0.45, 0.91).model_copy(update={"heldout": "heldout-again.csv"})  # the same content
    assert client.call(ModelRegistry, "alpha-union", "record_retrieval", 1, mine).retrieval == [mine]
    before = [client.call(ModelRegistry, m.name, "show", 1) for m in list_models(engine)]
    splits = client.call(DatasetVersion, union.dataset_id, "splits")
    assert register_bundled_datasets(client) == []
    assert register_bundled_models(client) == notes
    assert [client.call(ModelRegistry, m.name, "show", 1) for m in list_models(engine)] == before
    assert client.call(DatasetVersion, union.dataset_id, "splits") == splits
    assert [d.dataset_id for d in list_datasets(engine)] == [union.dataset_id]

    # a default the user named among the bundled models goes to production too
    chosen = GrainClient(client.settings.with_overrides(default_model="gamma-sample"))
    assert register_bundled_models(chosen) == [
        notes[0],
        "moved the bundled model gamma-sample v1 to production",
        "gamma-sample v1 is in production too: it is the cluster's default model (setting default_model)",
        notes[1],
    ]
    assert client.call(ModelRegistry, "beta-union", "summary").production == 1


def test_a_default_left_without_a_production_version_gives_way_to_the_next_best(
    client: GrainClient, engine: Engine, bundled: Path
) -> None:
    # `up` chose beta-union by merit before registering anything; a model of the user's holds the name
    models = bundled / "models"
    mine = ModelLineage(source="run:mine", code_version="0.1.0", training=KnnTraining())
    register_model_dir(client, "beta-union", models / "gamma-sample", mine)
    merit = GrainClient(client.settings.with_overrides(default_model="beta-union"))
    lines = register_bundled_models(merit)
    assert lines[-2:] == [
        "moved the bundled model gamma-sample v1 to production",  # the next best by retrieval
        "the cluster's default model is gamma-sample (v1 in production) in place of beta-union, which has no "
        "production version (setting default_model)",
    ]
    assert merit.settings.default_model == "gamma-sample"
    assert {m.name: m.production for m in list_models(engine)} == {
        "alpha-union": None,
        "beta-union": None,  # the user's, untouched
        "delta-sample": None,
        "gamma-sample": 1,
    }
    history = client.call(ModelRegistry, "gamma-sample", "show", 1).stage_history
    (change,) = [c for c in history if c.stage == "production"]
    assert change.reason == "bundled model, the cluster's default model in place of beta-union (no production version)"
    assert not any("default model" in line for line in register_bundled_models(merit))  # settled: said once


def test_a_default_whose_promotion_fails_gives_way_or_says_none_could(client: GrainClient, engine: Engine) -> None:
    # the AUROC floor refuses every small model: beta-union (the best) and each one tried after it
    strict = GrainClient(client.settings.with_overrides(default_model="beta-union", promotion_min_auroc=0.999))
    lines = register_bundled_models(strict)
    refused = [line.split(":")[0] for line in lines if line.startswith("the bundled model ")]
    assert refused == [
        "the bundled model beta-union is not in production",
        *(
            f"the bundled model {name} cannot stand in as the default model"
            for name in ("gamma-sample", "alpha-union", "delta-sample")  # by merit, then the others
        ),
    ]
    assert lines[-1] == (
        "the cluster's default model beta-union (setting default_model) has no production version, nor has any "
        "bundled model: `screen`, `profile`, `explain` and `predict` need --model until one is promoted"
    )
    assert strict.settings.default_model == "beta-union"
    assert all(m.production is None for m in list_models(engine))


def test_the_default_model_is_the_best_by_retrieval_unless_named(settings: Settings) -> None:
    assert default_model_by_merit(settings).default_model == "beta-union"
    named = settings.with_overrides(default_model="alpha-union")
    assert default_model_by_merit(named).default_model == "alpha-union"
    nothing = settings.with_overrides(bundled_models_dir=settings.home / "none")
    assert default_model_by_merit(nothing).default_model == BUNDLED_MODEL  # the setting's own default


def test_missing_bundled_data_prints_a_line_and_union_models_register_without_lineage(
    client: GrainClient, engine: Engine, tmp_path: Path, bundled: Path
) -> None:
    elsewhere = GrainClient(client.settings.with_overrides(bundled_data_dir=tmp_path / "none"))
    assert register_bundled_datasets(elsewhere) == [
        f"no bundled dataset at {tmp_path / 'none' / 'union' / 'pairs.parquet'}: the cluster starts without the "
        "union dataset"
    ]
    assert list_datasets(engine) == []

    nowhere = GrainClient(client.settings.with_overrides(bundled_models_dir=tmp_path / "none"))
    assert register_bundled_models(nowhere) == [
        f"no bundled models at {tmp_path / 'none'}: the cluster starts without them",
        "the cluster's default model drugban-human (setting default_model) has no production version, nor has any "
        "bundled model: `screen`, `profile`, `explain` and `predict` need --model until one is promoted",
    ]
    assert list_models(engine) == []

    # no union dataset registered: its models name no training rows rather than wrong ones
    assert register_bundled_models(elsewhere, names=["alpha-union"]) == [
        "registered the bundled model alpha-union v1 (production)",
        "production by merit: alpha-union v1, the only bundled model with retrieval figures (mean BEDROC 0.400, "
        "mean AUROC 0.900 over 1 target of heldout.csv); the cluster's default model stays drugban-human "
        "(setting default_model)",
        "the cluster's default model is alpha-union (v1 in production) in place of drugban-human, which has no "
        "production version (setting default_model)",
    ]
    lineage = client.call(ModelRegistry, "alpha-union", "show", 1).lineage
    assert (lineage.dataset_id, lineage.split_id) == (None, None)


def test_the_flagship_alone_goes_to_production_once(client: GrainClient, engine: Engine) -> None:
    """What the scorer's and the gateway's tests start from: drugban-human v1 in production."""
    real = GrainClient(client.settings.with_overrides(bundled_models_dir=REPO_ROOT / "models"))
    assert register_bundled_models(real, names=[BUNDLED_MODEL])[0] == (
        "registered the bundled model drugban-human v1 (production)"
    )
    assert register_bundled_models(real, names=[BUNDLED_MODEL]) == []
    (model,) = list_models(engine)
    assert (model.name, model.versions, model.production) == (BUNDLED_MODEL, 1, 1)
    detail = client.call(ModelRegistry, BUNDLED_MODEL, "show")
    assert detail.lineage.source == "bundled:drugban-human" and detail.lineage.dataset_id is None
    assert [c.stage for c in detail.stage_history] == ["candidate", "staging", "production"]


def test_an_interrupted_start_is_finished(client: GrainClient, engine: Engine) -> None:
    directory = REPO_ROOT / "models" / BUNDLED_MODEL
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_text())
    bundled = ModelLineage(source="bundled:drugban-human", code_version="0.1.0", training=manifest.training)
    register_model_dir(client, BUNDLED_MODEL, directory, bundled)  # registered, never promoted

    real = GrainClient(client.settings.with_overrides(bundled_models_dir=REPO_ROOT / "models"))
    assert register_bundled_models(real, names=[BUNDLED_MODEL])[0] == (
        "moved the bundled model drugban-human v1 to production"
    )
    assert client.call(ModelRegistry, BUNDLED_MODEL, "summary").production == 1
    assert register_bundled_models(real, names=[BUNDLED_MODEL]) == []
