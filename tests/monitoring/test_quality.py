"""Live quality's figures on a small set worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from repurpose.monitoring.quality import live_quality, reliability_bins

LABELS = np.array([0, 0, 1, 1, 1, 0])
SCORES = np.array([0.0, 0.4, 0.35, 0.8, 1.0, 0.45])


def test_auroc_brier_and_drop_on_a_known_set() -> None:
    quality = live_quality(model="m", version=2, labels=LABELS, scores=SCORES, threshold=0.5, reference_auroc=0.9)
    # positives 0.35, 0.8, 1.0 against negatives 0.0, 0.4, 0.45: 1 + 3 + 3 of 9 pairs ranked right
    assert quality.auroc == pytest.approx(7 / 9)
    # (0 + 0.16 + 0.4225 + 0.04 + 0 + 0.2025) / 6
    assert quality.brier == pytest.approx(0.1375)
    assert quality.auroc_drop == pytest.approx(0.9 - 7 / 9)
    assert (quality.outcomes, quality.positives, quality.reference_auroc) == (6, 3, 0.9)


def test_reliability_bins_are_ten_equal_widths_with_one_in_the_last() -> None:
    bins = reliability_bins(LABELS, SCORES)
    assert [(b.lower, b.upper) for b in bins][:2] == [(0.0, 0.1), (0.1, 0.2)] and len(bins) == 10
    assert [b.count for b in bins] == [1, 0, 0, 1, 2, 0, 0, 0, 1, 1]
    assert bins[4].mean_predicted == pytest.approx(0.425) and bins[4].observed_rate == 0.0
    assert (bins[3].observed_rate, bins[8].observed_rate, bins[9].observed_rate) == (1.0, 1.0, 1.0)
    assert bins[1].mean_predicted is None and bins[1].observed_rate is None


def test_one_class_has_no_auroc_and_no_drop() -> None:
    quality = live_quality(
        model="m", version=1, labels=np.array([1, 1]), scores=np.array([0.2, 0.9]), threshold=0.5, reference_auroc=0.8
    )
    assert quality.auroc is None and quality.auroc_drop is None
    assert quality.brier == pytest.approx((0.64 + 0.01) / 2)
    nan_reference = live_quality(
        model="m", version=1, labels=LABELS, scores=SCORES, threshold=0.5, reference_auroc=float("nan")
    )
    assert nan_reference.reference_auroc is None and nan_reference.auroc_drop is None
