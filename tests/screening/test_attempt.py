"""One screening attempt without Ray: which hits get evidence, the report, and the order of its work."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repurpose.contracts.scoring import (
    BinderEvidence,
    ChunkScores,
    CompoundError,
    EvidenceAnswer,
    EvidenceRequest,
    PairToScore,
    ResolvedModel,
)
from repurpose.data.drug_graph import DrugGraph
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.grains import KindRef
from repurpose.model.directory import load_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.core import ScoringCore
from repurpose.screening import attempt as attempt_module
from repurpose.screening.attempt import RunningTop, best_rows, chunk_report, execute_screening, featurise_chunk
from repurpose.screening.tasks import ChunkReport, ScreeningTask
from repurpose.settings import Settings
from tests.helpers import BUNDLED_DIR, DRUG_LIKE_SMILES, random_protein


def test_only_hits_entering_the_attempts_best_get_evidence() -> None:
    top = RunningTop(kept=3)

    assert top.admit([(-0.9, "A"), (-0.5, "B"), (-0.1, "C")]) == [0, 1, 2]
    assert top.admit([(-0.8, "D"), (-0.2, "E")]) == [0]  # D beats C; E beats nothing left
    assert top.keys == [(-0.9, "A"), (-0.8, "D"), (-0.5, "B")]
    assert top.admit([(-0.8, "C2"), (-0.8, "D0")]) == [0]  # ties go by compound id, as the job ranks them
    assert top.keys == [(-0.9, "A"), (-0.8, "C2"), (-0.8, "D")]


def test_best_rows_rank_by_score_then_id_and_can_keep_only_drug_like_ones() -> None:
    scores = [0.2, None, 0.9, 0.9, 0.5]
    ids = ["e", "d", "c", "b", "a"]
    issues = [None, None, "3 heavy atoms", None, None]

    assert best_rows(scores, ids, 3) == [3, 2, 4]
    assert best_rows(scores, ids, 3, issues) == [3, 4, 0]


def test_a_chunk_report_carries_the_flags_and_the_evidence_it_was_given() -> None:
    smiles = ["CCO", "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1", "[Na+].[Cl-]"]
    ids = ["ETHANOL", "HALOPERIDOL", "SALT"]
    scores = ChunkScores(scores=[0.69, 0.3, 0.5], seconds=0.1)
    issues = [drug_like_issue(s) for s in smiles]
    evidence = {0: BinderEvidence(nearest_binder_smiles="CCN", nearest_binder_tanimoto=0.3, in_domain=True)}

    everything = chunk_report("DRD2", 0, ids, smiles, scores, 3, issues=issues, evidence=evidence)
    drug_like = chunk_report(
        "DRD2", 0, ids, smiles, scores, 3, issues=issues, best=best_rows(scores.scores, ids, 3, issues)
    )

    assert [(h.compound_id, h.drug_like, h.drug_like_issue) for h in everything.hits] == [
        ("ETHANOL", False, "3 heavy atoms"),
        ("SALT", False, "no carbon (inorganic)"),
        ("HALOPERIDOL", True, None),
    ]
    assert everything.hits[0].nearest_binder_smiles == "CCN" and everything.hits[1].nearest_binder_smiles is None
    assert [(h.rank, h.compound_id) for h in drug_like.hits] == [(1, "HALOPERIDOL")]


def test_a_screen_of_two_targets_featurises_and_runs_the_gcn_once_per_compound(tmp_path: Path) -> None:
    """Chunk by chunk against each target in turn: RDKit and the GCN run once per compound, and each
    target's scores are what the scorer gives that target alone."""
    settings = Settings(home=tmp_path, scorer_compound_state_mib=16)
    core = ScoringCore(settings)
    model = ResolvedModel(name="drugban-human", version=1, model_type="drugban", artifact_path="b", threshold=0.5)
    core.hold(model, load_model_dir(BUNDLED_DIR))
    smiles = [DRUG_LIKE_SMILES, "CCO", "C1CC", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "OC(=O)CCC(=O)O"]
    ids = [f"C{i}" for i in range(len(smiles))]
    artifacts = ArtifactStore.from_settings(settings)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"compound_id": ids, "smiles": smiles}), buffer)
    artifacts.put_bytes("libraries/test.parquet", buffer.getvalue())
    sequences = {"T1": random_protein(300, seed=1), "T2": random_protein(500, seed=2)}
    task = ScreeningTask(
        job_kind=KindRef("screening_job", "repurpose.actors.screening_job"),
        job_id="job",
        attempt=1,
        compounds_path="libraries/test.parquet",
        compounds=len(smiles),
        targets=["T1", "T2"],
        sequences=sequences,
        model=model,
        chunk_size=3,
        kept_top=10,
        settings=settings,
    )
    reports: list[ChunkReport] = []

    async def report(chunk: ChunkReport) -> bool:
        reports.append(chunk)
        return True

    featurised: list[str] = []

    def counted(piece: Sequence[str]) -> tuple[list[DrugGraph | None], list[CompoundError]]:
        featurised.extend(piece)
        return featurise_chunk(piece)

    asked: list[tuple[str, str, bool]] = []  # (target, first compound, reuse_states) as the scorer was asked

    class Recorded:  # the real core, its requests written down
        async def score_chunk(self, request: ChunkRequest) -> ChunkScores:
            if request.smiles:
                asked.append((request.target_key, request.smiles[0], request.reuse_states))
            return await core.score_chunk(request)

        async def evidence(self, request: EvidenceRequest) -> EvidenceAnswer:
            return await core.evidence(request)

    with pytest.MonkeyPatch.context() as patch:  # to count RDKit's calls, not to replace them
        patch.setattr(attempt_module, "featurise_chunk", counted)
        outcome = asyncio.run(execute_screening(task, Recorded(), report))

    stats = core.stats()
    assert outcome.rows == 2 * (len(smiles) - 1) and not outcome.stopped  # C1CC: no molecule, no row
    assert sorted(featurised) == sorted(smiles)  # once each, for both targets
    assert sorted((r.chunk, r.target_id) for r in reports) == [(c, t) for c in range(3) for t in ("T1", "T2")]
    firsts = [smiles[0], smiles[0], smiles[3], smiles[3], smiles[6], smiles[6]]
    # chunk by chunk, each against both targets, the scorer keeping its states from one to the next
    assert asked == [(t, first, True) for first, t in zip(firsts, ["T1", "T2"] * 3, strict=True)]
    assert (stats.compound_state_misses, stats.compound_state_hits) == (6, 6)  # C1CC is no molecule
    fresh = ScoringCore(settings.with_overrides(scorer_compound_state_mib=0))  # nothing kept: scored anew
    fresh.hold(model, load_model_dir(BUNDLED_DIR))
    for target, sequence in sequences.items():
        alone = fresh.predict_now(model, [PairToScore(smiles=s, sequence=sequence) for s in smiles if s != "C1CC"])
        hits = {h.compound_id: h.score for r in reports if r.target_id == target for h in r.hits}
        expected = dict(zip([i for i, s in zip(ids, smiles, strict=True) if s != "C1CC"], alone, strict=True))
        assert hits == pytest.approx({i: p.probability for i, p in expected.items()}, abs=1e-6)

    asked.clear()  # a scorer with no room for a chunk's states is not asked to keep them
    no_room = task.model_copy(update={"job_id": "job-2", "settings": fresh.settings})
    assert not asyncio.run(execute_screening(no_room, Recorded(), report)).stopped
    assert len(asked) == 6 and not any(reuse for _, _, reuse in asked)
