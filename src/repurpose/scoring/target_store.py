"""Per-target tensors in the artifact store: computed once per (model, target), read on demand.

A scorer replica keeps the tensors of the targets it uses (``TargetTensors``: G's upper triangle
and two vectors, 1.13 MiB per target in float32) in a memory cache bounded by bytes
(``scoring.core.TargetCache``); beyond it they come from here (a profile reads each once, into
the replica's profile slab: ``scoring.target_slab``). Computing one target's tensors runs
its protein through the CNN and the projection (about 20 ms on a core); reading them is a file.

- Layout: ``target-tensors/v1/<model key>/<sha256 of the sequence>.npy``: one float32 vector
  (``TargetTensors.flat``). The model key is the published model directory's content address
  (``models/<sha256>``, plus ``/<member path>`` for an ensemble's DrugBAN member), the sequence
  the normalised one: a key never names two different contents, so nothing is ever invalidated.
- The background worker (``TargetTensorWorker``): a detached Ray actor named
  ``target-tensors``, declaring no CPU and running at a lower priority (nice 10) on one thread,
  so it yields to scoring. Registering a target (``services.targets``) sends it the target's
  sequence with the DrugBAN models in production or staging; registering a model version
  (``ModelRegistry.add_version``) sends the model with every registered target's sequence. It
  skips what the store holds already. A scorer that needs a target before the worker got to it
  computes it itself and writes it here too.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import ray

from repurpose.contracts.targets import normalize_protein
from repurpose.errors import ArtifactNotFound
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.model.directory import TrainedModel
    from repurpose.model.drugban import DrugBAN
    from repurpose.model.fast_scoring import FastScorer, TargetTensors

logger = logging.getLogger(__name__)

TENSORS_PREFIX = "target-tensors/v1"
WORKER_NAME = "target-tensors"
WORKER_NICE = 10
WORKER_MODELS = 2  # models the worker keeps loaded


def sequence_key(sequence: str) -> str:
    """The sha256 of the normalised sequence (InvalidInput for a sequence that is no protein)."""
    return hashlib.sha256(normalize_protein(sequence).encode("ascii")).hexdigest()


def drugban_parts(trained: TrainedModel, key: str) -> list[tuple[str, DrugBAN]]:
    """Every DrugBAN in a loaded model directory, with its model key: the model itself, or an
    ensemble's members (``<key>/<member path>``, the keys ``ScoringCore`` caches them under)."""
    if trained.members:
        return [
            part
            for entry, member in zip(trained.stack.members, trained.members, strict=True)
            for part in drugban_parts(member, f"{key}/{entry.path}")
        ]
    return [(key, trained.drugban)] if trained.drugban is not None else []


class TargetTensorStore:
    """``TargetTensors`` by (model key, sequence) in an artifact store."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    def path(self, model_key: str, sequence: str) -> str:
        return f"{TENSORS_PREFIX}/{model_key}/{sequence_key(sequence)}.npy"

    def has(self, model_key: str, sequence: str) -> bool:
        return self.artifacts.exists(self.path(model_key, sequence))

    def load(self, model_key: str, sequence: str, width: int) -> TargetTensors | None:
        """The stored tensors, or None when none are stored (or the file is damaged: logged)."""
        import torch

        from repurpose.model.fast_scoring import TargetTensors

        path = self.path(model_key, sequence)
        try:
            with self.artifacts.open_read(path) as f:
                flat = _read_vector(f)
            return TargetTensors.from_flat(torch.from_numpy(flat), width)
        except ArtifactNotFound:
            return None
        except ValueError as error:
            logger.warning("target tensors at %s are damaged (%s): computing them again", path, error)
            return None

    def save(self, model_key: str, sequence: str, tensors: TargetTensors) -> None:
        buffer = io.BytesIO()
        np.save(buffer, tensors.flat().float().numpy(), allow_pickle=False)
        self.artifacts.put_bytes(self.path(model_key, sequence), buffer.getvalue())


def _read_vector(f: IO[bytes]) -> np.ndarray:
    """A float32 vector from an open ``.npy`` file, read straight into its array (``np.load`` of
    the file's bytes costs a second copy: half of a cold profile's reading time); ValueError if
    the file holds anything else or less."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype != np.float32 or len(shape) != 1:
        raise ValueError(f"{dtype} numbers of shape {shape}, not a float32 vector")
    flat = np.empty(shape, dtype=np.float32)
    if cast(io.BufferedIOBase, f).readinto(flat.data.cast("B")) != flat.nbytes:  # an "rb" file: buffered
        raise ValueError("the file ends early")
    return flat


