"""A trained model as a directory: weights, config, threshold, data hashes, metrics, card.

    manifest.json     type, threshold, training settings, data hashes, validation metrics
                      (``contracts.manifest.Manifest``)
    weights.pt        DrugBAN state dict (+ config.json, the architecture)
    model.joblib      Random Forest           model.json   XGBoost booster
    binders.parquet   every protein's training binders (sequence, id, SMILES, ECFP4 bytes): a knn
                      model's weights; for every type, with training_compounds.parquet (every
                      distinct training compound), the evidence beside its hits (training_evidence)
    members/<type>/   ensemble: each member's own model directory (its stack in the manifest)
    history.json      per-epoch curves (DrugBAN)
    MODEL_CARD.md     what it is, how it was trained, how well it does, where it falls short

Loading checks that every file is there and that the type is the one asked for; an ensemble
loads its members too. DrugBAN weights are saved from the CPU and loaded onto the CPU first
(``map_location``), then moved to the device asked for: a directory trained on a GPU loads anywhere.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import torch
from pydantic import ValidationError

from repurpose.contracts.manifest import FORMAT_VERSION, EnsembleStack, Manifest
from repurpose.contracts.training import EpochRecord
from repurpose.data.pairs import PairSet
from repurpose.errors import ModelDirectoryError
from repurpose.model.baselines import Estimator, predict_baseline
from repurpose.model.devices import CPU
from repurpose.model.drugban import DrugBAN, DrugBANConfig, predict_probabilities
from repurpose.model.ensemble import combine
from repurpose.model.evidence import TrainingEvidence, read_training_evidence
from repurpose.model.pair_batch import featurize_pairs
from repurpose.model.paths import CARD, MANIFEST
from repurpose.model.similarity import BINDERS_FILE, KnnIndex, NearestBinder, read_binders, write_binders
from repurpose.settings import Precision

HISTORY = "history.json"
DRUGBAN_CONFIG = "config.json"
WEIGHT_FILES: dict[str, str] = {
    "drugban": "weights.pt",
    "rf": "model.joblib",
    "xgb": "model.json",
    "knn": BINDERS_FILE,
}

logger = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A loaded model directory: score pairs with ``predict``, classify with ``threshold``."""

    path: Path
    manifest: Manifest
    drugban: DrugBAN | None = None
    estimator: Estimator | None = None
    knn: KnnIndex | None = None
    members: list[TrainedModel] = field(default_factory=list)  # an ensemble's, in its stack's order
    precision: Precision = "fp32"  # DrugBAN's forwards (model.devices); its device is its weights'

    @property
    def model_type(self) -> str:
        return self.manifest.model_type

    @functools.cached_property
    def evidence(self) -> TrainingEvidence | None:
        """Its training binders and compounds, read on first use (None: an older directory
        without them; a knn model's binders are its own). A damaged evidence file is logged once,
        naming it, and the model scores without evidence: the scores do not depend on it."""
        try:
            return read_training_evidence(self.path, self.knn.binders if self.knn is not None else None)
        except ModelDirectoryError as error:
            logger.warning("%s; its scores carry no training evidence", error.message)
            return None  # cached as well: not read (nor logged) again

    @property
    def threshold(self) -> float:
        return self.manifest.threshold

    def predict(self, pairs: PairSet) -> np.ndarray:
        """Interaction probability of every pair."""
        if self.drugban is not None:
            inputs = featurize_pairs(pairs.smiles, pairs.proteins, None)
            return predict_probabilities(self.drugban, inputs, precision=self.precision)
        if self.members:
            return combine(self.stack, [member.predict(pairs) for member in self.members])
        if self.knn is not None:
            return self.knn.score(pairs.smiles, pairs.proteins).scores
        assert self.estimator is not None
        return predict_baseline(self.estimator, pairs)

    def nearest_binders(self, pairs: PairSet) -> list[NearestBinder | None]:
        """Per pair, the most similar known binder of its protein (None: the protein has none)."""
        knn = self.knn or next((m.knn for m in self.members if m.knn is not None), None)
        if knn is None:
            raise ModelDirectoryError(f"{self.path}: a {self.model_type} model holds no known binders (knn does)")
        return knn.score(pairs.smiles, pairs.proteins).nearest

    @property
    def stack(self) -> EnsembleStack:
        """An ensemble's stack (ModelDirectoryError for any other type)."""
        if self.manifest.ensemble is None:
            raise ModelDirectoryError(f"{self.path}: a {self.model_type} model has no ensemble stack")
        return self.manifest.ensemble


