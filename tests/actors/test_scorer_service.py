"""The scorer as a Ray Serve application on a real local Ray cluster: batching, multiplexing,
profiling, explanations and refusals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from repurpose.actors.model_registry import ModelRegistry, register_model_dir
from repurpose.actors.target_protein import TargetProtein
from repurpose.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.scoring import ChunkRequest, ChunkScores, CompoundProfile, PairToScore, ResolvedModel
from repurpose.errors import InvalidInput, ModelNotFound
from repurpose.explanations import Explanation
from repurpose.fast_scoring import FastScorer
from repurpose.grains import GrainClient
from repurpose.model_dir import load_model_dir
from repurpose.scorer_service import ScorerClient, deploy_scorer, stop_scorer
from repurpose.settings import Settings
from repurpose.target_profiling import aprofile_compounds
from repurpose.training_config import DrugBANTraining

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VAL = pd.read_csv(ROOT / "data" / "human" / "random" / "val.csv")


@pytest.fixture
def scorer(client: GrainClient, settings: Settings, tiny_model_dir: Path) -> Iterator[ScorerClient]:
    """The bundled model (drugban-human v1) and a second version (v2, the tiny model), and a
    scorer application of this test's own."""
    assert register_bundled_models(client, names=[BUNDLED_MODEL])
    lineage = ModelLineage(source="test", code_version="test", training=DrugBANTraining())
    register_model_dir(client, "drugban-human", tiny_model_dir, lineage)
    scorer_settings = settings.with_overrides(scorer_app=f"scorer-{uuid.uuid4().hex[:8]}", scorer_batch_wait_ms=50)
    deploy_scorer(scorer_settings)
    yield ScorerClient(scorer_settings, client)
    stop_scorer(scorer_settings)


def test_concurrent_single_predictions_are_batched_and_each_caller_gets_its_own(scorer: ScorerClient) -> None:
    pairs = [PairToScore(smiles=s, sequence=p) for s, p in zip(VAL.SMILES[:40], VAL.Protein[:40], strict=True)]

    async def run() -> list[float]:
        model = await scorer.resolve("drugban-human")
        answers = await asyncio.gather(*(scorer.predict(model, [pair]) for pair in pairs))
        return [a[0].probability for a in answers]

    got = asyncio.run(run())
    fast = FastScorer(load_model_dir(ROOT / "models" / "drugban-human").drugban)  # type: ignore[arg-type]
    expected = [fast.score(fast.target_tensors(p.sequence), [p.smiles])[0][0] for p in pairs]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    model = asyncio.run(scorer.resolve("drugban-human"))
    stats = asyncio.run(scorer.stats(model))
    assert stats.largest_predict_batch > 1 and stats.predict_batches < len(pairs)


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


def test_profile_ranks_every_registered_target(scorer: ScorerClient, client: GrainClient, engine: Engine) -> None:
    proteins = list(dict.fromkeys(VAL.Protein))[:6]
    for i, sequence in enumerate(proteins):
        client.call(TargetProtein, f"T{i}", "register", sequence, idempotent=False)
    smiles = VAL.SMILES[0]

    async def run() -> tuple[ResolvedModel, list[CompoundProfile]]:
        model = await scorer.resolve("drugban-human")
        return model, await aprofile_compounds(scorer, engine, [smiles, "CCO"], model, top=4)

    model, (first, second) = asyncio.run(run())
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
        return await scorer.explain(model, "CC(=O)Oc1ccccc1C(=O)O", VAL.Protein[0], top=5)

    explanation = asyncio.run(run())
    assert len(explanation.atoms) == 5 and len(explanation.residues) == 5
    assert {a.symbol for a in explanation.atoms} <= {"C", "O"}
    assert all(0 <= a.weight <= 1 for a in explanation.atoms)
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
