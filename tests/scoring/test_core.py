"""A scorer replica's core in-process: its lanes keep predictions out of long queues."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

import pytest

from repurpose.contracts.scoring import EvidenceRequest, PairToScore, ProfileRequest, ResolvedModel
from repurpose.data.drug_graph import featurize_drug
from repurpose.data.pairs import pairs_from_columns, read_pairs
from repurpose.model.directory import load_model_dir
from repurpose.model.evidence import TRAINING_COMPOUNDS_FILE
from repurpose.model.fast_scoring import FastScorer
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import LoadedModel, ScoringCore
from repurpose.settings import Settings
from tests.helpers import DRUG_LIKE_SMILES, REPO_ROOT, SAMPLE_TRAIN, random_protein

BUNDLED = REPO_ROOT / "models" / "drugban-human"


def core_with_bundled_model(home: Path) -> tuple[ScoringCore, ResolvedModel]:
    core = ScoringCore(Settings(home=home))
    trained = load_model_dir(BUNDLED)
    resolved = ResolvedModel(
        name="drugban-human", version=1, model_type="drugban", artifact_path="bundled", threshold=0.5
    )
    assert trained.drugban is not None
    core._models[resolved.artifact_path] = LoadedModel(resolved, trained, FastScorer(trained.drugban, core.compounds))
    return core, resolved


def test_a_prediction_does_not_queue_behind_a_cold_profile(tmp_path: Path) -> None:
    core, model = core_with_bundled_model(tmp_path)
    targets = [(f"t{i}", random_protein(900, seed=i)) for i in range(120)]  # every target's side computed

    async def scenario() -> tuple[bool, bool, int]:
        profile = asyncio.ensure_future(core.profile(ProfileRequest(model=model, smiles="CCO", targets=targets)))
        await asyncio.sleep(0.3)  # the profile holds its lane now
        running_before = not profile.done()
        scores = await core.predict(model, [PairToScore(smiles=DRUG_LIKE_SMILES, sequence=random_protein(300))])
        running_after = not profile.done()  # the prediction did not wait for the profile's turn to end
        await profile
        return running_before, running_after, len(scores)

    running_before, running_after, n = asyncio.run(scenario())

    # the order of events, not wall-clock ratios: it holds however loaded the machine is
    assert running_before, "the profile ended before the prediction was asked: nothing to queue behind"
    assert n == 1 and running_after, "the prediction was answered only after the profile"


def test_a_knn_chunk_scores_by_cached_fingerprints_as_the_model_predicts(tmp_path: Path, knn_model_dir: Path) -> None:
    core = ScoringCore(Settings(home=tmp_path))
    trained = load_model_dir(knn_model_dir)
    resolved = ResolvedModel(name="knn", version=1, model_type="knn", artifact_path="knn", threshold=trained.threshold)
    core._models[resolved.artifact_path] = LoadedModel(resolved, trained, None)
    train = read_pairs(SAMPLE_TRAIN)
    protein = train.proteins[0]
    smiles = [*dict.fromkeys(train.smiles[:20]), "C1CC"]
    request = ChunkRequest(model=resolved, target_key="t", sequence=protein.lower(), smiles=smiles)

    first = core.score_chunk_now(request)
    second = core.score_chunk_now(request)

    expected = trained.predict(pairs_from_columns(smiles[:-1], [protein] * (len(smiles) - 1)))
    assert first.scores[:-1] == expected.tolist() and first.scores[-1] is None
    assert [(f.index, f.smiles) for f in first.failures] == [(len(smiles) - 1, "C1CC")]
    assert second == first.model_copy(update={"seconds": second.seconds})
    assert core.fingerprints.misses == len(smiles)  # the second chunk parsed nothing
    assert len(core.compounds) == 0  # no DrugBAN featurisation for a knn model


def test_evidence_for_a_screens_hits_and_every_profile_row(tmp_path: Path, knn_model_dir: Path) -> None:
    core = ScoringCore(Settings(home=tmp_path))
    trained = load_model_dir(knn_model_dir)
    resolved = ResolvedModel(name="knn", version=1, model_type="knn", artifact_path="knn", threshold=trained.threshold)
    core._models[resolved.artifact_path] = LoadedModel(resolved, trained, None)
    assert trained.knn is not None
    protein, binders = max(trained.knn.binders.items(), key=lambda item: len(item[1]))
    other = next(p for p in trained.knn.binders if p != protein)
    far = "CCCCCCCCCCCCCCCC(=O)O"

    answer = core.evidence_now(EvidenceRequest(model=resolved, sequence=protein, smiles=[binders.smiles[0], far]))
    profile = core.profile_now(
        ProfileRequest(model=resolved, smiles=binders.smiles[0], targets=[("a", protein), ("b", other)])
    )

    assert answer.evidence is not None
    known, unknown = answer.evidence
    assert (known.nearest_binder_smiles, known.nearest_binder_tanimoto, known.in_domain) == (
        binders.smiles[0],
        1.0,
        True,
    )
    assert unknown.max_training_tanimoto is not None and unknown.max_training_tanimoto < 0.3 and not unknown.in_domain
    assert profile.evidence is not None and len(profile.evidence) == 2
    assert profile.evidence[0] == known  # the same compound against the same target
    assert profile.evidence[1].nearest_binder_smiles in trained.knn.binders[other].smiles
    assert profile.evidence[1].max_training_tanimoto == 1.0  # the domain does not depend on the target


def test_a_model_without_training_data_answers_no_evidence(tmp_path: Path) -> None:
    core, model = core_with_bundled_model(tmp_path)
    core._models[model.artifact_path].trained.__dict__["evidence"] = None  # an older directory

    answer = core.evidence_now(EvidenceRequest(model=model, sequence=random_protein(300), smiles=[DRUG_LIKE_SMILES]))
    profile = core.profile_now(
        ProfileRequest(model=model, smiles=DRUG_LIKE_SMILES, targets=[("t", random_protein(300))])
    )

    assert answer.evidence is None and profile.evidence is None


def test_a_damaged_evidence_file_is_logged_once_and_the_scores_still_answer(
    tmp_path: Path, knn_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = shutil.copytree(knn_model_dir, tmp_path / "knn")
    (directory / TRAINING_COMPOUNDS_FILE).write_bytes(b"not parquet")
    core = ScoringCore(Settings(home=tmp_path))
    trained = load_model_dir(directory)
    resolved = ResolvedModel(name="knn", version=1, model_type="knn", artifact_path="knn", threshold=trained.threshold)
    core._models[resolved.artifact_path] = LoadedModel(resolved, trained, None)
    train = read_pairs(SAMPLE_TRAIN)
    protein, smiles = train.proteins[0], train.smiles[0]

    with caplog.at_level(logging.WARNING, logger="repurpose.model.directory"):
        answers = [core.evidence_now(EvidenceRequest(model=resolved, sequence=protein, smiles=[smiles])) for _ in "ab"]
        profile = core.profile_now(ProfileRequest(model=resolved, smiles=smiles, targets=[("t", protein)]))

    assert [a.evidence for a in answers] == [None, None] and profile.evidence is None
    assert profile.scores == trained.predict(pairs_from_columns([smiles], [protein])).tolist()
    warnings = [r.getMessage() for r in caplog.records if r.name == "repurpose.model.directory"]
    assert len(warnings) == 1, warnings  # read (and logged) once
    assert TRAINING_COMPOUNDS_FILE in warnings[0] and "no training evidence" in warnings[0]


def test_a_profile_beyond_the_memory_budget_reads_its_targets_from_the_store(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, scorer_target_cache_mib=16)  # 14 targets' tensors
    targets = [(f"t{i}", random_protein(150 + 20 * i, seed=i)) for i in range(20)]
    trained = load_model_dir(BUNDLED)
    assert trained.drugban is not None
    resolved = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    request = ProfileRequest(model=resolved, smiles=DRUG_LIKE_SMILES, targets=targets)
    first = ScoringCore(settings)
    first.hold(resolved, trained)
    cold = asyncio.run(first.profile(request))
    assert cold.targets_computed == 20 and len(first.targets) == 14
    assert first.targets.bytes <= first.targets.budget_bytes
    fast = FastScorer(trained.drugban)
    exact = fast.profile_graph(fast.compounds.get(DRUG_LIKE_SMILES), [fast.target_tensors(s) for _, s in targets])
    assert max(abs(a - b) for a, b in zip(cold.scores, exact, strict=True)) <= 1e-6

    second = ScoringCore(settings)  # a fresh replica: every target read from the store, none computed
    second.hold(resolved, trained)
    computing = pytest.MonkeyPatch()
    computing.setattr(FastScorer, "target_tensors", lambda *_: pytest.fail("computed, not read from the store"))
    try:
        again = asyncio.run(second.profile(request))
    finally:
        computing.undo()
    assert again.scores == cold.scores


def test_a_warm_profile_reads_its_targets_from_the_replicas_slab_in_any_order(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, scorer_target_cache_mib=16)
    targets = [(f"t{i}", random_protein(120 + 30 * i, seed=100 + i)) for i in range(16)]
    trained = load_model_dir(BUNDLED)
    assert trained.drugban is not None
    resolved = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    core = ScoringCore(settings)
    core.hold(resolved, trained)
    cold = core.profile_now(ProfileRequest(model=resolved, smiles=DRUG_LIKE_SMILES, targets=targets))
    assert cold.targets_computed == 16
    shutil.rmtree(tmp_path / "artifacts" / "target-tensors")  # a warm profile reads none of the store's files
    core.targets = type(core.targets)(core.targets.budget_bytes)  # nor the memory cache
    shuffled = targets[::-1][:5] + targets[::2] + [("new", random_protein(333, seed=99))]  # gaps, repeats, a new one
    warm = core.profile_now(ProfileRequest(model=resolved, smiles=DRUG_LIKE_SMILES, targets=shuffled))
    assert warm.targets_computed == 1  # the new target only
    by_key = dict(zip([k for k, _ in targets], cold.scores, strict=True))
    again = [by_key[k] for k, _ in shuffled[:-1]]  # the same rows (summed in other batches: float32 rounding)
    assert max(abs(a - b) for a, b in zip(warm.scores[:-1], again, strict=True)) <= 1e-6
    fast = FastScorer(trained.drugban)
    exact = fast.profile_graph(fast.compounds.get(DRUG_LIKE_SMILES), [fast.target_tensors(s) for _, s in shuffled])
    assert max(abs(a - b) for a, b in zip(warm.scores, exact, strict=True)) <= 1e-6
    core.forget("b")  # the model's slab goes with it
    assert core._slabs == {}


def test_a_profile_whose_slab_cannot_be_written_scores_the_same_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    targets = [(f"t{i}", random_protein(140 + 25 * i, seed=200 + i)) for i in range(5)]
    trained = load_model_dir(BUNDLED)
    assert trained.drugban is not None
    resolved = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    request = ProfileRequest(model=resolved, smiles=DRUG_LIKE_SMILES, targets=targets)
    core = ScoringCore(Settings(home=tmp_path / "home"))
    core.hold(resolved, trained)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))  # the slab's folder does not exist
    with caplog.at_level(logging.WARNING, logger="repurpose.scoring.core"):
        profiled = core.profile_now(request)
    assert "profile slab unusable" in caplog.text
    assert profiled.targets_computed == 5
    fast = FastScorer(trained.drugban)
    exact = fast.profile_graph(fast.compounds.get(DRUG_LIKE_SMILES), [fast.target_tensors(s) for _, s in targets])
    assert max(abs(a - b) for a, b in zip(profiled.scores, exact, strict=True)) <= 1e-6
    assert core.profile_now(request).targets_computed == 0  # the second time from memory or the store


def test_a_prediction_stores_a_registered_targets_tensors_but_not_an_unregistered_sequences(tmp_path: Path) -> None:
    """Live traffic names arbitrary sequences: their tensors (1.2 MB each) stay in the replica's memory;
    a registered target's go to the store, where the next replica reads them."""
    settings = Settings(home=tmp_path)
    trained = load_model_dir(BUNDLED)
    resolved = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    core = ScoringCore(settings)
    loaded = core.hold(resolved, trained)
    registered, unregistered = random_protein(300, seed=1), random_protein(300, seed=2)
    pairs = [
        PairToScore(smiles=DRUG_LIKE_SMILES, sequence=registered, target_key="REGISTERED"),
        PairToScore(smiles=DRUG_LIKE_SMILES, sequence=unregistered),
    ]
    scores = asyncio.run(core.predict(resolved, pairs))
    assert core.tensor_store.has(loaded.cache_key, registered)
    assert not core.tensor_store.has(loaded.cache_key, unregistered)
    assert len(core.targets) == 2  # both kept in memory
    assert scores == asyncio.run(core.predict(resolved, pairs))  # the second time from memory: the same