class TargetTensorWorker:
    """Computes missing target tensors in the background, one (model, sequence) at a time."""

    def __init__(self, threads: int | None = 1) -> None:
        """``threads``: PyTorch's threads in this process (None: leave them; one in the actor)."""
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self._queue: deque[tuple[Settings, str, str]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._scorers: OrderedDict[tuple[str, str], list[tuple[str, FastScorer]]] = OrderedDict()
        self.computed = 0
        self.failed = 0

    def submit(self, settings: Settings, models: Sequence[str], sequences: Sequence[str]) -> int:
        """Queue every (model, sequence) pair; the pairs queued now."""
        with self._lock:
            self._queue.extend((settings, m, s) for m in models for s in sequences)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="target-tensors", daemon=True)
                self._thread.start()
            return len(self._queue)

    def pending(self) -> int:
        """Pairs queued or in progress (0: the worker is idle)."""
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            return len(self._queue) + int(busy)

    def counts(self) -> dict[str, int]:
        return {"computed": self.computed, "failed": self.failed, "pending": self.pending()}

    def _work(self) -> None:
        os.nice(WORKER_NICE)  # on Linux a thread's own priority: the process's other threads keep theirs
        while True:
            with self._lock:
                if not self._queue:
                    return
                settings, model, sequence = self._queue.popleft()
            try:
                self._one(settings, model, sequence)
            except Exception:  # a model or target gone bad must not stop the others: the scorer computes it
                self.failed += 1
                logger.exception("target tensors of %s for %s failed", sequence[:20], model)

    def _one(self, settings: Settings, model: str, sequence: str) -> None:
        store = TargetTensorStore(ArtifactStore.from_settings(settings))
        for key, scorer in self._parts(settings, model):
            if not store.has(key, sequence):
                store.save(key, sequence, scorer.target_tensors(sequence))
                self.computed += 1

    def _parts(self, settings: Settings, model: str) -> list[tuple[str, FastScorer]]:
        from repurpose.model.fast_scoring import CompoundCache, FastScorer
        from repurpose.model.published import load_published_model

        cache_key = (settings.artifact_url, model)
        parts = self._scorers.get(cache_key)
        if parts is None:
            trained = load_published_model(settings, model)
            parts = [(key, FastScorer(net, CompoundCache(0))) for key, net in drugban_parts(trained, model)]
            self._scorers[cache_key] = parts
            while len(self._scorers) > WORKER_MODELS:
                self._scorers.popitem(last=False)
        self._scorers.move_to_end(cache_key)
        return parts


RemoteTargetTensorWorker = ray.remote(max_restarts=-1, max_task_retries=0)(TargetTensorWorker)


def worker_handle(settings: Settings) -> Any:
    """The cluster's target-tensor worker, created on first use (blocking; Ray connected)."""
    return RemoteTargetTensorWorker.options(
        name=WORKER_NAME,
        namespace=settings.ray_namespace,
        lifetime="detached",
        get_if_exists=True,
        max_concurrency=4,  # ``pending`` answers while ``submit``'s thread works
        num_cpus=0,
    ).remote()


def schedule_target_tensors(settings: Settings, models: Sequence[str], sequences: Sequence[str]) -> None:
    """Have the worker compute what the store lacks of ``models`` × ``sequences`` (blocking briefly:
    finds or creates the worker; the work itself runs there). Nothing to do: no worker is made."""
    if not models or not sequences:
        return
    worker_handle(settings).submit.remote(settings, list(models), list(sequences))
