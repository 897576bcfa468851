"""Fingerprint baselines: Random Forest and XGBoost on Morgan bits plus protein composition.

Features per pair: a 2048-bit Morgan fingerprint (radius 2) of the drug, the protein's
amino-acid composition (20 fractions) and dipeptide composition (400 fractions).
Non-standard residue letters (B, O, U, X, Z) count towards length but no composition bin.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import pairwise, product
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from repurpose.contracts.training import ForestTraining, XGBTraining
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.pairs import PairSet

MORGAN_BITS = 2048
MORGAN_RADIUS = 2
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_AA_INDEX = {a: i for i, a in enumerate(AMINO_ACIDS)}
_DIPEPTIDE_INDEX = {a + b: i for i, (a, b) in enumerate(product(AMINO_ACIDS, repeat=2))}
FEATURES = MORGAN_BITS + len(AMINO_ACIDS) + len(_DIPEPTIDE_INDEX)

if TYPE_CHECKING:  # scikit-learn and XGBoost cost seconds of import: only a baseline's fit loads them
    from sklearn.ensemble import RandomForestClassifier
    from xgboost import XGBClassifier

Estimator: TypeAlias = "RandomForestClassifier | XGBClassifier"


def morgan_fingerprint(smiles: str) -> np.ndarray:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    bits = np.zeros(MORGAN_BITS, dtype=np.float32)
    DataStructs.ConvertToNumpyArray(generator.GetFingerprint(parse_smiles(smiles)), bits)
    return bits


def protein_composition(sequence: str) -> np.ndarray:
    """Amino-acid (20) then dipeptide (400) composition, each as fractions."""
    out = np.zeros(len(AMINO_ACIDS) + len(_DIPEPTIDE_INDEX), dtype=np.float32)
    for residue in sequence:
        if (i := _AA_INDEX.get(residue)) is not None:
            out[i] += 1
    for a, b in pairwise(sequence):
        if (j := _DIPEPTIDE_INDEX.get(a + b)) is not None:
            out[len(AMINO_ACIDS) + j] += 1
    out[: len(AMINO_ACIDS)] /= max(len(sequence), 1)
    out[len(AMINO_ACIDS) :] /= max(len(sequence) - 1, 1)
    return out


def pair_features(smiles: Sequence[str], proteins: Sequence[str]) -> np.ndarray:
    """(n, 2468) float32 features; each unique compound and protein is computed once."""
    drugs = {s: morgan_fingerprint(s) for s in dict.fromkeys(smiles)}
    targets = {p: protein_composition(p) for p in dict.fromkeys(proteins)}
    out = np.empty((len(smiles), FEATURES), dtype=np.float32)
    for i, (s, p) in enumerate(zip(smiles, proteins, strict=True)):
        out[i, :MORGAN_BITS] = drugs[s]
        out[i, MORGAN_BITS:] = targets[p]
    return out


def fit_baseline(config: ForestTraining | XGBTraining, train: PairSet, val: PairSet) -> Estimator:
    """Fit a Random Forest or XGBoost with ``config``'s parameters (the ones its manifest
    records); XGBoost stops early on validation log-loss."""
    from sklearn.ensemble import RandomForestClassifier
    from xgboost import XGBClassifier

    assert train.labels is not None and val.labels is not None
    x_train = pair_features(train.smiles, train.proteins)
    if isinstance(config, ForestTraining):
        forest = RandomForestClassifier(
            n_estimators=config.n_estimators,
            min_samples_leaf=config.min_samples_leaf,
            max_features=config.max_features,
            n_jobs=-1,
            random_state=config.seed,
        )
        forest.fit(x_train, train.labels)
        return forest
    booster = XGBClassifier(
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        max_depth=config.max_depth,
        subsample=config.subsample,
        colsample_bytree=config.colsample_bytree,
        tree_method="hist",
        n_jobs=len(os.sched_getaffinity(0)),
        random_state=config.seed,
        early_stopping_rounds=config.early_stopping_rounds,
        eval_metric="logloss",
    )
    booster.fit(x_train, train.labels, eval_set=[(pair_features(val.smiles, val.proteins), val.labels)], verbose=False)
    return booster


def predict_baseline(estimator: Estimator, pairs: PairSet) -> np.ndarray:
    return np.asarray(estimator.predict_proba(pair_features(pairs.smiles, pairs.proteins))[:, 1], dtype=np.float64)
