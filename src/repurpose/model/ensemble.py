"""The ensemble model: its members' scores combined by a logistic stack fitted on validation.

An ensemble directory holds its members as ordinary model directories under ``members/<type>/``,
each trained on the same training pairs, and in its manifest the stack (``EnsembleStack``): per
member a feature of its score and a weight. A pair's probability is

    sigmoid(intercept + sum over members of weight * feature(score))

where the feature is the logit of a member that outputs probabilities (DrugBAN, rf, xgb; clipped
to [1e-6, 1 - 1e-6]) and the raw score of knn (a Tanimoto similarity, not a probability: a score
of 0 has no logit). A pair's probability depends on that pair's member scores alone, so the
ensemble is exact wherever its members are: a screen scores each chunk by every member's fast
path and combines. (A rank average would depend on the whole library: no chunk could be scored
on its own.) A compound any member cannot score gets no score.

The stack is fitted on the members' scores of the validation pairs, the same pairs that chose
the members' own settings (knn's aggregate, XGBoost's rounds, DrugBAN's best epoch): its
validation metrics are a little optimistic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repurpose.contracts.manifest import EnsembleStack, Feature, StackMember, member_feature, member_path
from repurpose.contracts.training import MemberType

LOGIT_CLIP = 1e-6


def combine(stack: EnsembleStack, scores: Sequence[np.ndarray]) -> np.ndarray:
    """Probabilities from each member's scores of the same pairs (NaN where any member's is)."""
    if len(scores) != len(stack.members):
        raise ValueError(f"{len(scores)} members' scores for a stack of {len(stack.members)}")
    from scipy.special import expit  # imported by the calls that use it: a model load need not pay for SciPy

    logits = np.full(len(scores[0]), stack.intercept, dtype=np.float64)
    for member, values in zip(stack.members, scores, strict=True):
        logits += member.weight * feature_values(member.feature, values)
    return np.asarray(expit(logits), dtype=np.float64)


def feature_values(feature: Feature, scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if feature == "score":
        return values
    clipped = np.clip(values, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))


def fit_stack(member_types: Sequence[MemberType], scores: Sequence[np.ndarray], labels: np.ndarray) -> EnsembleStack:
    """A logistic regression (L2, C = 1) on the members' standardised features of the validation
    pairs; the standardisation is folded into the weights, which apply to the raw features (a
    Tanimoto in [0, 1] and a logit over tens are penalised alike)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    features = [member_feature(t) for t in member_types]
    x = np.column_stack([feature_values(f, s) for f, s in zip(features, scores, strict=True)])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature: its weight stays 0 whatever the scale
    regression = LogisticRegression(C=1.0, max_iter=1000)
    regression.fit((x - mean) / scale, labels)
    weights = regression.coef_[0] / scale
    intercept = float(regression.intercept_[0] - np.dot(weights, mean))
    return EnsembleStack(
        members=[
            StackMember(
                model_type=t,
                path=member_path(t),
                feature=f,
                weight=float(w),
                val_auroc=float(roc_auc_score(labels, s)),
            )
            for t, f, w, s in zip(member_types, features, weights, scores, strict=True)
        ],
        intercept=intercept,
    )
