"""The monitor worker: a scorer replica's scored pairs turned into traffic sketches, in a process of its own.

Per pair the Monitor grain wants the compound's descriptors (``data.descriptors``), the
protein's length, the score and the applicability domain (the ECFP4 Tanimoto to the most
similar training compound of the model version). The descriptors are RDKit's work and cost
about as much as scoring the pair (Crippen logP alone 0.26 ms a compound); RDKit holds the GIL
while it runs, so a thread of the replica doing it would stall the scoring thread at every
PyTorch call (measured: a chunk scored 3x slower beside such a thread). Hence a process: one
per replica, started on first use (``spawn``: a script that runs a ``ScoringCore`` with a sink
guards its ``__main__``), at nice 19 and with one BLAS thread, so it mostly takes the CPU the
replica leaves idle, and ending when the replica does; when it falls behind, the feed's bounded
queue drops batches and counts them (``scoring.monitor_feed``).

Caches bound the work: per compound (canonical SMILES, also filed under the spelling asked,
least recently used dropped first, like ``model.fast_scoring.CompoundCache``) its descriptors
and packed fingerprint, so a library screened against many targets is read by RDKit once; per
(model version, compound) its domain, computed for a batch's new compounds by one matrix
product against the training compounds (``TrainingEvidence.max_training_similarity``, the
evidence path's own search; the training bits unpacked once per model version).

``TrafficAggregator`` is the worker's state (plain, usable in-process); ``start_worker``,
``aggregate`` and ``take_sketches`` are what the replica runs in the process.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rdkit import Chem

from repurpose.contracts.scoring import DOMAIN_THRESHOLD
from repurpose.data.descriptors import COMPOUND_DESCRIPTORS, compound_descriptors
from repurpose.data.drug_graph import parse_smiles
from repurpose.errors import RepurposeError
from repurpose.model.evidence import TrainingEvidence
from repurpose.model.similarity import packed_fingerprint
from repurpose.monitoring.sketch import TrafficSketch

MODELS_KEPT = 8  # model versions whose training bits the worker keeps (a replica holds a few)
PARENT_CHECK_SECONDS = 1.0  # how soon a worker whose replica was killed ends

Edges = dict[str, list[float]]
"""Per feature, the fixed bin edges of its model's reference (``TrafficSketch.empty``)."""


