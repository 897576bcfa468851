"""One screening attempt's bookkeeping, without Ray: which hits get evidence, and the report."""

from __future__ import annotations

from repurpose.contracts.scoring import BinderEvidence, ChunkScores
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.screening.attempt import RunningTop, best_rows, chunk_report


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
