"""The TrainingRun grain (kind ``"training-run"``, key = the run's signature) and the store's runs.

A run's id is its signature: the sha256 of the dataset version, split, model type, training
settings and code version (``run_signature``). So the same request made twice, by anyone,
reaches the same grain: a run that succeeded or is running is returned as it is and nothing
trains twice; a run that failed or was cancelled starts again, resuming its last checkpoint.
``services.runs.start_run`` checks the dataset version and its split, then calls ``start``.

The grain does no training itself. ``start`` launches a ``TrainingWorker`` Ray actor with the
declared resources (``num_cpus``; ``num_gpus`` when asked), one per attempt, supervised as
``grains.attempts`` describes: a watcher on the host waits for the worker's outcome and reports
it back to the grain as a call (``complete`` or ``worker_failed``), so every state change still
happens in a turn and is written through; then it kills the worker (an actor whose ``run``
returned or raised still holds its process and its CPUs). The worker reports progress to the
grain by kind and key (``report``).

Crash recovery:
- the worker dies (killed, out of memory, node lost): the watcher sees it and the grain starts
  the next attempt, which resumes from the checkpoint in the artifact store; after
  ``settings.training_worker_restarts`` replacements the run fails;
- the grain host dies: workers are detached and survive it; when the grain is next activated
  (any call, e.g. the worker's next progress report) ``on_activate`` finds its worker by name
  and watches it again, or starts the next attempt if the worker is gone too.

On success the grain registers the published model directory as a new version (stage
``candidate``) in the ModelRegistry grain of the run's model name.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel, Field
from sqlalchemy import Engine

import repurpose
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.training import EpochRecord
from repurpose.contracts.training_runs import (
    FINISHED,
    RunDetail,
    RunModelRef,
    RunProgress,
    RunRequest,
    RunStatus,
    RunSummary,
    StoredRunRequest,
)
from repurpose.errors import InvalidInput, RunNotFound, RunStateConflict
from repurpose.grains import Grain, GrainClient, KindRef, grain
from repurpose.grains.attempts import AttemptWatchers
from repurpose.runtime import tracing
from repurpose.store import list_states
from repurpose.training.tracking import end_tracked_run
from repurpose.training.worker import (
    RemoteTrainingWorker,
    TrainingJob,
    WorkerOutcome,
    stored_checkpoint_epoch,
    worker_name,
)

logger = logging.getLogger(__name__)

KIND = "training-run"
MIN_PREFIX = 6

# The modules whose code decides a trained model's weights: part of every run's signature.
_TRAINING_CODE = (
    "data/drug_graph.py",
    "data/protein_encoding.py",
    "model/pair_batch.py",
    "model/drugban.py",
    "training/loop.py",
    "contracts/training.py",
    "contracts/manifest.py",
    "model/ensemble.py",
    "model/baselines.py",
    "evaluation/classification_metrics.py",
    "training/pipeline.py",
    "model/similarity.py",
)

# A worker that raised failed the run (or was told to stop): that is final, not a crash.
_attempts = AttemptWatchers(KIND, final=lambda _: True, label=lambda run_id: run_id[:12])
_tracking_endings: set[asyncio.Task[None]] = set()  # MLflow runs being ended after a turn


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+<12 hex digits of the training code's sha256>``."""
    digest = hashlib.sha256()
    package = Path(repurpose.__file__).parent
    for name in _TRAINING_CODE:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return f"{repurpose.__version__}+{digest.hexdigest()[:12]}"


