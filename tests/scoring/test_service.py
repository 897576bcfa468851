"""The scorer as a Ray Serve application on a real local Ray cluster: batching, multiplexing,
profiling, explanations and refusals."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repurpose.actors.model_registry import ModelRegistry, register_model_dir
from repurpose.actors.target_protein import TargetProtein, registered_targets
from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.monitoring import MonitorReport
from repurpose.contracts.scoring import ChunkScores, CompoundProfile, Explanation, PairToScore, ResolvedModel
from repurpose.contracts.training import DrugBANTraining
from repurpose.errors import InvalidInput, ModelNotFound, ScreenNotFound
from repurpose.grains import GrainClient
from repurpose.model.directory import load_model_dir
from repurpose.model.explanations import explain_pair
from repurpose.model.fast_scoring import FastScorer
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.monitor_sink import MONITOR
from repurpose.scoring.profiling import aprofile_compounds
from repurpose.scoring.service import ScorerClient, deploy_scorer, stop_scorer
from repurpose.scoring.target_store import TargetTensorStore
from repurpose.services.context import Context
from repurpose.services.targets import register_target
from repurpose.settings import Settings
from repurpose.store import make_engine, upgrade
from tests.helpers import NAMESPACE, REPO_ROOT, random_protein, wait_until

pytestmark = pytest.mark.slow

ROOT = REPO_ROOT
VAL = pd.read_csv(ROOT / "data" / "human" / "random" / "val.csv")
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def grains(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrainClient]:
    """One grain pool and store for the module: its tests read the same two model versions (and one
    registers targets no other test reads)."""
    home = tmp_path_factory.mktemp("scorer-service")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'store.db'}",
        ray_namespace=NAMESPACE,
        grain_pool=f"pool-{uuid.uuid4().hex[:8]}",
        grain_hosts=1,
        grain_restart_timeout_seconds=60,
    )
    upgrade(settings.database_url)
    client = GrainClient(settings)
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture(scope="module")
def scorer(grains: GrainClient, tiny_model_dir: Path) -> Iterator[ScorerClient]:
    """The bundled model (drugban-human v1) and a second version (v2, the tiny model), and a scorer
    application of the module's own (deploying one takes a while: once for every test here)."""
    assert register_bundled_models(grains, names=[BUNDLED_MODEL])
    lineage = ModelLineage(source="test", code_version="test", training=DrugBANTraining())
    register_model_dir(grains, "drugban-human", tiny_model_dir, lineage)
    scorer_settings = grains.settings.with_overrides(
        scorer_app=f"scorer-{uuid.uuid4().hex[:8]}", scorer_batch_wait_ms=50, monitor_flush_seconds=1.0
    )
    deploy_scorer(scorer_settings)
    try:
        yield ScorerClient(scorer_settings, grains)
    finally:
        stop_scorer(scorer_settings)


def test_concurrent_single_predictions_are_batched_and_each_caller_gets_its_own(scorer: ScorerClient) -> None:
    pairs = [PairToScore(smiles=s, sequence=p) for s, p in zip(VAL.SMILES[:40], VAL.Protein[:40], strict=True)]

    async def run() -> list[float]:
        model = await scorer.resolve("drugban-human")
        answers = await asyncio.gather(*(scorer.predict(model, [pair]) for pair in pairs))
        return [a[0].probability for a in answers]

    model = asyncio.run(scorer.resolve("drugban-human"))
    before = asyncio.run(scorer.stats(model)).predict_batches  # the module's other tests share the replica
    got = asyncio.run(run())
    fast = FastScorer(load_model_dir(ROOT / "models" / "drugban-human").drugban)  # type: ignore[arg-type]
    expected = [fast.score(fast.target_tensors(p.sequence), [p.smiles])[0][0] for p in pairs]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    stats = asyncio.run(scorer.stats(model))
    assert stats.largest_predict_batch > 1 and stats.predict_batches - before < len(pairs)


