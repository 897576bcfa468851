"""From pair files to a model directory, and back to numbers: train, evaluate, predict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.manifest import Manifest, member_path
from repurpose.contracts.targets import normalize_protein
from repurpose.contracts.training import (
    DrugBANTraining,
    EnsembleTraining,
    EpochRecord,
    ForestTraining,
    KnnTraining,
    TrainingConfig,
    XGBTraining,
)
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.pairs import PairSet, pairs_from_columns, read_pairs
from repurpose.errors import InvalidInput
from repurpose.evaluation.classification_metrics import binary_metrics, choose_threshold
from repurpose.model.baselines import fit_baseline, predict_baseline
from repurpose.model.card import render_model_card
from repurpose.model.devices import Compute
from repurpose.model.directory import TrainedModel, load_model_dir, save_model_dir, utc_now
from repurpose.model.ensemble import combine, fit_stack
from repurpose.model.evidence import record_training_evidence
from repurpose.model.similarity import fit_knn, parse_candidate
from repurpose.training.loop import Progress, train_drugban

CHECKPOINT_DIR = "checkpoints"


def train_model(
    train_path: Path,
    val_path: Path,
    out: Path,
    config: TrainingConfig,
    *,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> Manifest:
    """Train on ``train_path``, select and pick the threshold on ``val_path``, write ``out``."""
    train, val = read_pairs(train_path), read_pairs(val_path)
    return train_on_pairs(
        train,
        val,
        out,
        config,
        resume=resume,
        on_progress=on_progress,
        on_epoch=on_epoch,
        train_source=str(train_path),
        val_source=str(val_path),
    )


def train_on_pairs(
    train: PairSet,
    val: PairSet,
    out: Path,
    config: TrainingConfig,
    *,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    train_source: str = "training pairs",
    val_source: str = "validation pairs",
    checkpoint_dir: Path | None = None,
    evidence: bool = True,
    compute: Compute | None = None,
) -> Manifest:
    """``train_model`` on pairs in memory (e.g. a stored dataset version's split); DrugBAN's
    checkpoints go to ``checkpoint_dir`` (default ``out/checkpoints``; an ensemble's DrugBAN
    member's to the ensemble's). The sources name the pairs in error messages. ``evidence``: write
    the training evidence files (``model.evidence``) into ``out``. ``compute``: where DrugBAN (or
    an ensemble's DrugBAN member) trains and how (``model.devices``; default the CPU, float32)."""
    if train.labels is None or val.labels is None:
        raise InvalidInput(f"{train_source if train.labels is None else val_source}: training needs labelled pairs")
    _require_trainable(train_source, train.labels, minimum=2)
    _require_trainable(val_source, val.labels, minimum=2)
    if evidence:  # every type: the evidence beside its hits (training_evidence); an ensemble's, not each member's
        record_training_evidence(out, train)
    name = out.name
    if isinstance(config, EnsembleTraining):
        return _train_ensemble(
            train,
            val,
            out,
            config,
            resume=resume,
            on_progress=on_progress,
            on_epoch=on_epoch,
            sources=(train_source, val_source),
            compute=compute,
        )
    if isinstance(config, DrugBANTraining):
        result = train_drugban(
            train,
            val,
            config,
            checkpoint_dir or out / CHECKPOINT_DIR,
            resume=resume,
            on_progress=on_progress,
            on_epoch=on_epoch,
            compute=compute,
        )
        threshold = choose_threshold(val.labels, result.val_probabilities)
        manifest = _manifest(config, train, val, binary_metrics(val.labels, result.val_probabilities, threshold))
        manifest.best_epoch = result.best_epoch
        card = render_model_card(name, manifest, drugban=result.model, history=result.history)
        save_model_dir(out, manifest=manifest, card=card, drugban=result.model, history=result.history)
        return manifest
    if isinstance(config, KnnTraining):  # nothing to fit: the training binders, the aggregate chosen on val
        index, knn_settings, val_scores = fit_knn(train, val, [parse_candidate(a) for a in config.aggregates])
        threshold = knn_threshold(val.labels, val_scores)
        manifest = _manifest(config, train, val, binary_metrics(val.labels, val_scores, threshold))
        manifest.knn = knn_settings
        save_model_dir(out, manifest=manifest, card=render_model_card(name, manifest), knn=index)
        return manifest
    assert isinstance(config, ForestTraining | XGBTraining)
    estimator = fit_baseline(config, train, val)
    probabilities = predict_baseline(estimator, val)
    threshold = choose_threshold(val.labels, probabilities)
    manifest = _manifest(config, train, val, binary_metrics(val.labels, probabilities, threshold))
    save_model_dir(out, manifest=manifest, card=render_model_card(name, manifest), estimator=estimator)
    return manifest


def _train_ensemble(
    train: PairSet,
    val: PairSet,
    out: Path,
    config: EnsembleTraining,
    *,
    resume: bool,
    on_progress: Callable[[Progress], None] | None,
    on_epoch: Callable[[EpochRecord], None] | None,
    sources: tuple[str, str],
    compute: Compute | None,
) -> Manifest:
    """Each member into ``out/members/<type>`` on the training pairs, then the stack on the
    members' validation scores (as their saved directories compute them)."""
    assert val.labels is not None
    scores = []
    for member in config.members:
        member_out = out / member_path(member.model_type)
        train_on_pairs(
            train,
            val,
            member_out,
            member,
            resume=resume,
            on_progress=on_progress,
            on_epoch=on_epoch,
            train_source=sources[0],
            val_source=sources[1],
            checkpoint_dir=out / CHECKPOINT_DIR,
            evidence=False,
            compute=compute,
        )
        where = compute or Compute()
        scores.append(load_model_dir(member_out, device=where.device, precision=where.precision).predict(val))
    stack = fit_stack(config.member_types, scores, val.labels)
    probabilities = combine(stack, scores)
    threshold = choose_threshold(val.labels, probabilities)
    manifest = _manifest(config, train, val, binary_metrics(val.labels, probabilities, threshold))
    manifest.ensemble = stack
    save_model_dir(out, manifest=manifest, card=render_model_card(out.name, manifest))
    return manifest


def knn_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The F1 maximum among cuts above 0: a compound that shares no bit with any binder of the
    protein (or a protein with no binder) never interacts. If no validation pair scores above 0
    there is no such cut to measure (every metric at it would be undefined, NaN), so the plain
    F1 maximum stands."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    above = thresholds > 0
    if not above.any():
        return choose_threshold(labels, scores)
    return float(thresholds[above][int(np.argmax(f1[above]))])


def _require_trainable(path: Path | str, labels: np.ndarray, *, minimum: int) -> None:
    """Refuse files that would train or select nothing: BatchNorm needs two rows, AUROC two classes."""
    if len(labels) < minimum:
        raise InvalidInput(f"{path}: {len(labels)} labelled pair(s); training needs at least {minimum}")
    classes = set(np.unique(labels).tolist())
    if classes != {0, 1}:
        only = "positive" if classes == {1} else "negative"
        raise InvalidInput(f"{path}: every pair is {only}; training and model selection need both labels (0 and 1)")


def evaluate_model(model_dir: Path, data_path: Path) -> BinaryMetrics:
    """Metrics of a model directory on a labelled pair file, at the model's stored threshold."""
    model = load_model_dir(model_dir)
    pairs = read_pairs(data_path)
    assert pairs.labels is not None
    return binary_metrics(pairs.labels, model.predict(pairs), model.threshold)


def predict_pair(model: TrainedModel, smiles: str, protein: str) -> float:
    parse_smiles(smiles)  # the specific error for a bad compound or protein, not a table row
    normalize_protein(protein)
    pairs = pairs_from_columns([smiles], [protein], source="input")
    return float(model.predict(pairs)[0])


def _manifest(config: TrainingConfig, train: PairSet, val: PairSet, metrics: BinaryMetrics) -> Manifest:
    return Manifest(
        model_type=config.model_type,
        threshold=metrics.threshold,
        training=config,
        train_data_sha256=train.sha256,
        val_data_sha256=val.sha256,
        train_pairs=len(train),
        val_pairs=len(val),
        val_metrics=metrics,
        created_at=utc_now(),
    )