def run_signature(request: RunRequest, code: str | None = None) -> str:
    """The run id: what decides the trained weights, hashed (resources and names are not in it):
    the type's own parameters, so a setting left out and the same setting given at its default
    make one run."""
    settings: dict[str, Any] = request.training_config().model_dump(mode="json", exclude={"model_type"})
    document = {
        "dataset_id": request.dataset_id,
        "split_id": request.split_id,
        "model_type": request.model_type,
        "settings": settings,
        "code_version": code or code_version(),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


class RunState(BaseModel):
    request: StoredRunRequest | None = None  # None: never started
    status: RunStatus = "running"
    model_name: str = ""
    code_version: str = ""
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0
    resumed_from_epoch: int | None = None
    progress: RunProgress | None = None
    history: list[EpochRecord] = Field(default_factory=list)
    val_metrics: BinaryMetrics | None = None
    model: RunModelRef | None = None
    mlflow_run_id: str | None = None
    error: str | None = None


@grain(KIND)
class TrainingRun(Grain[RunState]):
    """One training run: its status, progress and curves, and the worker that trains it."""

    async def on_activate(self) -> None:
        if self.state.request is not None and self.state.status == "running":
            await self._attach_or_restart()

    async def start(self, request: RunRequest, model_name: str) -> RunDetail:
        """Start the run (see the module docs): a run running or succeeded is returned as it is."""
        request = RunRequest.model_validate(request)
        if run_signature(request) != self.key:
            raise InvalidInput(f"run {self.key[:12]} is another request's run: its id is {run_signature(request)}")
        state = self.state
        if state.request is not None and state.status in ("running", "succeeded"):
            return self._detail(created=False)
        await _check_resources(request, self.context.settings.training_num_cpus)
        now = dt.datetime.now(dt.UTC)
        if state.request is None:
            self.state = RunState(request=request, model_name=model_name, code_version=code_version(), created_at=now)
        self.state.status, self.state.error, self.state.finished_at = "running", None, None
        self.state.started_at = now
        await self._launch()
        return self._detail(created=True)

    def show(self) -> RunDetail:
        return self._detail()

    def summary(self) -> RunSummary:
        self._started()
        return _summary_of(self.key, self.state)

    def report(
        self, attempt: int, progress: RunProgress, epoch: EpochRecord | None = None, mlflow_run_id: str | None = None
    ) -> bool:
        """Progress from the worker of ``attempt``; False tells a stale or cancelled worker to stop."""
        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return False
        state.progress = RunProgress.model_validate(progress)
        if epoch is not None:
            record = EpochRecord.model_validate(epoch)
            state.history = [h for h in state.history if h.epoch < record.epoch] + [record]
        if mlflow_run_id is not None:
            state.mlflow_run_id = mlflow_run_id
        return True

    async def complete(self, attempt: int, outcome: WorkerOutcome) -> RunDetail:
        """The worker of ``attempt`` finished: register the model version and succeed."""
        from repurpose.actors.model_registry import ModelRegistry
        from repurpose.contracts.models import ModelLineage

        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return self._detail()  # a stale worker's answer, or the run was cancelled meanwhile
        outcome = WorkerOutcome.model_validate(outcome)
        assert state.request is not None
        lineage = ModelLineage(
            source=f"run:{self.key}",
            run_id=self.key,
            dataset_id=state.request.dataset_id,
            split_id=state.request.split_id,
            code_version=state.code_version,
            training=outcome.manifest.training,
        )
        version = await self.context.grains.acall(
            ModelRegistry,
            state.model_name,
            "add_version",
            outcome.artifact_path,
            outcome.manifest,
            lineage,
            idempotency_key=f"run:{self.key}",
        )
        state.model = RunModelRef(name=state.model_name, version=version.version)
        state.val_metrics = outcome.manifest.val_metrics
        state.mlflow_run_id = outcome.mlflow_run_id or state.mlflow_run_id
        if state.progress is not None:
            state.progress = state.progress.model_copy(update={"eta_seconds": 0.0})
        self._finish("succeeded")
        return self._detail()

    async def worker_failed(self, attempt: int, reason: str, crashed: bool) -> RunDetail:
        """The worker of ``attempt`` died (``crashed``: start the next attempt) or raised (fail)."""
        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return self._detail()
        if crashed and state.attempts <= self.context.settings.training_worker_restarts:
            logger.warning("run %s: worker %d died (%s); resuming in a new worker", self.key[:12], attempt, reason)
            await self._launch()
        else:
            state.error = reason if not crashed else f"the training worker died {state.attempts} times: {reason}"
            self._finish("failed")
            await self._end_tracking("FAILED")  # a dead worker could not; for one that raised, again
        return self._detail()

    async def cancel(self) -> RunDetail:
        """Stop the worker; the checkpoint stays, so starting the run again resumes it."""
        state = self._started()
        if state.status == "succeeded":
            raise RunStateConflict(f"run {self.key[:12]} has succeeded already; nothing to cancel", run_id=self.key)
        if state.status == "running":
            self._finish("cancelled")
            # A worker launched moments ago may not be findable by name yet: kill the handle we hold.
            handle = _attempts.worker(self.key, state.attempts)
            if handle is not None:
                await asyncio.to_thread(_kill_worker_handle, handle)
            await asyncio.to_thread(_kill_worker, self.context.settings.ray_namespace, self.key, state.attempts)
            await self._end_tracking("KILLED")
        return self._detail()

    async def _end_tracking(self, status: str) -> None:
        """End the run's MLflow run as ``status`` (its worker is gone and cannot), after this turn:
        a slow or unreachable tracking server must not hold the grain's turn."""
        if self.state.mlflow_run_id is not None:
            ending = asyncio.to_thread(end_tracked_run, self.context.settings, self.state.mlflow_run_id, status)
            task = asyncio.get_running_loop().create_task(ending)
            _tracking_endings.add(task)  # kept until done: the loop holds only weak references
            task.add_done_callback(_tracking_endings.discard)

    # --- the worker -------------------------------------------------------------------------

    async def _launch(self) -> None:
        """Start the next attempt's worker (resuming the stored checkpoint) and watch it."""
        state = self.state
        assert state.request is not None
        state.attempts += 1
        state.resumed_from_epoch = await asyncio.to_thread(stored_checkpoint_epoch, self.context.artifacts, self.key)
        settings = self.context.settings
        job = TrainingJob(
            run_kind=KindRef.of(TrainingRun),
            run_id=self.key,
            attempt=state.attempts,
            request=state.request,
            model_name=state.model_name,
            code_version=state.code_version,
            mlflow_run_id=state.mlflow_run_id,
            settings=settings,
            trace=tracing.inject() or {},
        )
        handle = RemoteTrainingWorker.options(
            name=worker_name(self.key, state.attempts),
            namespace=settings.ray_namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=state.request.num_cpus or settings.training_num_cpus,
            num_gpus=state.request.num_gpus,
        ).remote(job)
        self._watch(handle, state.attempts)

    async def _attach_or_restart(self) -> None:
        name = worker_name(self.key, self.state.attempts)
        try:
            handle = await asyncio.to_thread(ray.get_actor, name, self.context.settings.ray_namespace)
        except ValueError:  # gone with the host's node, or never started before the host died
            logger.warning("run %s: worker %s is gone; resuming in a new worker", self.key[:12], name)
            await self._launch()
            return
        self._watch(handle, self.state.attempts)

    def _watch(self, handle: Any, attempt: int) -> None:
        _attempts.watch(
            self.context.grains, self.key, attempt, handle.run.remote, worker=handle, release=_killer(handle)
        )

    def _finish(self, status: RunStatus) -> None:
        self.state.status = status
        self.state.finished_at = dt.datetime.now(dt.UTC)

    def _started(self) -> RunState:
        if self.state.request is None:
            raise RunNotFound(f"no training run {self.key[:12]}", run_id=self.key)
        return self.state

    def _detail(self, created: bool = False) -> RunDetail:
        state = self._started()
        assert state.request is not None and state.created_at is not None
        return RunDetail(
            run_id=self.key,
            status=state.status,
            request=state.request,
            model_name=state.model_name,
            code_version=state.code_version,
            created_at=state.created_at,
            started_at=state.started_at,
            finished_at=state.finished_at,
            attempts=state.attempts,
            resumed_from_epoch=state.resumed_from_epoch,
            progress=state.progress,
            history=list(state.history),
            val_metrics=state.val_metrics,
            model=state.model,
            mlflow_run_id=state.mlflow_run_id,
            error=state.error,
            created=created,
        )


async def supervise_worker(grains: GrainClient, run_id: str, handle: Any, attempt: int) -> None:
    """What the watcher of a worker does (see the module docs), awaited here."""
    await _attempts.supervise(grains, run_id, attempt, handle.run.remote, release=_killer(handle))


def _killer(handle: Any) -> Callable[[bool], Awaitable[None]]:
    """Kills the worker at every end of its watcher but the watcher's own cancellation (its host
    stopping: the detached worker trains on)."""

    async def kill(_: bool) -> None:
        await asyncio.to_thread(_kill_worker_handle, handle)

    return kill


def _kill_worker(namespace: str, run_id: str, attempt: int) -> None:
    try:
        handle = ray.get_actor(worker_name(run_id, attempt), namespace=namespace)
    except ValueError:
        return
    _kill_worker_handle(handle)


def _kill_worker_handle(handle: Any) -> None:
    with contextlib.suppress(Exception):  # already gone
        ray.kill(handle, no_restart=True)


async def _check_resources(request: RunRequest, default_cpus: float) -> None:
    """Refuse a worker the cluster could never place: it would wait in Ray's queue for ever."""
    resources = await asyncio.to_thread(ray.cluster_resources)
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    wanted_cpus = request.num_cpus or default_cpus
    if wanted_cpus > cpus:
        raise InvalidInput(f"the run asks for {wanted_cpus:g} CPU(s); the cluster has {cpus:g}")
    if request.num_gpus > 0 and gpus < request.num_gpus:
        raise InvalidInput(f"the run asks for {request.num_gpus:g} GPU(s); the cluster has {gpus:g}")


# --- the store's runs ------------------------------------------------------------------------


def list_runs(engine: Engine) -> list[RunSummary]:
    """Every training run, newest first."""
    runs = []
    for stored in list_states(engine, KIND):
        state = RunState.model_validate(stored.state)
        if state.request is not None:
            runs.append(_summary_of(stored.key, state))
    return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)