def test_a_lone_single_prediction_is_a_batch_of_one_scored_as_in_a_batch(scorer: ScorerClient) -> None:
    pairs = [PairToScore(smiles=s, sequence=p) for s, p in zip(VAL.SMILES[40:44], VAL.Protein[40:44], strict=True)]
    model = asyncio.run(scorer.resolve("drugban-human"))
    before = asyncio.run(scorer.stats(model))
    alone = [asyncio.run(scorer.predict(model, [pair]))[0].probability for pair in pairs]  # one after another
    after = asyncio.run(scorer.stats(model))
    assert after.predict_batches - before.predict_batches == len(pairs)
    assert after.predict_batch_sizes.get(1, 0) - before.predict_batch_sizes.get(1, 0) == len(pairs)
    together = [score.probability for score in asyncio.run(scorer.predict(model, pairs))]
    np.testing.assert_allclose(alone, together, atol=1e-6)


def test_two_model_versions_are_served_side_by_side(scorer: ScorerClient, tiny_model_dir: Path) -> None:
    smiles, sequence = VAL.SMILES[0], VAL.Protein[0]

    async def run() -> tuple[float, float, float]:
        v1 = await scorer.resolve("drugban-human")  # production
        v2 = await scorer.resolve("drugban-human@2")
        a, b, again = await asyncio.gather(
            scorer.predict(v1, [PairToScore(smiles=smiles, sequence=sequence)]),
            scorer.predict(v2, [PairToScore(smiles=smiles, sequence=sequence)]),
            scorer.predict(v1, [PairToScore(smiles=smiles, sequence=sequence)]),
        )
        return a[0].probability, b[0].probability, again[0].probability

    first, second, again = asyncio.run(run())
    tiny = FastScorer(load_model_dir(tiny_model_dir).drugban)  # type: ignore[arg-type]
    assert first == pytest.approx(again, abs=1e-7)
    assert second == pytest.approx(tiny.score(tiny.target_tensors(sequence), [smiles])[0][0], abs=1e-6)
    assert abs(first - second) > 1e-3  # really two models


def test_a_chunk_reports_bad_compounds_and_scores_the_rest(scorer: ScorerClient) -> None:
    async def run() -> ChunkScores:
        model = await scorer.resolve("drugban-human")
        smiles = [*VAL.SMILES[:5], "C1CC", "not a molecule"]
        return await scorer.score_chunk(
            ChunkRequest(model=model, target_key="T", sequence=VAL.Protein[0], smiles=smiles)
        )

    chunk = asyncio.run(run())
    assert [f.index for f in chunk.failures] == [5, 6]
    assert all(s is not None for s in chunk.scores[:5]) and chunk.scores[5:] == [None, None]


def test_the_replica_feeds_the_models_monitor_with_every_pair_of_a_screening_job(
    scorer: ScorerClient, grains: GrainClient
) -> None:
    job = "scr-0000000000aa"
    smiles = [*VAL.SMILES[:9], "C1CC"]  # nine scored, one RDKit refuses

    async def run() -> None:
        model = await scorer.resolve("drugban-human")
        for sequence in VAL.Protein[:2]:
            chunk = ChunkRequest(model=model, target_key="T", sequence=sequence, smiles=smiles, job_id=job)
            await scorer.score_chunk(chunk)

    asyncio.run(run())
    deadline = time.monotonic() + 180  # the replica's monitor worker starts on first use: slow on a busy machine
    while True:
        try:
            report: MonitorReport = grains.call(MONITOR, "drugban-human", "report", f"job:{job}")
        except ScreenNotFound:  # not flushed yet
            assert time.monotonic() < deadline, "the replica never flushed the job's pairs to the monitor"
            time.sleep(0.5)
            continue
        if report.pairs == 18 or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert report.pairs == 18 and report.model == "drugban-human"


