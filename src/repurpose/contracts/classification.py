"""A classifier's figures on labelled pairs at its decision threshold (``evaluation.classification_metrics``
computes them): what training records on validation, evaluations on datasets, and the gates compare.

Sensitivity is the true-positive rate and specificity the true-negative rate. A figure that is
undefined on the pairs given (an AUROC on pairs of one class, a precision with no predicted
positive) is NaN.
"""

from __future__ import annotations

from repurpose.contracts.base import Contract


class BinaryMetrics(Contract):
    auroc: float
    auprc: float
    accuracy: float
    sensitivity: float
    specificity: float
    precision: float
    f1: float
    threshold: float
    n: int