def required_files(model_type: str) -> list[str]:
    """The files a model directory of ``model_type`` holds at its top (an ensemble: its members'
    directories besides, see ``model_files``)."""
    files = [MANIFEST, CARD, *([WEIGHT_FILES[model_type]] if model_type in WEIGHT_FILES else [])]
    return [*files, DRUGBAN_CONFIG, HISTORY] if model_type == "drugban" else files


def model_files(directory: Path, manifest: Manifest) -> list[str]:
    """The relative (``/``-separated) paths of the files that make up the model in ``directory``:
    its top-level files (not hidden ones, nor folders such as ``checkpoints/``) and, for an
    ensemble, its members' model files. ModelDirectoryError names a missing one."""
    missing = [f for f in required_files(manifest.model_type) if not (directory / f).is_file()]
    if missing:
        raise ModelDirectoryError(
            f"{directory}: incomplete {manifest.model_type} model directory, missing {', '.join(missing)}"
        )
    files = sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if manifest.model_type == "ensemble":
        if manifest.ensemble is None:
            raise ModelDirectoryError(
                f"{directory / MANIFEST}: an ensemble manifest needs its stack (members, weights)"
            )
        for member in manifest.ensemble.members:
            inner = directory / member.path
            member_manifest = _member_manifest(inner, member.model_type)
            files += [f"{member.path}/{name}" for name in model_files(inner, member_manifest)]
    return files


