"""Classification metrics (``contracts.classification.BinaryMetrics``) and the decision threshold.

Sensitivity is the true-positive rate and specificity the true-negative rate (the original
DrugBAN code swaps them). The threshold is chosen on validation data only, by the F1
maximum along the precision–recall curve, as DrugBAN does (but DrugBAN does it on test).
"""

from __future__ import annotations

import numpy as np

from repurpose.contracts.classification import BinaryMetrics


def choose_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The probability cut that maximises F1 on these (validation) pairs."""
    from sklearn.metrics import precision_recall_curve  # scikit-learn and SciPy: a second of import

    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> BinaryMetrics:
    from sklearn.metrics import average_precision_score, roc_auc_score  # a second of import: only when used

    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities >= threshold
    positive = labels == 1
    tp = int(np.sum(predicted & positive))
    tn = int(np.sum(~predicted & ~positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    both_classes = 0 < positive.sum() < len(labels)
    return BinaryMetrics(
        auroc=float(roc_auc_score(labels, probabilities)) if both_classes else float("nan"),
        auprc=float(average_precision_score(labels, probabilities)) if positive.any() else float("nan"),
        accuracy=(tp + tn) / len(labels),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        precision=_ratio(tp, tp + fp),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        threshold=float(threshold),
        n=len(labels),
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
