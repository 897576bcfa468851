"""The process that trains for a TrainingRun grain: a Ray actor with declared resources.

One worker per attempt, named ``training-<run id prefix>-<attempt>`` in the cluster's namespace
and detached, so a grain host that dies and comes back finds it again by name. ``run`` may be
called any number of times (a re-attached grain calls it again): the first call starts the
training in a thread and every call waits for the same outcome.

Durability: after every epoch the checkpoint (model, optimiser, RNG, history, best weights)
goes to the artifact store at ``runs/<run id>/checkpoint.pt``. A worker that finds one there
resumes after its epoch, so a run whose worker died mid-epoch loses at most that epoch, and
ends with the same weights as an uninterrupted run (training is deterministic per seed).

Progress goes to the run's grain (``report``, by the kind and key the job names: this module
never imports the grain's) at most every ``REPORT_SECONDS`` and after every epoch; the curves
also go to MLflow, which gets the checkpoint and the model directory. The job carries the trace
context of the turn that started the worker: the run is a span of that trace, each epoch a span
under it.

Device: the worker computes where ``settings.device`` and the GPUs it declared say
(``model.devices.resolve_compute``): with ``auto``, the GPU Ray assigned to it when the request
declared GPUs (``num_gpus``), else the CPU; ``settings.precision`` sets the precision.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field

from repurpose.contracts.manifest import Manifest
from repurpose.contracts.training import EpochRecord, TrainingConfig, drugban_config
from repurpose.contracts.training_runs import RunProgress, RunRequest
from repurpose.grains import GrainClient, KindRef
from repurpose.runtime import tracing
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.training.loop import Progress

# PyTorch, the rows and the training pipeline are imported where a worker trains: the TrainingRun
# grain imports this module (the job, the outcome, the worker's class) and trains nothing.

logger = logging.getLogger(__name__)

REPORT_SECONDS = 2.0
FLUSH_SECONDS = 2.0  # spans to an unreachable collector must not hold a finished run's outcome
RUNS_PREFIX = "runs"


class WorkerStopped(Exception):
    """Raised inside the training loop when the grain no longer wants this attempt."""


class TrainingJob(BaseModel):
    """Everything a worker needs; it travels to the worker when the grain starts it."""

    run_kind: KindRef = Field(description="The grain kind of the run: progress is reported to (run_kind, run_id).")
    run_id: str
    attempt: int
    request: RunRequest
    model_name: str
    code_version: str
    mlflow_run_id: str | None
    settings: Settings
    trace: dict[str, str] = Field(
        default_factory=dict, description="The trace context (W3C) of the turn that started the worker."
    )

    @property
    def config(self) -> TrainingConfig:
        return self.request.training_config()


class WorkerOutcome(BaseModel):
    """What a finished worker hands back: the published model directory and its manifest."""

    artifact_path: str
    manifest: Manifest
    mlflow_run_id: str | None


def checkpoint_path(run_id: str) -> str:
    from repurpose.training.loop import CHECKPOINT_FILE

    return f"{RUNS_PREFIX}/{run_id}/{CHECKPOINT_FILE}"


def checkpoint_info_path(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}/checkpoint.json"


def worker_name(run_id: str, attempt: int) -> str:
    return f"training-{run_id[:16]}-{attempt}"


class TrainingWorker:
    """Trains one attempt of one run (see the module docs). A plain class: tests run it in-process."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self._lock = threading.Lock()
        self._outcome: Future[WorkerOutcome] | None = None

    def run(self) -> WorkerOutcome:
        with self._lock:
            if self._outcome is None:
                self._outcome = Future()
                threading.Thread(target=self._train, name="training", daemon=True).start()
        return self._outcome.result()

    def _train(self) -> None:
        assert self._outcome is not None
        job = self.job
        attributes: dict[str, str | int] = {
            "repurpose.run_id": job.run_id,
            "repurpose.attempt": job.attempt,
            "repurpose.model": job.model_name,
        }
        try:
            traces = tracing.tracer(job.settings)
            with tracing.span_under(traces, "training run", job.trace, kind=SpanKind.CONSUMER, attributes=attributes):
                outcome = execute_training(job)
        except BaseException as error:
            tracing.flush(job.settings, FLUSH_SECONDS)
            self._outcome.set_exception(error)
            return
        tracing.flush(job.settings, FLUSH_SECONDS)  # before the grain has the outcome: it kills this actor then
        self._outcome.set_result(outcome)


