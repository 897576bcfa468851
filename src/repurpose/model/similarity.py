"""The nearest-known-binder model: a compound scores its ECFP4 Tanimoto to a target's binders.

Built from labelled pairs in an instant (no training): for every protein, the compounds known
to bind it. A query pair scores the similarity of its compound to that protein's binders, the
maximum or the mean of the k most similar, and the nearest binder comes back as evidence of
why. A protein with no known binder scores 0 and has no evidence.

Fingerprints are 2048-bit Morgan radius 2 (ECFP4) bit vectors, kept packed in 32 uint64
words; a library screen against one target is one matrix product of the unpacked bits of the
library and of that target's binders, in blocks that bound the memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from repurpose.contracts.manifest import Aggregate, KnnSettings
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.pairs import PairSet

FINGERPRINT_BITS = 2048
FINGERPRINT_RADIUS = 2  # ECFP4: diameter 4
WORDS = FINGERPRINT_BITS // 64
BLOCK_BYTES = 32 * 1024 * 1024  # the largest block of unpacked query bits at a time

_GENERATOR = rdFingerprintGenerator.GetMorganGenerator(radius=FINGERPRINT_RADIUS, fpSize=FINGERPRINT_BITS)


def packed_fingerprint(mol: Chem.Mol) -> np.ndarray:
    """The ECFP4 bits of one molecule as (32,) uint64 words."""
    bits = _GENERATOR.GetFingerprintAsNumPy(mol).astype(bool)
    return np.packbits(bits, bitorder="little").view(np.uint64)


def packed_fingerprints(smiles: Iterable[str]) -> np.ndarray:
    """(n, 32) uint64 fingerprints; a bad SMILES raises InvalidSmiles naming it."""
    rows = [packed_fingerprint(parse_smiles(s)) for s in smiles]
    return np.stack(rows) if rows else np.zeros((0, WORDS), dtype=np.uint64)


def unpacked(fingerprints: np.ndarray) -> np.ndarray:
    """(n, 2048) float32 0/1 bits of packed fingerprints, the operand of the matrix product."""
    return np.unpackbits(fingerprints.view(np.uint8), axis=-1, bitorder="little").astype(np.float32)


def tanimoto(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(n, k) float32 Tanimoto similarities of packed fingerprints (0 where both are empty).

    The common bits of every pair come from one float32 matrix product of the unpacked bits
    (exact: the counts stay far below 2**24), which BLAS does faster than popcounts of ANDs.
    """
    n, k = len(queries), len(references)
    out = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k == 0:
        return out
    reference_bits = unpacked(references)
    reference_counts = reference_bits.sum(axis=1)
    rows = max(1, BLOCK_BYTES // (FINGERPRINT_BITS * 4))
    for start in range(0, n, rows):
        block = unpacked(queries[start : start + rows])
        common = block @ reference_bits.T
        union = block.sum(axis=1)[:, None] + reference_counts[None, :] - common
        np.divide(common, union, out=out[start : start + rows], where=union > 0)
    return out


@dataclass(frozen=True)
class TargetBinders:
    """The known binders of one protein: their ids, SMILES and packed fingerprints."""

    compound_ids: list[str]
    smiles: list[str]
    fingerprints: np.ndarray  # (k, 32) uint64

    def __len__(self) -> int:
        return len(self.smiles)


@dataclass(frozen=True)
class NearestBinder:
    """The evidence for one score: the most similar known binder of the target."""

    compound_id: str
    smiles: str
    tanimoto: float


@dataclass(frozen=True)
class SimilarityScores:
    scores: np.ndarray  # (n,) float64 in [0, 1]
    nearest: list[NearestBinder | None]  # None where the target has no known binder


def score_against(
    binders: TargetBinders | None, queries: np.ndarray, *, aggregate: Aggregate, k: int
) -> SimilarityScores:
    """Score packed query fingerprints against one target's binders."""
    n = len(queries)
    if binders is None or len(binders) == 0:
        return SimilarityScores(np.zeros(n), [None] * n)
    similarity = tanimoto(queries, binders.fingerprints)
    best = similarity.argmax(axis=1)
    best_value = similarity[np.arange(n), best].astype(np.float64)
    scores = best_value if aggregate == "max" else _aggregated(similarity, aggregate, k)
    nearest: list[NearestBinder | None] = [
        NearestBinder(binders.compound_ids[j], binders.smiles[j], float(v))
        for j, v in zip(best.tolist(), best_value.tolist(), strict=True)
    ]
    return SimilarityScores(scores, nearest)


def similarity_scores(
    binders: TargetBinders | None, queries: np.ndarray, *, aggregate: Aggregate, k: int
) -> np.ndarray:
    """``score_against``'s scores alone: what a screen needs, without an evidence object per row."""
    if binders is None or len(binders) == 0:
        return np.zeros(len(queries))
    return _aggregated(tanimoto(queries, binders.fingerprints), aggregate, k)


def _aggregated(similarity: np.ndarray, aggregate: Aggregate, k: int) -> np.ndarray:
    if aggregate == "max" or similarity.shape[1] == 1:
        return similarity.max(axis=1).astype(np.float64)
    top = min(k, similarity.shape[1])
    # the k largest per row without a full sort: partition, then average the last k
    return np.partition(similarity, -top, axis=1)[:, -top:].mean(axis=1, dtype=np.float64)


def group_binders(
    smiles: Sequence[str],
    proteins: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    compound_ids: Sequence[str] | None = None,
) -> dict[str, TargetBinders]:
    """Each protein's positive compounds (label 1), one entry per distinct SMILES, in file order."""
    ids = compound_ids if compound_ids is not None else smiles
    per_protein: dict[str, dict[str, str]] = {}
    for s, p, y, cid in zip(smiles, proteins, labels, ids, strict=True):
        if int(y) == 1:
            per_protein.setdefault(p, {}).setdefault(s, cid)
    return {
        protein: TargetBinders(list(found.values()), list(found), packed_fingerprints(found))
        for protein, found in per_protein.items()
    }


# --- the knn model: every protein's binders, one aggregate, chosen on validation ---------------

BINDERS_FILE = "binders.parquet"
FINGERPRINT_BYTES = FINGERPRINT_BITS // 8
# The aggregates tried on validation: the nearest binder alone, or the mean of the k nearest.
CANDIDATES: tuple[tuple[Aggregate, int], ...] = (("max", 1), ("topk", 3), ("topk", 5))


def candidate_name(aggregate: Aggregate, k: int) -> str:
    return "max" if aggregate == "max" else f"top{k}"


def parse_candidate(name: str) -> tuple[Aggregate, int]:
    """``candidate_name``'s inverse: 'max' or 'top<k>' (k >= 2)."""
    if name == "max":
        return "max", 1
    if name.startswith("top") and name[3:].isdigit() and int(name[3:]) >= 2:
        return "topk", int(name[3:])
    raise ValueError(f"{name!r} is not a knn aggregate: 'max' or 'top<k>' with k >= 2")


@dataclass
class KnnIndex:
    """The known binders of every protein (by normalised sequence) and how to aggregate them."""

    binders: dict[str, TargetBinders]
    aggregate: Aggregate
    k: int

    def score(self, smiles: Sequence[str], proteins: Sequence[str]) -> SimilarityScores:
        """Scores and nearest binders of pairs; each distinct compound is fingerprinted once."""
        distinct = list(dict.fromkeys(smiles))
        row_of = {s: i for i, s in enumerate(distinct)}
        fingerprints = packed_fingerprints(distinct)
        scores = np.zeros(len(smiles))
        nearest: list[NearestBinder | None] = [None] * len(smiles)
        by_protein: dict[str, list[int]] = {}
        for i, protein in enumerate(proteins):
            by_protein.setdefault(protein, []).append(i)
        for protein, index in by_protein.items():
            found = self.evidence_target(protein, fingerprints[[row_of[smiles[i]] for i in index]])
            scores[index] = found.scores
            for i, evidence in zip(index, found.nearest, strict=True):
                nearest[i] = evidence
        return SimilarityScores(scores, nearest)

    def evidence_target(self, protein: str, fingerprints: np.ndarray) -> SimilarityScores:
        """Packed fingerprints against one protein (normalised sequence), with the nearest binders."""
        return score_against(self.binders.get(protein), fingerprints, aggregate=self.aggregate, k=self.k)

    def score_target(self, protein: str, fingerprints: np.ndarray) -> np.ndarray:
        """The scores alone (a screen's chunk): one Tanimoto product against the protein's binders."""
        return similarity_scores(self.binders.get(protein), fingerprints, aggregate=self.aggregate, k=self.k)


def fit_knn(
    train: PairSet, val: PairSet, candidates: Sequence[tuple[Aggregate, int]] = CANDIDATES
) -> tuple[KnnIndex, KnnSettings, np.ndarray]:
    """The binders of ``train``, with the candidate aggregate that ranks ``val`` best (AUROC;
    ties: the first tried); returns the index, its settings and its validation scores."""
    from sklearn.metrics import roc_auc_score  # a fit's only: loading an index does not import scikit-learn

    assert train.labels is not None and val.labels is not None
    binders = group_binders(train.smiles, train.proteins, train.labels)
    tried: dict[str, float] = {}
    best: tuple[float, Aggregate, int, np.ndarray] | None = None
    for aggregate, k in candidates:
        scores = KnnIndex(binders, aggregate, k).score(val.smiles, val.proteins).scores
        auroc = float(roc_auc_score(val.labels, scores))
        tried[candidate_name(aggregate, k)] = auroc
        if best is None or auroc > best[0]:
            best = (auroc, aggregate, k, scores)
    assert best is not None
    _, aggregate, k, val_scores = best
    settings = KnnSettings(
        aggregate=aggregate,
        k=k,
        proteins=len(binders),
        binders=sum(len(b) for b in binders.values()),
        val_auroc=tried,
    )
    return KnnIndex(binders, aggregate, k), settings, val_scores


def write_binders(path: Path, binders: dict[str, TargetBinders]) -> None:
    """One row per (protein, binder): sequence, compound id, SMILES, 256 fingerprint bytes."""
    proteins, ids, smiles, prints = [], [], [], []
    for protein, found in binders.items():
        for j in range(len(found)):
            proteins.append(protein)
            ids.append(found.compound_ids[j])
            smiles.append(found.smiles[j])
            prints.append(found.fingerprints[j].tobytes())
    table = pa.table(
        {
            "protein": pa.array(proteins, pa.string()),
            "compound_id": pa.array(ids, pa.string()),
            "smiles": pa.array(smiles, pa.string()),
            "fingerprint": pa.array(prints, pa.binary(FINGERPRINT_BYTES)),
        }
    )
    pq.write_table(table, path, compression="zstd")


def read_binders(path: Path) -> dict[str, TargetBinders]:
    """The binders ``write_binders`` wrote; ValueError says what is wrong with another file."""
    table = pq.read_table(path)
    missing = [c for c in ("protein", "compound_id", "smiles", "fingerprint") if c not in table.column_names]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    if any(table.column(c).null_count for c in table.column_names):
        raise ValueError("a binder row has an empty field")
    raw = table.column("fingerprint").combine_chunks()
    if not pa.types.is_fixed_size_binary(raw.type) or raw.type.byte_width != FINGERPRINT_BYTES:
        raise ValueError(f"fingerprints are not {FINGERPRINT_BYTES}-byte ECFP4 bit vectors")
    words = np.frombuffer(
        raw.buffers()[1], dtype=np.uint8, count=len(raw) * FINGERPRINT_BYTES, offset=raw.offset * FINGERPRINT_BYTES
    )
    fingerprints = words.view(np.uint64).reshape(len(raw), WORDS)
    proteins = table.column("protein").to_pylist()
    ids = table.column("compound_id").to_pylist()
    smiles = table.column("smiles").to_pylist()
    rows: dict[str, list[int]] = {}
    for i, protein in enumerate(proteins):
        rows.setdefault(protein, []).append(i)
    return {
        protein: TargetBinders([ids[i] for i in index], [smiles[i] for i in index], fingerprints[index].copy())
        for protein, index in rows.items()
    }
