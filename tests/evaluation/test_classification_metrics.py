from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from repurpose.contracts.classification import BinaryMetrics
from repurpose.evaluation.classification_metrics import binary_metrics, choose_threshold


def random_scores(seed: int, n: int = 200, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes and probabilities loosely related to them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    labels[:2] = [0, 1]
    probabilities = np.clip(0.3 * labels + rng.random(n) * 0.7, 0.0, 1.0)
    if ties:
        probabilities = np.round(probabilities, 1)
    return labels, probabilities


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
def test_binary_metrics_match_scikit_learn(seed: int, threshold: float) -> None:
    labels, probabilities = random_scores(seed, ties=seed % 2 == 1)
    predicted = (probabilities >= threshold).astype(int)

    metrics = binary_metrics(labels, probabilities, threshold)

    assert metrics.auroc == pytest.approx(roc_auc_score(labels, probabilities))
    assert metrics.auprc == pytest.approx(average_precision_score(labels, probabilities))
    assert metrics.accuracy == pytest.approx(accuracy_score(labels, predicted))
    assert metrics.sensitivity == pytest.approx(recall_score(labels, predicted))
    assert metrics.specificity == pytest.approx(recall_score(labels, predicted, pos_label=0))
    assert metrics.precision == pytest.approx(precision_score(labels, predicted))
    assert metrics.f1 == pytest.approx(f1_score(labels, predicted))
    assert metrics.threshold == threshold
    assert metrics.n == len(labels)


def test_binary_metrics_sensitivity_is_true_positive_rate() -> None:
    # 3 positives (2 found), 2 negatives (1 rejected): sensitivity 2/3, specificity 1/2
    labels = np.array([1, 1, 1, 0, 0])
    probabilities = np.array([0.9, 0.8, 0.1, 0.7, 0.2])

    metrics = binary_metrics(labels, probabilities, 0.5)

    assert metrics.sensitivity == pytest.approx(2 / 3)
    assert metrics.specificity == pytest.approx(1 / 2)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.accuracy == pytest.approx(3 / 5)


def test_binary_metrics_threshold_is_inclusive() -> None:
    metrics = binary_metrics(np.array([1, 0]), np.array([0.5, 0.4]), 0.5)

    assert metrics.sensitivity == 1.0
    assert metrics.specificity == 1.0


def test_binary_metrics_one_class_gives_nan_auroc() -> None:
    metrics = binary_metrics(np.array([1, 1, 1]), np.array([0.2, 0.6, 0.9]), 0.5)

    assert math.isnan(metrics.auroc)
    assert math.isnan(metrics.specificity)
    assert metrics.auprc == 1.0
    assert metrics.sensitivity == pytest.approx(2 / 3)


def test_binary_metrics_fields_are_the_public_keys() -> None:
    keys = ["auroc", "auprc", "accuracy", "sensitivity", "specificity", "precision", "f1", "threshold", "n"]

    assert list(BinaryMetrics.model_fields) == keys


@pytest.mark.parametrize("seed", range(8))
def test_choose_threshold_maximises_f1(seed: int) -> None:
    labels, probabilities = random_scores(seed, n=60, ties=seed % 2 == 0)

    threshold = choose_threshold(labels, probabilities)

    best = max(f1_score(labels, probabilities >= cut) for cut in np.unique(probabilities))
    assert f1_score(labels, probabilities >= threshold) == pytest.approx(best)
    assert threshold in probabilities


def test_choose_threshold_separable_scores_split_the_classes() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    probabilities = np.array([0.1, 0.2, 0.3, 0.6, 0.8])

    threshold = choose_threshold(labels, probabilities)

    assert threshold == 0.6
    assert binary_metrics(labels, probabilities, threshold).f1 == 1.0