RemoteTrainingWorker = ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=4)(TrainingWorker)  # type: ignore[call-overload]


def execute_training(job: TrainingJob, report: Any | None = None) -> WorkerOutcome:
    """Train ``job`` to the end (resuming its stored checkpoint) and publish the model directory.

    ``report(progress, epoch_record, mlflow_run_id)`` is called with progress; by default it
    calls the run's grain.
    """
    import torch

    from repurpose.data.dataset_access import load_split_pairs
    from repurpose.model.devices import resolve_compute
    from repurpose.model.published import publish_model_dir
    from repurpose.training.loop import CHECKPOINT_FILE
    from repurpose.training.pipeline import CHECKPOINT_DIR, train_on_pairs
    from repurpose.training.tracking import RunTracker

    settings = job.settings
    artifacts = ArtifactStore.from_settings(settings)
    report = report or _GrainReporter(job)
    traces = tracing.tracer(settings)
    torch.set_num_threads(max(1, int(job.request.num_cpus or settings.training_num_cpus)))
    compute = resolve_compute(settings.device, settings.precision, gpus=job.request.num_gpus)
    split = load_split_pairs(artifacts, job.request.dataset_id, job.request.split_id)

    workdir = Path(tempfile.mkdtemp(prefix=f"repurpose-run-{job.run_id[:12]}-"))
    try:
        out = workdir / "model"
        local_checkpoint = out / CHECKPOINT_DIR / CHECKPOINT_FILE
        resume = _fetch_checkpoint(artifacts, job.run_id, local_checkpoint)
        tracker = RunTracker(
            settings,
            run_name=f"{job.model_name} {job.run_id[:12]}",
            run_id=job.mlflow_run_id,
            tags={"repurpose.run_id": job.run_id, "repurpose.dataset_id": job.request.dataset_id},
        )
        tracker.log_params(
            {
                "model_type": job.config.model_type,
                **job.config.params(),  # the type's own parameters only
                "dataset_id": job.request.dataset_id,
                "split_id": job.request.split_id,
                "code_version": job.code_version,
                "train_pairs": len(split["train"]),
                "val_pairs": len(split["val"]),
                "device": str(compute.device),
                "precision": compute.precision,
            }
        )
        drugban = drugban_config(job.config)
        clock = _Clock(drugban.epochs if drugban is not None else 1)

        def on_progress(p: Progress) -> None:
            if clock.due():
                report(clock.progress(p), None, tracker.run_id)

        def on_epoch(record: EpochRecord) -> None:
            epoch = {"repurpose.epoch": record.epoch, "repurpose.train_loss": record.train_loss}
            tracing.record_span(traces, "training epoch", record.seconds, attributes=epoch)
            # durable first: the checkpoint in the store is what a replacement worker resumes from
            artifacts.put_bytes(checkpoint_path(job.run_id), local_checkpoint.read_bytes())
            info = {"epoch": record.epoch, "attempt": job.attempt, "saved_at": datetime.now(UTC).isoformat()}
            artifacts.put_bytes(checkpoint_info_path(job.run_id), json.dumps(info).encode())
            tracker.log_metrics(
                {"train_loss": record.train_loss, "val_auroc": record.val_auroc, "val_auprc": record.val_auprc},
                step=record.epoch,
            )
            report(clock.after_epoch(record), record, tracker.run_id)

        try:
            manifest = train_on_pairs(
                split["train"],
                split["val"],
                out,
                job.config,
                resume=resume,
                on_progress=on_progress,
                on_epoch=on_epoch,
                train_source=f"dataset {job.request.dataset_id[:12]} split {job.request.split_id} (train)",
                val_source=f"dataset {job.request.dataset_id[:12]} split {job.request.split_id} (val)",
                compute=compute,
            )
            tracker.log_metrics({f"final_val_{k}": float(v) for k, v in manifest.val_metrics.model_dump().items()})
            if local_checkpoint.exists():
                tracker.log_artifact(local_checkpoint, "checkpoint")
                shutil.rmtree(local_checkpoint.parent)  # not part of the model directory
            tracker.log_artifacts(out, "model")
            artifact_path = publish_model_dir(artifacts, out)
        except WorkerStopped:
            # Stale (a newer attempt trains on the same MLflow run) or cancelled (the grain ends
            # the MLflow run itself): either way, not this worker's to end.
            raise
        except Exception:
            tracker.finish("FAILED")
            raise
        tracker.finish()
        return WorkerOutcome(artifact_path=artifact_path, manifest=manifest, mlflow_run_id=tracker.run_id)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stored_checkpoint_epoch(artifacts: ArtifactStore, run_id: str) -> int | None:
    """The epoch of the run's stored checkpoint, if it has one."""
    if not artifacts.exists(checkpoint_info_path(run_id)):
        return None
    return int(json.loads(artifacts.get_bytes(checkpoint_info_path(run_id)))["epoch"])


