"""What a scorer replica holds and does: models by version, caches, and three lanes.

``ScoringCore`` is a plain class: the Ray Serve deployment (``scoring.service``) wraps it, and
tests and benchmarks run it in-process.

- Models: loaded lazily from the registry's published directories (``load_published_model``),
  keyed by artifact path, at most ``max_models`` at once (Serve's multiplexing routes each
  version's requests to the replicas that hold it). DrugBAN models score by the exact fast
  path (``FastScorer``); baselines by their own ``predict``; a knn model's screening chunks
  by cached fingerprints (``FingerprintCache``) and one Tanimoto product per chunk; an ensemble
  by each of its members' own paths, their scores combined by its stack (exact per pair).
- Caches: featurised compounds (LRU by SMILES, shared by every model: featurisation does not
  depend on the model) and per-(target, model) tensors under a byte budget
  (``scorer_target_cache_mib``), so a screen computes its target's side once; per loaded DrugBAN,
  predicted compounds' GCN atom states (``scorer_compound_state_mib``, ``model.compound_states``),
  so a compound predicted again skips the GCN (a screen keeps a chunk's only while it goes to its next
  target: ``ChunkRequest.reuse_states``). Beyond the budget
  they come from the artifact store (``scoring.target_store``: computed in the background when a
  target or a model version is registered; a target missing there is computed here and stored).
  A profile against thousands of targets reads each target from there once: the replica appends
  it to the model's profile slab (``scoring.target_slab``: a local, unlinked file in the layout the
  profile's sums want, ``model.gram_blocks``), maps a stretch of it at a time and lets go of it
  after, so later profiles read the kernel's page cache, not the store, in a bounded memory.
- Device: models compute where ``settings.device`` says for a replica that declared
  ``scorer_num_gpus`` GPUs (``model.devices.resolve_compute``: with ``auto``, the GPU Ray assigned
  when it declared any, else the CPU), in ``settings.precision``; target tensors stay on the CPU.
- Lanes: predictions, analyses (profiles and explanations: seconds to a minute when a profile
  computes many targets' tensors) and bulk screening chunks run on three single-thread
  executors, so a prediction never waits in a queue behind a chunk or a cold profile (they
  share the CPUs, not a queue).
- Evidence: the model directory's training data (``TrainedModel.evidence``) gives a screen's
  best hits (``evidence``, bulk lane) and every profile row the target's nearest training binder
  and the compound's applicability domain (``model.evidence``).
- Monitoring: every lane hands its scored pairs to the replica's ``MonitorFeed`` (when given a
  sink and the setting ``monitoring`` is on): an append to a bounded queue; the work (descriptors,
  the applicability domain, the sketches) is done in another process while no lane is running
  (beside the scoring it slows it by a fifth, sharing the CPUs' caches), the flushes to the
  Monitor grains every few seconds.
- Screening chunks usually arrive featurised (``ChunkRequest.graphs``: the screening runner
  runs RDKit while this replica computes the previous chunk), so the bulk lane only runs the
  model; a chunk of SMILES alone is featurised here, through the compound cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from repurpose.contracts.manifest import EnsembleStack
from repurpose.contracts.scoring import (
    BinderEvidence,
    ChunkScores,
    CompoundError,
    EvidenceAnswer,
    EvidenceRequest,
    Explanation,
    PairScore,
    PairToScore,
    ProfileRequest,
    ProfileScores,
    ResolvedModel,
    ScorerStats,
)
from repurpose.contracts.targets import normalize_protein
from repurpose.data.drug_graph import DrugGraph
from repurpose.data.pairs import pairs_from_columns
from repurpose.errors import InvalidInput, RepurposeError
from repurpose.model.compound_states import CompoundStateCache
from repurpose.model.devices import resolve_compute
from repurpose.model.directory import TrainedModel
from repurpose.model.ensemble import combine
from repurpose.model.explanations import explain_pair
from repurpose.model.fast_scoring import CompoundCache, FastScorer, ProfiledCompound, TargetTensors
from repurpose.model.fingerprint_cache import FingerprintCache
from repurpose.model.published import load_published_model
from repurpose.model.similarity import KnnIndex
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.monitor_feed import MonitorFeed
from repurpose.scoring.monitor_sink import MonitorSink
from repurpose.scoring.target_slab import TargetSlab
from repurpose.scoring.target_store import TargetTensorStore
from repurpose.settings import Settings

T = TypeVar("T")
R = TypeVar("R")
logger = logging.getLogger(__name__)

QUIET_SECONDS = 0.2
"""How long the lanes stay idle before the monitor worker may run beside nothing."""
PROFILE_STRETCH = 64
"""Slab rows a profile maps at once (75 MiB for DrugBAN): scored, then unmapped."""
READ_AHEAD = 16
"""Target files a cold profile reads ahead from the artifact store, on ``READ_THREADS`` threads."""
READ_THREADS = 2

__all__ = ["LoadedModel", "ScorerStats", "ScoringCore", "TargetCache"]


@dataclass
class LoadedModel:
    resolved: ResolvedModel
    trained: TrainedModel
    fast: FastScorer | None  # DrugBAN only
    cache_key: str = ""  # its target tensors' key in the cache (default: its artifact path)
    members: list[LoadedModel] = field(default_factory=list)  # an ensemble's, in its stack's order

    def __post_init__(self) -> None:
        self.cache_key = self.cache_key or self.resolved.artifact_path

    @property
    def stack(self) -> EnsembleStack:
        return self.trained.stack

    @property
    def reads_graphs(self) -> bool:
        """Whether it (or a member) scores DrugBAN graphs: its compounds are featurised."""
        return self.fast is not None or any(m.reads_graphs for m in self.members)


class TargetCache:
    """Per-(model, target) tensors, least recently used dropped first beyond ``budget_bytes``."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[str, str], TargetTensors] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()  # every lane reads and fills it

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: tuple[str, str]) -> TargetTensors | None:
        """The cached tensors (counted as a hit), or None; nothing is computed or evicted."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return found

    def get(self, key: tuple[str, str], compute: Callable[[], TargetTensors]) -> tuple[TargetTensors, bool]:
        """The cached tensors, or ``compute()``'s (cached); and whether they were computed now."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found, False
        tensors = compute()
        with self._lock:
            self.misses += 1
            if key not in self._entries:
                self._entries[key] = tensors
                self.bytes += tensors.nbytes
                while self.bytes > self.budget_bytes and len(self._entries) > 1:
                    _, dropped = self._entries.popitem(last=False)
                    self.bytes -= dropped.nbytes
        return tensors, True


