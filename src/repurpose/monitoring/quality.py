"""Live quality of a model version: its scores against the outcomes measured since.

AUROC comes from ``evaluation.classification_metrics`` (the figure training and evaluations
record, so the drop from the registry's AUROC compares like with like); the Brier score is the
mean squared difference of score and outcome; the reliability bins split [0, 1] into
``RELIABILITY_BINS`` equal widths (a score of 1.0 falls in the last) and give each its count, its
mean score and its observed rate of positives: a calibrated model's two figures agree.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from repurpose.contracts.feedback import RELIABILITY_BINS, LiveQuality, ReliabilityBin
from repurpose.evaluation.classification_metrics import binary_metrics


def live_quality(
    *,
    model: str,
    version: int,
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    reference_auroc: float | None,
    first_at: dt.datetime | None = None,
    last_at: dt.datetime | None = None,
) -> LiveQuality:
    """The figures of ``scores`` (probabilities) against ``labels`` (0/1); ``threshold``: the version's."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(labels)
    auroc = _finite(binary_metrics(labels, scores, threshold).auroc) if n else None
    reference = _finite(reference_auroc)
    return LiveQuality(
        model=model,
        version=version,
        outcomes=n,
        positives=int(labels.sum()),
        auroc=auroc,
        brier=float(np.mean((scores - labels) ** 2)) if n else None,
        bins=reliability_bins(labels, scores),
        reference_auroc=reference,
        auroc_drop=reference - auroc if reference is not None and auroc is not None else None,
        first_at=first_at,
        last_at=last_at,
    )


def reliability_bins(labels: np.ndarray, scores: np.ndarray, bins: int = RELIABILITY_BINS) -> list[ReliabilityBin]:
    """Per equal-width bin of the scores: count, mean score, share of positives."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    index = np.clip(np.floor(scores * bins).astype(np.int64), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        out.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                count=count,
                mean_predicted=float(scores[inside].mean()) if count else None,
                observed_rate=float(labels[inside].mean()) if count else None,
            )
        )
    return out


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