def _member_manifest(directory: Path, model_type: str) -> Manifest:
    try:
        manifest = Manifest.model_validate_json((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise ModelDirectoryError(f"{directory}: the ensemble's {model_type} member is missing") from None
    except (ValidationError, OSError, UnicodeDecodeError) as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        raise ModelDirectoryError(f"{directory / MANIFEST}: unreadable manifest: {reason}") from None
    if manifest.model_type != model_type:
        raise ModelDirectoryError(f"{directory}: holds a {manifest.model_type} model, not the {model_type} member")
    return manifest


def save_model_dir(
    out: Path,
    *,
    manifest: Manifest,
    card: str,
    drugban: DrugBAN | None = None,
    estimator: Estimator | None = None,
    history: list[EpochRecord] | None = None,
    knn: KnnIndex | None = None,
) -> Path:
    """Write a model directory; an ensemble's members are model directories written before it
    (``members/<type>/``), so for one only the card and the manifest are written here."""
    out.mkdir(parents=True, exist_ok=True)
    if manifest.model_type == "ensemble":
        assert manifest.ensemble is not None
    elif manifest.model_type == "drugban":
        assert drugban is not None
        cpu_state = {name: tensor.detach().cpu() for name, tensor in drugban.state_dict().items()}
        torch.save(cpu_state, out / WEIGHT_FILES["drugban"])  # device-independent
        (out / DRUGBAN_CONFIG).write_text(json.dumps(drugban.config.to_dict(), indent=2) + "\n")
        (out / HISTORY).write_text(json.dumps([h.model_dump() for h in history or []], indent=2) + "\n")
    elif manifest.model_type == "knn":
        assert knn is not None
        write_binders(out / WEIGHT_FILES["knn"], knn.binders)
    elif manifest.model_type == "xgb":
        assert estimator is not None
        estimator.save_model(out / WEIGHT_FILES["xgb"])
    else:
        joblib.dump(estimator, out / WEIGHT_FILES["rf"], compress=3)  # ~4x smaller for a forest, loads as fast
    (out / CARD).write_text(card)
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")  # last: marks it complete
    return out


def load_model_dir(
    path: str | Path,
    *,
    expected_type: str | None = None,
    device: torch.device = CPU,
    precision: Precision = "fp32",
) -> TrainedModel:
    """The model directory at ``path``; a DrugBAN (an ensemble's DrugBAN member) on ``device``,
    predicting in ``precision`` (``model.devices``)."""
    directory = Path(path)
    if not directory.is_dir():
        raise ModelDirectoryError(f"{directory}: no such model directory")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ModelDirectoryError(
            f"{directory}: not a model directory (no {MANIFEST}); train one with `repurpose train`"
        )
    try:
        manifest = Manifest.model_validate_json(manifest_path.read_text())
    except ValidationError as error:
        raise ModelDirectoryError(f"{manifest_path}: unreadable manifest: {error.errors()[0]['msg']}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ModelDirectoryError(
            f"{directory}: model format {manifest.format_version}, this version reads {FORMAT_VERSION}"
        )
    if expected_type is not None and manifest.model_type != expected_type:
        raise ModelDirectoryError(f"{directory}: holds a {manifest.model_type} model, not {expected_type}")
    missing = [f for f in required_files(manifest.model_type) if not (directory / f).is_file()]
    if missing:
        raise ModelDirectoryError(
            f"{directory}: incomplete {manifest.model_type} model directory, missing {', '.join(missing)}"
        )
    if manifest.model_type == "ensemble":
        return _load_ensemble(directory, manifest, device, precision)
    weights = directory / WEIGHT_FILES[manifest.model_type]
    try:
        if manifest.model_type == "drugban":
            config = DrugBANConfig.from_dict(json.loads((directory / DRUGBAN_CONFIG).read_text()))
            model = DrugBAN(config)
            model.load_state_dict(torch.load(weights, weights_only=True, map_location=CPU))
            model.to(device).eval()
            return TrainedModel(directory, manifest, drugban=model, precision=precision)
        if manifest.model_type == "knn":
            if manifest.knn is None:
                raise ModelDirectoryError(f"{manifest_path}: a knn manifest needs its knn settings (aggregate, k)")
            index = KnnIndex(read_binders(weights), manifest.knn.aggregate, manifest.knn.k)
            return TrainedModel(directory, manifest, knn=index)
        if manifest.model_type == "xgb":
            from xgboost import XGBClassifier  # seconds of import: only for an XGBoost model

            booster = XGBClassifier()
            booster.load_model(weights)
            return TrainedModel(directory, manifest, estimator=booster)
        return TrainedModel(directory, manifest, estimator=joblib.load(weights))
    except (RuntimeError, ValueError, OSError, EOFError, KeyError, pickle.UnpicklingError) as error:
        reason = _load_failure(error)
        raise ModelDirectoryError(f"{weights}: cannot load the {manifest.model_type} weights: {reason}") from None


def _load_ensemble(directory: Path, manifest: Manifest, device: torch.device, precision: Precision) -> TrainedModel:
    if manifest.ensemble is None:
        raise ModelDirectoryError(f"{directory / MANIFEST}: an ensemble manifest needs its stack (members, weights)")
    members = []
    for member in manifest.ensemble.members:
        inner = directory / member.path
        if not (inner / MANIFEST).is_file():
            raise ModelDirectoryError(
                f"{directory}: the ensemble's {member.model_type} member ({member.path}) is missing"
            )
        members.append(load_model_dir(inner, expected_type=member.model_type, device=device, precision=precision))
    return TrainedModel(directory, manifest, members=members)


def _load_failure(error: Exception) -> str:
    """One line saying why weights did not load (torch's unpickling message is a page of advice)."""
    if isinstance(error, pickle.UnpicklingError):
        return "the file is damaged or was not written by repurpose"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__  # e.g. EOFError on an empty file


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