def _fetch_checkpoint(artifacts: ArtifactStore, run_id: str, local: Path) -> bool:
    if not artifacts.exists(checkpoint_path(run_id)):
        return False
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(artifacts.get_bytes(checkpoint_path(run_id)))
    return True


class _Clock:
    """Turns training callbacks into RunProgress, with an ETA from the pace so far."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.started = time.monotonic()
        self.last_report = 0.0
        self.batches_done = 0
        self.val_auroc: float | None = None
        self.best: float | None = None

    def due(self) -> bool:
        self.batches_done += 1
        now = time.monotonic()
        if now - self.last_report < REPORT_SECONDS:
            return False
        self.last_report = now
        return True

    def progress(self, p: Progress) -> RunProgress:
        elapsed = time.monotonic() - self.started
        remaining = (p.batches - p.batch) + (p.epochs - p.epoch) * p.batches
        eta = elapsed / self.batches_done * remaining if self.batches_done else None
        return RunProgress(
            epoch=p.epoch,
            epochs=p.epochs,
            batch=p.batch,
            batches=p.batches,
            loss=p.loss,
            val_auroc=self.val_auroc,
            best_val_auroc=self.best,
            eta_seconds=eta,
            updated_at=datetime.now(UTC),
        )

    def after_epoch(self, record: EpochRecord) -> RunProgress:
        self.val_auroc = record.val_auroc
        self.best = record.val_auroc if self.best is None else max(self.best, record.val_auroc)
        self.last_report = time.monotonic()
        per_epoch = record.seconds
        return RunProgress(
            epoch=record.epoch,
            epochs=self.epochs,
            loss=record.train_loss,
            val_auroc=record.val_auroc,
            best_val_auroc=self.best,
            eta_seconds=per_epoch * (self.epochs - record.epoch),
            updated_at=datetime.now(UTC),
        )


class _GrainReporter:
    """Sends progress to the run's grain; a failed report is logged, never fatal."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self.client = GrainClient(job.settings)

    def __call__(self, progress: RunProgress, record: EpochRecord | None, mlflow_run_id: str | None) -> None:
        try:
            wanted = self.client.call(
                self.job.run_kind, self.job.run_id, "report", self.job.attempt, progress, record, mlflow_run_id
            )
        except Exception as error:
            logger.warning("run %s: progress report failed: %s", self.job.run_id[:12], error)
            return
        if wanted is False:  # cancelled, or a newer attempt took over: stop training now
            raise WorkerStopped(f"run {self.job.run_id[:12]}: attempt {self.job.attempt} is no longer wanted")
