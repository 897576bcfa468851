"""The evidence beside every hit: what a model's own training data says about a compound.

Training writes two files into every model directory, beside the weights:

    binders.parquet             per protein (normalised sequence), its training binders (label 1):
                                compound id, SMILES, ECFP4 (``model.similarity.write_binders``;
                                a knn model's weights are this very file)
    training_compounds.parquet  every distinct training compound, either label: SMILES, ECFP4

For a compound scored against a target they answer (``BinderEvidence``):

- the nearest known binder: the target's training binder with the highest ECFP4 Tanimoto (its
  id where the training data names compounds, its SMILES, the Tanimoto); none where the model
  saw no binder of the target;
- the applicability domain: the Tanimoto to the most similar training compound, and whether it
  reaches ``DOMAIN_THRESHOLD`` (0.3: below it a compound is as far from everything the model
  learnt from as two random drugs are from each other; see ``contracts.scoring``).

Model directories written before these files existed load without them: their evidence fields
are None (``scripts/add_training_evidence.py`` adds them to a directory whose training file is
at hand). A knn directory has its binders in any case, so its nearest binder is always known.

The domain search compares a few hundred hits with every training compound: the training
fingerprints are unpacked once per loaded model (8 KiB a compound, about 85 MiB for the union's
10,000) so each search is one matrix product.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repurpose.contracts.scoring import DOMAIN_THRESHOLD, BinderEvidence, HitEvidence
from repurpose.contracts.targets import normalize_protein
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.data.pairs import PairSet
from repurpose.errors import ModelDirectoryError
from repurpose.model.similarity import (
    BINDERS_FILE,
    FINGERPRINT_BITS,
    FINGERPRINT_BYTES,
    WORDS,
    TargetBinders,
    packed_fingerprints,
    read_binders,
    score_against,
    unpacked,
    write_binders,
)

TRAINING_COMPOUNDS_FILE = "training_compounds.parquet"
EVIDENCE_FILES = (BINDERS_FILE, TRAINING_COMPOUNDS_FILE)
BLOCK_ROWS = 1024  # queries per matrix product in the domain search


@dataclass
class TrainingEvidence:
    """A model's training binders (per normalised protein sequence) and training compounds."""

    binders: dict[str, TargetBinders]
    compounds: np.ndarray | None  # (n, 32) uint64 packed ECFP4; None: not recorded (older directories)
    _bits: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def evidence(
        self, protein: str, fingerprints: np.ndarray, domain: np.ndarray | None = None
    ) -> list[BinderEvidence]:
        """Per packed query fingerprint, its evidence against ``protein`` (a normalised sequence);
        ``domain`` (``max_training_similarity`` of the same queries) when computed already."""
        nearest = score_against(self.binders.get(protein), fingerprints, aggregate="max", k=1).nearest
        if domain is None:
            domain = self.max_training_similarity(fingerprints)
        out = []
        for i, binder in enumerate(nearest):
            closest = None if domain is None else round(float(domain[i]), 4)
            out.append(
                BinderEvidence(
                    nearest_binder_id=binder.compound_id if binder and binder.compound_id != binder.smiles else None,
                    nearest_binder_smiles=binder.smiles if binder else None,
                    nearest_binder_tanimoto=round(binder.tanimoto, 4) if binder else None,
                    max_training_tanimoto=closest,
                    in_domain=None if closest is None else closest >= DOMAIN_THRESHOLD,
                )
            )
        return out

    def max_training_similarity(self, fingerprints: np.ndarray) -> np.ndarray | None:
        """(n,) the ECFP4 Tanimoto of each query to its most similar training compound."""
        if self.compounds is None:
            return None
        if len(self.compounds) == 0:
            return np.zeros(len(fingerprints))
        bits, counts = self._unpacked()
        out = np.zeros(len(fingerprints))
        for start in range(0, len(fingerprints), BLOCK_ROWS):
            block = unpacked(fingerprints[start : start + BLOCK_ROWS])
            common = block @ bits.T
            union = block.sum(axis=1)[:, None] + counts[None, :] - common
            similarity = np.divide(common, union, out=np.zeros_like(common), where=union > 0)
            out[start : start + len(block)] = similarity.max(axis=1)
        return out

    def _unpacked(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:  # two scorer lanes may ask at once: unpack once
            if self._bits is None:
                assert self.compounds is not None
                bits = unpacked(self.compounds)
                self._bits = (bits, bits.sum(axis=1))
            return self._bits


def pair_evidence(evidence: TrainingEvidence | None, smiles: str, protein: str) -> HitEvidence:
    """One pair's evidence (``repurpose predict``): the training data's, where the model keeps it,
    and the compound's drug-like flag. A bad SMILES or sequence raises its specific error."""
    issue = drug_like_issue(smiles)
    found = BinderEvidence()
    if evidence is not None:
        found = evidence.evidence(normalize_protein(protein), packed_fingerprints([smiles]))[0]
    return HitEvidence(**found.model_dump(), drug_like=issue is None, drug_like_issue=issue)


def build_training_evidence(train: PairSet) -> TrainingEvidence:
    """The evidence of training pairs: each distinct compound fingerprinted once (a bad SMILES
    raises InvalidSmiles naming it); binders per protein in file order, as ``group_binders``."""
    assert train.labels is not None
    distinct = list(dict.fromkeys(train.smiles))
    compounds = packed_fingerprints(distinct)
    row = {s: i for i, s in enumerate(distinct)}
    positives: dict[str, dict[str, int]] = {}
    for s, protein, y in zip(train.smiles, train.proteins, train.labels, strict=True):
        if int(y) == 1:
            positives.setdefault(protein, {}).setdefault(s, row[s])
    binders = {
        protein: TargetBinders(list(found), list(found), compounds[list(found.values())])
        for protein, found in positives.items()
    }
    return TrainingEvidence(binders, compounds)


def write_training_evidence(out: Path, evidence: TrainingEvidence, smiles: Sequence[str]) -> None:
    """Write both files into the directory ``out``; ``smiles`` name ``evidence.compounds``' rows."""
    assert evidence.compounds is not None and len(smiles) == len(evidence.compounds)
    out.mkdir(parents=True, exist_ok=True)
    write_binders(out / BINDERS_FILE, evidence.binders)
    table = pa.table(
        {
            "smiles": pa.array(list(smiles), pa.string()),
            "fingerprint": pa.array([row.tobytes() for row in evidence.compounds], pa.binary(FINGERPRINT_BYTES)),
        }
    )
    pq.write_table(table, out / TRAINING_COMPOUNDS_FILE, compression="zstd")


def record_training_evidence(out: Path, train: PairSet) -> TrainingEvidence:
    """``build_training_evidence`` of ``train``, written into the model directory ``out``."""
    evidence = build_training_evidence(train)
    write_training_evidence(out, evidence, list(dict.fromkeys(train.smiles)))
    return evidence


def read_training_evidence(directory: Path, binders: dict[str, TargetBinders] | None = None) -> TrainingEvidence | None:
    """A model directory's evidence (``binders``: a knn model's, read already); None where the
    directory keeps neither file. A damaged file raises ModelDirectoryError naming it."""
    binders_path, compounds_path = directory / BINDERS_FILE, directory / TRAINING_COMPOUNDS_FILE
    if binders is None and not binders_path.is_file() and not compounds_path.is_file():
        return None
    try:
        if binders is None:
            binders = read_binders(binders_path) if binders_path.is_file() else {}
    except (ValueError, OSError) as error:
        raise ModelDirectoryError(f"{binders_path}: cannot read the training binders: {error}") from None
    try:
        compounds = _read_compounds(compounds_path) if compounds_path.is_file() else None
    except (ValueError, OSError) as error:
        raise ModelDirectoryError(f"{compounds_path}: cannot read the training compounds: {error}") from None
    return TrainingEvidence(binders, compounds)


def _read_compounds(path: Path) -> np.ndarray:
    table = pq.read_table(path, columns=["fingerprint"])
    raw = table.column("fingerprint").combine_chunks()
    if raw.null_count or not pa.types.is_fixed_size_binary(raw.type) or raw.type.byte_width != FINGERPRINT_BYTES:
        raise ValueError(f"fingerprints are not {FINGERPRINT_BITS}-bit ECFP4 bit vectors")
    data = np.frombuffer(
        raw.buffers()[1], dtype=np.uint8, count=len(raw) * FINGERPRINT_BYTES, offset=raw.offset * FINGERPRINT_BYTES
    )
    return data.view(np.uint64).reshape(len(raw), WORDS).copy()