def test_profile_ranks_every_registered_target(scorer: ScorerClient, grains: GrainClient) -> None:
    proteins = list(dict.fromkeys(VAL.Protein))[:6]
    for i, sequence in enumerate(proteins):  # the only targets of the module's store
        grains.call(TargetProtein, f"T{i}", "register", sequence, idempotent=False)
    smiles = VAL.SMILES[0]
    engine = make_engine(grains.settings.database_url)

    async def run() -> tuple[ResolvedModel, list[CompoundProfile]]:
        model = await scorer.resolve("drugban-human")
        targets = await asyncio.to_thread(registered_targets, engine)
        return model, await aprofile_compounds(scorer, targets, [smiles, "CCO"], model, top=4)

    try:
        model, (first, second) = asyncio.run(run())
    finally:
        engine.dispose()
    assert first.targets == 6 and len(first.hits) == 4 and first.model == "drugban-human@1"
    probabilities = [h.probability for h in first.hits]
    assert probabilities == sorted(probabilities, reverse=True)
    fast = FastScorer(load_model_dir(ROOT / "models" / "drugban-human").drugban)  # type: ignore[arg-type]
    best = first.hits[0]
    expected = fast.score(fast.target_tensors(proteins[int(best.target_id[1:])]), [smiles])[0][0]
    assert best.probability == pytest.approx(expected, abs=1e-6)
    assert best.interacts == (best.probability >= model.threshold)
    assert second.smiles == "CCO"


def test_explanations_and_refusals(scorer: ScorerClient) -> None:
    async def run() -> Explanation:
        model = await scorer.resolve("drugban-human")
        return await scorer.explain(model, ASPIRIN, VAL.Protein[0], top=5)

    explanation = asyncio.run(run())
    assert len(explanation.atoms) == 5 and len(explanation.residues) == 5
    assert {a.symbol for a in explanation.atoms} <= {"C", "O"}
    bundled = load_model_dir(ROOT / "models" / "drugban-human").drugban
    assert bundled is not None
    local = explain_pair(bundled, ASPIRIN, VAL.Protein[0], top_atoms=5, top_residues=5)  # the same forward, here
    assert [(a.index, a.symbol) for a in explanation.atoms] == [(a.index, a.symbol) for a in local.atoms]
    np.testing.assert_allclose([a.weight for a in explanation.atoms], [a.weight for a in local.atoms], atol=1e-6)
    window = explanation.residues[0]
    assert VAL.Protein[0][window.start - 1 : window.end] == window.residues and window.end - window.start == 15

    async def bad(smiles: str, sequence: str, reference: str = "drugban-human") -> None:
        model = await scorer.resolve(reference)
        await scorer.predict(model, [PairToScore(smiles=smiles, sequence=sequence)])

    with pytest.raises(InvalidInput, match="unclosed ring"):
        asyncio.run(bad("C1CC", VAL.Protein[0]))
    with pytest.raises(InvalidInput, match="'1' at position 3"):
        asyncio.run(bad("CCO", "MK1V"))
    with pytest.raises(ModelNotFound):
        asyncio.run(bad("CCO", "MKV", "drugban-human@9"))
    with pytest.raises(ModelNotFound):
        asyncio.run(bad("CCO", "MKV", "no-such-model"))
    assert asyncio.run(scorer.grains.acall(ModelRegistry, "drugban-human", "resolve", "production")) == 1


def test_a_new_target_gets_its_tensors_in_the_background(scorer: ScorerClient, grains: GrainClient) -> None:
    """Registering a target through the service layer has the background worker compute its
    tensors for the serving DrugBAN (bundled v1, in production) into the artifact store."""
    sequence = random_protein(500, seed=21)
    context = Context.on(grains)
    try:
        registration = asyncio.run(register_target(context, target_id="BGT1", sequence=sequence))
    finally:
        context.close()
    assert registration.created
    model = asyncio.run(scorer.resolve(f"{BUNDLED_MODEL}@1"))
    store = TargetTensorStore(ArtifactStore.from_settings(grains.settings))
    wait_until(lambda: store.has(model.artifact_path, sequence), 120, "the worker stored the target's tensors")
