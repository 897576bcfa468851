"""Retrieval metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repurpose.evaluation.retrieval_metrics import rank_order, summarise, target_retrieval


def _library(active_ranks: list[int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores size..1 (rank 1 best) with actives at the given 1-based ranks."""
    scores = np.arange(size, 0, -1, dtype=np.float64)
    active = np.zeros(size, dtype=bool)
    active[[r - 1 for r in active_ranks]] = True
    return scores, active


def _bedroc_by_hand(active_ranks: list[int], size: int, alpha: float = 20.0) -> float:
    """Truchon & Bayly (2007), eq. 36 with the RIE of eq. 18, written out term by term."""
    n, ra = len(active_ranks), len(active_ranks) / size
    rie = sum(math.exp(-alpha * r / size) for r in active_ranks) / (
        (n / size) * (1 - math.exp(-alpha)) / (math.exp(alpha / size) - 1)
    )
    return rie * ra * math.sinh(alpha / 2) / (math.cosh(alpha / 2) - math.cosh(alpha / 2 - alpha * ra)) + 1 / (
        1 - math.exp(alpha * (1 - ra))
    )


def test_two_actives_among_a_hundred() -> None:
    scores, active = _library([1, 10], 100)
    result = target_retrieval("T", scores, active)
    # the first active beats all 98 decoys, the second the 90 below rank 10
    assert result.auroc == pytest.approx((98 + 90) / (2 * 98))
    assert result.ef1 == pytest.approx((1 / 1) / (2 / 100))  # top 1: one active of one
    assert result.ef5 == pytest.approx((1 / 5) / (2 / 100))  # top 5: one active of five
    assert result.bedroc == pytest.approx(_bedroc_by_hand([1, 10], 100), abs=1e-9)
    assert (result.actives, result.decoys) == (2, 98)


def test_perfect_and_worst_rankings() -> None:
    best = target_retrieval("T", *_library([1, 2, 3], 300))
    worst = target_retrieval("T", *_library([298, 299, 300], 300))
    assert (best.auroc, worst.auroc) == (1.0, 0.0)
    assert best.ef1 == pytest.approx(100.0)  # 3 slots, 3 actives: 1 / 0.01
    assert worst.ef1 == 0.0 and worst.ef5 == 0.0
    assert best.bedroc == pytest.approx(1.0, abs=1e-6)
    assert worst.bedroc == pytest.approx(0.0, abs=1e-6)


def test_ties_give_no_early_enrichment() -> None:
    flat = np.zeros(200)
    active = np.zeros(200, dtype=bool)
    active[:4] = True
    result = target_retrieval("T", flat, active)
    assert result.auroc == 0.5
    assert result.ef1 == 0.0  # decoys first among equal scores
    assert list(rank_order(np.array([1.0, 1.0, 2.0]), np.array([True, False, False]))) == [2, 1, 0]


def test_means_count_each_target_once() -> None:
    a = target_retrieval("A", *_library([1], 100))
    b = target_retrieval("B", *_library([100], 100))
    summary = summarise([a, b])
    assert summary.mean_auroc == pytest.approx(0.5)
    assert summary.mean_ef1 == pytest.approx((100.0 + 0.0) / 2)


def test_a_target_without_decoys_or_actives_is_refused() -> None:
    with pytest.raises(ValueError, match="needs actives and decoys"):
        target_retrieval("T", np.ones(5), np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="alike"):
        target_retrieval("T", np.ones(5), np.ones(4, dtype=bool))
