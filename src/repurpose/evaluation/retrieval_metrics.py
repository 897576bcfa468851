"""Retrieval metrics: do a target's known actives come out on top of a library?

A screen is judged the way a chemist reads it: the library ranked by score, the known actives
of the target marked, and the question how early they come. Per target:

- AUROC: the chance that a random active outranks a random decoy (ties count half).
- EF x %: the share of actives among the best-ranked x % of the library over their share in
  the whole library (1 is chance; the ceiling is 1 / x when there are fewer actives than slots).
- BEDROC (alpha = 20): early recognition on a 0..1 scale, where 80 % of the weight falls on
  the first 8 % of the ranking (Truchon & Bayly 2007).

EF and BEDROC come from RDKit's ``rdkit.ML.Scoring``. They need one order; where scores tie,
decoys go first, so a model that gives everything the same score earns no early enrichment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit.ML.Scoring import Scoring
from sklearn.metrics import roc_auc_score

from repurpose.contracts.retrieval import RetrievalSummary, TargetRetrieval

BEDROC_ALPHA = 20.0
EF_FRACTIONS = (0.01, 0.05)

__all__ = ["RetrievalSummary", "TargetRetrieval", "rank_order", "summarise", "target_retrieval"]


def rank_order(scores: np.ndarray, is_active: np.ndarray) -> np.ndarray:
    """Indices from best to worst score; among equal scores decoys come before actives."""
    scores = np.asarray(scores, dtype=np.float64)
    active = np.asarray(is_active, dtype=bool)
    # lexsort sorts by the last key first: score descending, then actives last within a tie.
    return np.lexsort((active, -scores))


def target_retrieval(
    target: str, scores: Sequence[float] | np.ndarray, is_active: Sequence[bool] | np.ndarray
) -> TargetRetrieval:
    """The retrieval figures of one target's ranked library (actives and decoys together)."""
    scores = np.asarray(scores, dtype=np.float64)
    active = np.asarray(is_active, dtype=bool)
    if scores.shape != active.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and activity flags {active.shape} must be one vector each, alike")
    n_active = int(active.sum())
    if n_active == 0 or n_active == len(active):
        raise ValueError(f"{target}: retrieval needs actives and decoys, got {n_active} of {len(active)} active")
    ranked = active[rank_order(scores, active)].astype(np.int64)[:, None]  # RDKit reads row[col]
    ef1, ef5 = Scoring.CalcEnrichment(ranked, 0, list(EF_FRACTIONS))
    return TargetRetrieval(
        target=target,
        actives=n_active,
        decoys=len(active) - n_active,
        auroc=float(roc_auc_score(active, scores)),
        ef1=float(ef1),
        ef5=float(ef5),
        bedroc=float(Scoring.CalcBEDROC(ranked, 0, BEDROC_ALPHA)),
    )


def summarise(targets: Sequence[TargetRetrieval]) -> RetrievalSummary:
    if not targets:
        raise ValueError("no target to summarise")
    return RetrievalSummary(
        targets=list(targets),
        mean_auroc=float(np.mean([t.auroc for t in targets])),
        mean_ef1=float(np.mean([t.ef1 for t in targets])),
        mean_ef5=float(np.mean([t.ef5 for t in targets])),
        mean_bedroc=float(np.mean([t.bedroc for t in targets])),
    )