class ScoringCore:
    def __init__(self, settings: Settings, monitors: MonitorSink | None = None) -> None:
        self.settings = settings
        # where this replica's models compute: the GPU Ray assigned it, if it declared any (auto)
        self.compute = resolve_compute(settings.device, settings.precision, gpus=settings.scorer_num_gpus)
        self._in_flight = 0  # lane calls running (counted on the event loop)
        self._last_done = 0.0  # when the last one ended (time.monotonic)
        # where scored pairs are sketched for the models' monitors (in idle time); None: not monitored
        self.feed = (
            MonitorFeed(settings, monitors, busy=self._scoring)
            if monitors is not None and settings.monitoring
            else None
        )
        self.compounds = CompoundCache(settings.scorer_compound_cache)
        self.fingerprints = FingerprintCache(settings.scorer_compound_cache)  # knn models' compounds
        self.targets = TargetCache(settings.scorer_target_cache_mib * 2**20)
        self.tensor_store = TargetTensorStore(ArtifactStore.from_settings(settings))
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._model_lock = threading.Lock()
        self._slabs: dict[str, TargetSlab] = {}  # a profile's rows, by model cache key (``_slab``)
        self._interactive = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interactive")
        self._analysis = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis")
        self._bulk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk")
        self.pairs_scored = 0
        self._retired_state_hits = 0  # kept-state counts of models dropped since (the figures only grow)
        self._retired_state_misses = 0

    # --- models --------------------------------------------------------------------------------

    def load(self, resolved: ResolvedModel) -> LoadedModel:
        """The model of ``resolved``, loaded once (blocking: downloads and reads weights)."""
        with self._model_lock:
            loaded = self._models.get(resolved.artifact_path)
            if loaded is not None:
                self._models.move_to_end(resolved.artifact_path)
                return loaded
        trained = load_published_model(
            self.settings, resolved.artifact_path, device=self.compute.device, precision=self.compute.precision
        )
        loaded = self._loaded(resolved, trained, resolved.artifact_path)
        with self._model_lock:
            self._models[resolved.artifact_path] = loaded
            while len(self._models) > self.settings.scorer_max_models:
                dropped, gone = self._models.popitem(last=False)
                self._close_slabs(dropped)
                self._retire(gone)
        return loaded

    def hold(self, resolved: ResolvedModel, trained: TrainedModel) -> LoadedModel:
        """Hold a model read elsewhere (a model directory in this process: benchmarks, tests) as ``resolved``."""
        loaded = self._loaded(resolved, trained, resolved.artifact_path)
        with self._model_lock:
            replaced = self._models.get(resolved.artifact_path)
            if replaced is not None:
                self._retire(replaced)
            self._models[resolved.artifact_path] = loaded
        return loaded

    def _loaded(self, resolved: ResolvedModel, trained: TrainedModel, cache_key: str) -> LoadedModel:
        drugban = trained.drugban
        fast = (
            FastScorer(
                drugban,
                self.compounds,
                self.compute.precision,
                states=CompoundStateCache(self.settings.scorer_compound_state_mib * 2**20)
                if self.settings.scorer_compound_state_mib > 0
                else None,
            )
            if drugban is not None
            else None
        )
        members = (
            [
                self._loaded(resolved, member, f"{cache_key}/{entry.path}")
                for entry, member in zip(trained.stack.members, trained.members, strict=True)
            ]
            if trained.members
            else []
        )
        return LoadedModel(resolved, trained, fast, cache_key, members)

    def forget(self, artifact_path: str) -> None:
        """Drop a model (Serve's multiplexing evicted it); its target tensors age out of the cache."""
        with self._model_lock:
            gone = self._models.pop(artifact_path, None)
            self._close_slabs(artifact_path)
            if gone is not None:
                self._retire(gone)

    def _retire(self, loaded: LoadedModel) -> None:
        """Keep a dropped model's kept-state counts (under ``_model_lock``): the figures are counters."""
        for cache in _state_caches([loaded]):
            self._retired_state_hits += cache.hits
            self._retired_state_misses += cache.misses

    def _close_slabs(self, artifact_path: str) -> None:
        """Let go of the profile slabs of a model and its members (under ``_model_lock``): each file
        goes when its last user does (a profile still running on it finishes)."""
        for key in [k for k in self._slabs if k == artifact_path or k.startswith(artifact_path + "/")]:
            del self._slabs[key]

    # --- the lanes -------------------------------------------------------------------------------

    async def score_chunk(self, request: ChunkRequest) -> ChunkScores:
        """Bulk lane: a chunk of compounds against one target."""
        return await self._run(self._bulk, self.score_chunk_now, request)

    async def predict(self, model: ResolvedModel, pairs: Sequence[PairToScore]) -> list[PairScore]:
        """Interactive lane: pairs (any targets) with one model; InvalidInput names a bad pair."""
        return await self._run(self._interactive, self.predict_now, model, list(pairs))

    async def profile(self, request: ProfileRequest) -> ProfileScores:
        """Analysis lane: one compound against many targets."""
        return await self._run(self._analysis, self.profile_now, request)

    async def explain(self, model: ResolvedModel, smiles: str, sequence: str, top: int = 10) -> Explanation:
        """Analysis lane: the attention behind one pair (the reference forward)."""
        return await self._run(self._analysis, self.explain_now, model, smiles, sequence, top)

    async def evidence(self, request: EvidenceRequest) -> EvidenceAnswer:
        """Bulk lane (a screen's best hits): what the model's training data says of each compound."""
        return await self._run(self._bulk, self.evidence_now, request)

    async def _run(self, lane: ThreadPoolExecutor, function: Callable[..., T], *args: object) -> T:
        if self.feed is not None:
            self.feed.start()  # on this event loop, once
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(lane, function, *args)
        finally:
            self._in_flight -= 1
            self._last_done = time.monotonic()

    def _scoring(self) -> bool:
        """Whether a lane runs, or ran moments ago (a stream of requests has short gaps)."""
        return self._in_flight > 0 or time.monotonic() - self._last_done < QUIET_SECONDS

    async def close(self) -> None:
        """Flush what the monitors have not had yet (a replica shutting down)."""
        if self.feed is not None:
            await self.feed.close()

    # --- the work (blocking) ---------------------------------------------------------------------

    def score_chunk_now(self, request: ChunkRequest) -> ChunkScores:
        started = time.perf_counter()
        loaded = self.load(request.model)
        scores, failures = self._chunk_scores(loaded, request)
        self.pairs_scored += int(np.count_nonzero(~np.isnan(scores)))
        if self.feed is not None:
            self.feed.offer(request.model, loaded.trained, request.job_id, request.smiles, [request.sequence], scores)
        return ChunkScores(
            scores=[None if np.isnan(s) else float(s) for s in scores],
            failures=failures,
            seconds=time.perf_counter() - started,
        )

    def _chunk_scores(self, loaded: LoadedModel, request: ChunkRequest) -> tuple[np.ndarray, list[CompoundError]]:
        """A chunk's scores (NaN where a compound failed) and the failures the caller does not know."""
        if loaded.members:
            parts = [self._chunk_scores(member, request) for member in loaded.members]
            scores = combine(loaded.stack, [s for s, _ in parts])  # NaN where any member failed
            graphs = request.graphs
            failures: dict[int, CompoundError] = {}
            for _, member_failures in parts:  # one failure per compound, none the caller reported already
                for f in member_failures:
                    if graphs is None or graphs[f.index] is not None:
                        failures.setdefault(f.index, f)
            return scores, [failures[i] for i in sorted(failures)]
        if loaded.fast is not None and request.graphs is not None:  # featurised by the caller
            target = self._target(loaded, request.target_key, request.sequence)
            graphs_given: list[DrugGraph | None] = request.graphs
            kept = [i for i, g in enumerate(graphs_given) if g is not None]
            scores = np.full(len(graphs_given), np.nan)
            scores[kept] = loaded.fast.score_graphs(
                target, [g for g in graphs_given if g is not None], reuse_states=request.reuse_states
            )
            return scores, []  # the caller knows why the others failed
        if loaded.fast is not None:
            target = self._target(loaded, request.target_key, request.sequence)
            scores, failed = loaded.fast.score(target, request.smiles)
            return scores, [CompoundError(index=f.index, smiles=f.smiles, reason=f.reason) for f in failed]
        if loaded.trained.knn is not None:
            return self._knn_scores(loaded.trained.knn, request.smiles, request.sequence)
        return self._baseline_scores(loaded, request.smiles, request.sequence)

    def predict_now(self, model: ResolvedModel, pairs: list[PairToScore]) -> list[PairScore]:
        loaded = self.load(model)
        probabilities = np.empty(len(pairs))
        checked: set[str] = set()  # a 1,000-pair request usually names a few proteins: check each once
        unread: dict[int, str] = {}
        if not loaded.reads_graphs:  # no DrugBAN (member) to featurise for: RDKit reads each SMILES (cached)
            _, _, failed = self.fingerprints.get_many([pair.smiles for pair in pairs])
            unread = {f.index: f.reason for f in failed}
        for i, pair in enumerate(pairs):  # validate first: one bad pair refuses the request
            try:
                if pair.sequence not in checked:
                    normalize_protein(pair.sequence)
                    checked.add(pair.sequence)
                if loaded.reads_graphs:
                    self.compounds.get(pair.smiles)  # featurised here, then read by the fast path
                elif i in unread:
                    raise InvalidInput(unread[i])
            except RepurposeError as error:
                raise InvalidInput(f"pair {i}: {error.message}") from None
        probabilities[:] = self._pair_scores(loaded, pairs)
        self.pairs_scored += len(pairs)
        if self.feed is not None:
            smiles, sequences = [p.smiles for p in pairs], [p.sequence for p in pairs]
            self.feed.offer(model, loaded.trained, None, smiles, sequences, probabilities)
        threshold = loaded.resolved.threshold
        return [PairScore(probability=float(p), interacts=bool(p >= threshold)) for p in probabilities]

    def _pair_scores(self, loaded: LoadedModel, pairs: list[PairToScore]) -> np.ndarray:
        """Valid pairs' probabilities: DrugBAN by the fast path per target, an ensemble by its members'."""
        if loaded.members:
            return combine(loaded.stack, [self._pair_scores(member, pairs) for member in loaded.members])
        if loaded.fast is None:
            table = pairs_from_columns([p.smiles for p in pairs], [p.sequence for p in pairs], source="request")
            return loaded.trained.predict(table)
        probabilities = np.empty(len(pairs))
        by_target: dict[str, list[int]] = {}
        for i, pair in enumerate(pairs):
            by_target.setdefault(pair.target_key or _sequence_key(pair.sequence), []).append(i)
        for key, index in by_target.items():
            # an unregistered sequence's tensors (1.2 MB) stay in memory: live traffic must not fill the store
            registered = pairs[index[0]].target_key is not None
            target = self._target(loaded, key, pairs[index[0]].sequence, store=registered)
            graphs = [self.compounds.get(pairs[i].smiles) for i in index]
            probabilities[index] = loaded.fast.score_graphs(target, graphs, reuse_states=True)
        return probabilities

    def profile_now(self, request: ProfileRequest) -> ProfileScores:
        started = time.perf_counter()
        loaded = self.load(request.model)
        try:
            graph = self.compounds.get(request.smiles)
        except RepurposeError as error:
            raise InvalidInput(error.message) from None
        scores, computed = self._profile_scores(loaded, request, graph)
        self.pairs_scored += len(request.targets)
        if self.feed is not None:
            sequences = [sequence for _, sequence in request.targets]
            self.feed.offer(request.model, loaded.trained, None, [request.smiles], sequences, scores)
        return ProfileScores(
            scores=[float(s) for s in scores],
            seconds=time.perf_counter() - started,
            targets_computed=computed,
            evidence=self._profile_evidence(loaded, request),
        )

    def _profile_scores(self, loaded: LoadedModel, request: ProfileRequest, graph: DrugGraph) -> tuple[np.ndarray, int]:
        """One compound against the request's targets; and how many targets' tensors were computed."""
        if loaded.members:
            parts = [self._profile_scores(member, request, graph) for member in loaded.members]
            return combine(loaded.stack, [s for s, _ in parts]), sum(c for _, c in parts)
        if loaded.fast is None:
            smiles = [request.smiles] * len(request.targets)
            table = pairs_from_columns(smiles, [s for _, s in request.targets], source="targets")
            return loaded.trained.predict(table), 0
        fast = loaded.fast
        compound = fast.profile_compound(graph)
        weights = fast.profile_weights(compound)
        try:
            slab = self._slab(loaded)
            slots, computed = self._profile_slots(loaded, slab, request.targets)
        except OSError as error:  # the slab's disk is full or unwritable: score from memory, slower
            logger.warning("profile slab unusable (%s): scoring this profile without it", error)
            return self._profile_scores_unslabbed(loaded, request.targets, compound, weights)
        scores = np.empty(len(slots))
        for start, stop in _stretches(slots, PROFILE_STRETCH):
            first = slots[start]
            scores[start:stop] = fast.profile_rows(compound, slab.rows(first, first + stop - start), weights)
            slab.release(first, first + stop - start)  # the pages stay cached, outside this process
        return scores, computed

    def _profile_scores_unslabbed(
        self,
        loaded: LoadedModel,
        targets: Sequence[tuple[str, str]],
        compound: ProfiledCompound,
        weights: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[np.ndarray, int]:
        """A profile without the slab: each target's row laid out in memory and scored in stretches;
        and how many targets' tensors had to be computed (in neither the memory cache nor the store)."""
        fast = loaded.fast
        assert fast is not None
        computed = sum(
            self.targets.peek((loaded.cache_key, key)) is None and not self.tensor_store.has(loaded.cache_key, sequence)
            for key, sequence in targets
        )
        rows = torch.empty(PROFILE_STRETCH, fast.blocks.size + fast.width, dtype=fast.dtype)
        scores = np.empty(len(targets))
        for start in range(0, len(targets), PROFILE_STRETCH):
            stretch = targets[start : start + PROFILE_STRETCH]
            for i, tensors in enumerate(self._profile_tensors(loaded, stretch)):
                fast.profile_row(tensors, out=rows[i])
            scores[start : start + len(stretch)] = fast.profile_rows(compound, rows[: len(stretch)], weights)
        return scores, computed

    def explain_now(self, model: ResolvedModel, smiles: str, sequence: str, top: int = 10) -> Explanation:
        loaded = self.load(model)
        if loaded.trained.drugban is None:
            raise InvalidInput(f"explanations need a DrugBAN model; {model.ref} is {model.model_type}")
        return explain_pair(
            loaded.trained.drugban,
            smiles,
            sequence,
            top_atoms=top,
            top_residues=top,
            precision=self.compute.precision,
        )

    def evidence_now(self, request: EvidenceRequest) -> EvidenceAnswer:
        evidence = self.load(request.model).trained.evidence
        if evidence is None:
            return EvidenceAnswer(evidence=None)
        try:
            protein = normalize_protein(request.sequence)
        except RepurposeError as error:
            raise InvalidInput(error.message) from None
        fingerprints, kept, _ = self.fingerprints.get_many(request.smiles)  # a hit was scored: RDKit read it
        out = [BinderEvidence() for _ in request.smiles]
        for i, found in zip(kept, evidence.evidence(protein, fingerprints), strict=True):
            out[i] = found
        return EvidenceAnswer(evidence=out)

    def _profile_evidence(self, loaded: LoadedModel, request: ProfileRequest) -> list[BinderEvidence] | None:
        """Per target, the compound's nearest training binder; its domain once (the same for all)."""
        evidence = loaded.trained.evidence
        if evidence is None:
            return None
        fingerprints, kept, _ = self.fingerprints.get_many([request.smiles])
        if not kept:
            return None
        domain = evidence.max_training_similarity(fingerprints)
        return [evidence.evidence(normalize_protein(s), fingerprints, domain)[0] for _, s in request.targets]

    def _slab(self, loaded: LoadedModel) -> TargetSlab:
        """The model's profile rows (``scoring.target_slab``), made on its first profile."""
        fast = loaded.fast
        assert fast is not None
        with self._model_lock:
            slab = self._slabs.get(loaded.cache_key)
            if slab is None:
                slab = self._slabs[loaded.cache_key] = TargetSlab(fast.blocks.size + fast.width, fast.dtype)
            return slab

    def _profile_slots(
        self, loaded: LoadedModel, slab: TargetSlab, targets: Sequence[tuple[str, str]]
    ) -> tuple[list[int], int]:
        """Each target's row in the slab, appending those it lacks; and how many it lacked."""
        fast = loaded.fast
        assert fast is not None
        missing = [(key, sequence) for key, sequence in targets if slab.slot((key, sequence)) is None]
        row = torch.empty(slab.row_numbers, dtype=slab.dtype)
        for target, tensors in zip(missing, self._profile_tensors(loaded, missing), strict=True):
            slab.add(target, fast.profile_row(tensors, out=row))
        slots = [slab.slot(target) for target in targets]
        assert all(slot is not None for slot in slots)
        return slots, len(missing)  # type: ignore[return-value]

    def _profile_tensors(self, loaded: LoadedModel, targets: Sequence[tuple[str, str]]) -> Iterator[TargetTensors]:
        """Targets' tensors for a profile, in order: from memory, else read from the store without
        caching them (a profile scans every target in the same order: an LRU smaller than the scan
        would hit none and evict a screen's target), else computed (cached and stored). The reads
        run ahead on threads: they wait on the store, while this thread lays out what was read."""
        fast = loaded.fast
        assert fast is not None

        def memory_or_store(target: tuple[str, str]) -> TargetTensors | None:
            key, sequence = target
            found = self.targets.peek((loaded.cache_key, key))
            if found is None and fast.dtype == torch.float32:
                found = self.tensor_store.load(loaded.cache_key, sequence, fast.width)
            return found

        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="profile-read") as readers:
            for (key, sequence), found in zip(targets, _read_ahead(readers, memory_or_store, targets), strict=True):
                yield found if found is not None else self._target_fresh(loaded, key, sequence)[0]

    def _target(self, loaded: LoadedModel, key: str, sequence: str, *, store: bool = True) -> TargetTensors:
        return self._target_fresh(loaded, key, sequence, store=store)[0]

    def _target_fresh(
        self, loaded: LoadedModel, key: str, sequence: str, *, store: bool = True
    ) -> tuple[TargetTensors, bool]:
        """The target's tensors for this model, and whether they were not in memory (read from the
        artifact store, or computed now and, with ``store``, stored there)."""
        fast = loaded.fast
        assert fast is not None

        def read_or_compute() -> TargetTensors:
            if fast.dtype != torch.float32:  # the store holds float32 (a float64 model: exactness tests)
                return fast.target_tensors(sequence)
            stored = self.tensor_store.load(loaded.cache_key, sequence, fast.width)
            if stored is not None:
                return stored
            tensors = fast.target_tensors(sequence)
            if not store:
                return tensors
            try:
                self.tensor_store.save(loaded.cache_key, sequence, tensors)
            except OSError as error:  # a store we cannot write to costs the next replica a computation, no more
                logger.warning("could not store target tensors for %s: %s", key, error)
            return tensors

        return self.targets.get((loaded.cache_key, key), read_or_compute)

    def _knn_scores(self, knn: KnnIndex, smiles: list[str], sequence: str) -> tuple[np.ndarray, list[CompoundError]]:
        """A chunk against one target's binders: cached fingerprints, one Tanimoto product."""
        try:
            protein = normalize_protein(sequence)
        except RepurposeError as error:
            raise InvalidInput(error.message) from None
        fingerprints, kept, failed = self.fingerprints.get_many(smiles)
        scores = np.full(len(smiles), np.nan)
        scores[kept] = knn.score_target(protein, fingerprints)
        return scores, [CompoundError(index=f.index, smiles=f.smiles, reason=f.reason) for f in failed]

    def _baseline_scores(
        self, loaded: LoadedModel, smiles: list[str], sequence: str
    ) -> tuple[np.ndarray, list[CompoundError]]:
        scores = np.full(len(smiles), np.nan)
        failures: list[CompoundError] = []
        kept: list[int] = []
        for i, text in enumerate(smiles):
            try:
                self.compounds.get(text)
                kept.append(i)
            except RepurposeError as error:
                failures.append(CompoundError(index=i, smiles=text, reason=error.message))
        if kept:
            table = pairs_from_columns([smiles[i] for i in kept], [sequence] * len(kept), source="chunk")
            scores[kept] = loaded.trained.predict(table)
        return scores, failures

    def stats(self) -> ScorerStats:
        with self._model_lock:
            state_caches = list(_state_caches(self._models.values()))
            retired_hits, retired_misses = self._retired_state_hits, self._retired_state_misses
        return ScorerStats(
            compounds=len(self.compounds),
            compound_hits=self.compounds.hits,
            compound_misses=self.compounds.misses,
            targets=len(self.targets),
            target_bytes=self.targets.bytes,
            target_hits=self.targets.hits,
            target_misses=self.targets.misses,
            models=list(self._models),
            pairs_scored=self.pairs_scored,
            rss_bytes=_rss_bytes(),
            compound_state_bytes=sum(cache.bytes for cache in state_caches),
            compound_state_hits=retired_hits + sum(cache.hits for cache in state_caches),
            compound_state_misses=retired_misses + sum(cache.misses for cache in state_caches),
        )