def test_a_compound_predicted_again_skips_the_gcn_but_a_one_target_chunk_keeps_nothing(tmp_path: Path) -> None:
    core = ScoringCore(Settings(home=tmp_path, scorer_compound_state_mib=16))
    trained = load_model_dir(BUNDLED)
    resolved = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    core.hold(resolved, trained)
    protein = random_protein(400, seed=3)
    chunk = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]
    graphs = [featurize_drug(s) for s in chunk]  # as the screening runner sends them
    request = ChunkRequest(model=resolved, target_key="T", sequence=protein, smiles=chunk, graphs=graphs)
    screened = core.score_chunk_now(request)
    assert core.stats().compound_state_misses == 0  # one target: the chunk's states are not kept

    pairs = [PairToScore(smiles=s, sequence=protein) for s in [DRUG_LIKE_SMILES, *chunk]]
    first = core.predict_now(resolved, pairs)
    again = core.predict_now(resolved, pairs[::-1])[::-1]
    stats = core.stats()

    assert (stats.compound_state_misses, stats.compound_state_hits) == (4, 4)
    assert 0 < stats.compound_state_bytes <= 16 * 2**20
    assert [s.probability for s in again] == pytest.approx([s.probability for s in first], abs=1e-6)
    assert [s.probability for s in first[1:]] == pytest.approx(screened.scores, abs=1e-6)
    core.forget(resolved.artifact_path)  # its counts stay in the figures (counters never go down)
    assert (core.stats().compound_state_misses, core.stats().compound_state_hits) == (4, 4)