def resolve_run(engine: Engine, reference: str) -> str:
    """The run id ``reference`` names: the full id or a unique prefix of 6+ hex digits."""
    reference = reference.strip().lower() if isinstance(reference, str) else ""
    if len(reference) == 64 and all(c in "0123456789abcdef" for c in reference):
        return reference
    if len(reference) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in reference):
        raise InvalidInput(f"{reference!r:.80} is not a run id: give the id or its first {MIN_PREFIX}+ hex digits")
    matches = [key for key in (s.key for s in list_states(engine, KIND)) if key.startswith(reference)]
    if not matches:
        raise RunNotFound(f"no training run {reference}", run_id=reference)
    if len(matches) > 1:
        raise InvalidInput(f"{reference!r} matches {len(matches)} runs; give more of the id")
    return matches[0]


def _summary_of(run_id: str, state: RunState) -> RunSummary:
    assert state.request is not None and state.created_at is not None
    return RunSummary(
        run_id=run_id,
        status=state.status,
        model_type=state.request.model_type,
        model_name=state.model_name,
        dataset_id=state.request.dataset_id,
        split_id=state.request.split_id,
        epochs=state.request.drugban_epochs(),
        created_at=state.created_at,
        model=state.model,
        val_auroc=state.val_metrics.auroc if state.val_metrics is not None else None,
    )


__all__ = [
    "FINISHED",
    "KIND",
    "RunState",
    "TrainingRun",
    "code_version",
    "list_runs",
    "resolve_run",
    "run_signature",
]