@dataclass(frozen=True)
class ScoredPairs:
    """One lane's scored pairs as the replica hands them over: nothing computed on them yet.

    ``smiles`` and ``sequences`` hold one entry per pair, or one for every pair (a screening
    chunk names one target, a profile one compound)."""

    model_name: str
    model_key: str  # the version's artifact path: the domain depends on the training data
    job_id: str | None  # the screening job of a chunk; None for predictions and profiles
    smiles: Sequence[str]
    sequences: Sequence[str]
    scores: np.ndarray  # (n,) float; NaN where the pair was not scored

    @property
    def pairs(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class _Measured:
    canonical: str
    descriptors: np.ndarray  # (len(COMPOUND_DESCRIPTORS),) float64
    fingerprint: np.ndarray  # (32,) uint64 ECFP4


class CompoundMeasures:
    """Descriptors and fingerprints by canonical SMILES (None: RDKit refuses it), at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Measured | None] = OrderedDict()
        self.misses = 0  # molecules RDKit described

    def get(self, smiles: str) -> _Measured | None:
        if smiles in self._entries:
            self._entries.move_to_end(smiles)
            return self._entries[smiles]
        try:
            mol = parse_smiles(smiles)
        except RepurposeError:
            self._file(smiles, None)  # not parsed again
            return None
        canonical = str(Chem.MolToSmiles(mol))
        measured = self._entries.get(canonical)
        if measured is None:
            self.misses += 1
            values = compound_descriptors(mol)
            descriptors = np.array([values[name] for name in COMPOUND_DESCRIPTORS], dtype=np.float64)
            measured = _Measured(canonical, descriptors, packed_fingerprint(mol))
            self._file(canonical, measured)
        self._file(smiles, measured)
        return measured

    def _file(self, key: str, measured: _Measured | None) -> None:
        if self.capacity <= 0:
            return
        self._entries[key] = measured
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


class TrafficAggregator:
    """Scored pairs in, one ``TrafficSketch`` per (model name, job id) out."""

    def __init__(self, capacity: int) -> None:
        self.compounds = CompoundMeasures(capacity)
        self.capacity = capacity
        self._training: OrderedDict[str, TrainingEvidence | None] = OrderedDict()
        self._domains: OrderedDict[tuple[str, str], float] = OrderedDict()  # (model key, canonical SMILES)
        self._sketches: dict[tuple[str, str | None], TrafficSketch] = {}
        self.domain_misses = 0  # compounds whose domain was computed

    def knows(self, model_key: str) -> bool:
        return model_key in self._training

    def learn(self, model_key: str, training_compounds: np.ndarray | None) -> None:
        """A model version's (n, 32) packed training fingerprints; None: it keeps none (no domain)."""
        self._training[model_key] = (
            None if training_compounds is None else TrainingEvidence(binders={}, compounds=training_compounds)
        )
        self._training.move_to_end(model_key)
        while len(self._training) > MODELS_KEPT:
            self._training.popitem(last=False)

    def add(self, batch: ScoredPairs, edges: Edges) -> int:
        """Add a batch's scored pairs to its sketch (``edges``: its model's); how many were added.
        The model version must be known (``learn``)."""
        distinct = list(dict.fromkeys(batch.smiles))
        measured = [self.compounds.get(s) for s in distinct]
        readable = np.array([m is not None for m in measured], dtype=bool)
        rows = np.full((len(distinct), len(COMPOUND_DESCRIPTORS)), np.nan)
        for i, m in enumerate(measured):
            if m is not None:
                rows[i] = m.descriptors
        domain = self._domain(batch.model_key, measured)
        n = batch.pairs
        compound = _positions(batch.smiles, distinct, n)
        lengths = np.array([len(s.strip()) for s in batch.sequences], dtype=np.float64)
        lengths = np.broadcast_to(lengths, (n,)) if len(lengths) == 1 else lengths
        scores = np.asarray(batch.scores, dtype=np.float64)
        kept = ~np.isnan(scores) & readable[compound]
        if not kept.any():
            return 0
        index = compound[kept]
        sketch = self._sketches.get((batch.model_name, batch.job_id))
        if sketch is None:
            sketch = self._sketches[(batch.model_name, batch.job_id)] = TrafficSketch.empty(edges)
        similarity = domain[index]
        known = ~np.isnan(similarity)
        in_domain: list[bool | None] = (
            (similarity >= DOMAIN_THRESHOLD).tolist()
            if known.all()
            else [
                bool(s >= DOMAIN_THRESHOLD) if k else None
                for s, k in zip(similarity.tolist(), known.tolist(), strict=True)
            ]
        )
        sketch.add(
            pd.DataFrame(rows[index], columns=list(COMPOUND_DESCRIPTORS)),
            lengths[kept].tolist(),
            scores[kept].tolist(),
            similarity.tolist(),
            in_domain,
        )
        return int(kept.sum())

    def take(self) -> list[tuple[str, str | None, TrafficSketch]]:
        """The sketches gathered since the last take: (model name, job id, sketch)."""
        taken = [(name, job, sketch) for (name, job), sketch in self._sketches.items()]
        self._sketches = {}
        return taken

    def _domain(self, model_key: str, measured: list[_Measured | None]) -> np.ndarray:
        """Per compound its max Tanimoto to the model's training compounds; NaN where unknown."""
        out = np.full(len(measured), np.nan)
        evidence = self._training.get(model_key)
        if evidence is None or evidence.compounds is None:
            return out
        fresh: list[int] = []
        for i, m in enumerate(measured):
            if m is None:
                continue
            known = self._domains.get((model_key, m.canonical))
            if known is None:
                fresh.append(i)
            else:
                self._domains.move_to_end((model_key, m.canonical))
                out[i] = known
        if fresh:
            fingerprints = np.stack([measured[i].fingerprint for i in fresh])  # type: ignore[union-attr]
            similarity = evidence.max_training_similarity(fingerprints)
            assert similarity is not None
            self.domain_misses += len(fresh)
            for i, value in zip(fresh, similarity.tolist(), strict=True):
                out[i] = value
                if self.capacity > 0:
                    self._domains[(model_key, measured[i].canonical)] = value  # type: ignore[union-attr]
            while len(self._domains) > self.capacity:
                self._domains.popitem(last=False)
        return out


def _positions(smiles: Sequence[str], distinct: list[str], n: int) -> np.ndarray:
    """(n,) per pair the position of its compound in ``distinct``."""
    if len(smiles) == 1:
        return np.zeros(n, dtype=np.intp)
    where = {s: i for i, s in enumerate(distinct)}
    return np.fromiter((where[s] for s in smiles), dtype=np.intp, count=n)


# --- in the worker process ------------------------------------------------------------------------

_aggregator: TrafficAggregator | None = None


def start_worker(capacity: int, replica_pid: int) -> None:
    """The process's initializer: idle CPU only, one BLAS thread, an empty aggregator, and an end
    when the replica that started it ends (killed, it cannot say so)."""
    global _aggregator
    # the lowest nice: the replica's scoring threads come first, and the worker still gets a sliver
    # of a saturated CPU (SCHED_IDLE would starve it, and the monitors, for as long as a screen runs)
    os.nice(19)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _aggregator = TrafficAggregator(capacity)
    threading.Thread(target=_end_with, args=(replica_pid,), name="end-with-replica", daemon=True).start()


def _end_with(replica_pid: int) -> None:
    while os.getppid() == replica_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)  # orphaned: the replica's unflushed sketches went with it


def aggregate(
    batches: list[ScoredPairs], training: dict[str, np.ndarray | None], edges: dict[str, Edges]
) -> tuple[dict[str, int], list[str]]:
    """Add ``batches`` (``training``: model versions new to this process; ``edges`` by model name).
    Pairs added per model name, and the model versions it does not know (their batches are not
    added: send them again with their training compounds)."""
    assert _aggregator is not None, "start_worker first"
    for key, compounds in training.items():
        _aggregator.learn(key, compounds)
    added: dict[str, int] = {}
    unknown: list[str] = []
    for batch in batches:
        if not _aggregator.knows(batch.model_key):
            unknown.append(batch.model_key)
            continue
        added[batch.model_name] = added.get(batch.model_name, 0) + _aggregator.add(batch, edges[batch.model_name])
    return added, sorted(set(unknown))


def take_sketches() -> list[tuple[str, str | None, TrafficSketch]]:
    assert _aggregator is not None, "start_worker first"
    return _aggregator.take()