def _state_caches(models: Iterable[LoadedModel]) -> Iterator[CompoundStateCache]:
    """The kept-state caches of ``models``' DrugBANs, the ensembles' members' included."""
    pending = list(models)
    while pending:
        loaded = pending.pop()
        pending.extend(loaded.members)
        if loaded.fast is not None and loaded.fast.states is not None:
            yield loaded.fast.states


def _read_ahead(pool: ThreadPoolExecutor, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``function`` of each item, in order, with up to ``READ_AHEAD`` calls running ahead on ``pool``."""
    running: deque[Future[R]] = deque()
    for item in items:
        running.append(pool.submit(function, item))
        if len(running) >= READ_AHEAD:
            yield running.popleft().result()
    while running:
        yield running.popleft().result()


def _stretches(slots: Sequence[int], longest: int) -> Iterator[tuple[int, int]]:
    """Ranges [start, stop) of positions whose slots follow each other, at most ``longest`` long."""
    start = 0
    for i in range(1, len(slots) + 1):
        if i == len(slots) or slots[i] != slots[i - 1] + 1 or i - start == longest:
            if i > start:
                yield start, i
            start = i


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux
        return 0


def _sequence_key(sequence: str) -> str:
    return "seq-" + hashlib.sha256(normalize_protein(sequence).encode()).hexdigest()[:16]
