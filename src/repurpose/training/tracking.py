"""MLflow tracking of training runs: params, per-epoch metrics, final metrics, checkpoint, model.

Uses ``MlflowClient`` with explicit run ids instead of MLflow's global "active run", because a
training worker reports from callbacks and may resume a run another worker began (the MLflow
run id travels in the TrainingRun grain's state, so a resumed run continues the same curves).

With the default local store (``sqlite:///<home>/mlflow.db``) run artifacts go to
``<home>/mlflow-artifacts``; with ``MLFLOW_TRACKING_URI`` set, the server decides.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from repurpose.settings import Settings

logger = logging.getLogger(__name__)

EXPERIMENT = "repurpose"


class RunTracker:
    """One MLflow run; every call is best effort: tracking trouble never fails a training."""

    def __init__(self, settings: Settings, *, run_name: str, run_id: str | None, tags: dict[str, str]) -> None:
        from mlflow.tracking import MlflowClient  # slow to import: only where runs are tracked

        self._client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        if run_id is not None:
            self.run_id = run_id
            self._client.update_run(run_id, status="RUNNING")
            return
        experiment_id = self._experiment(settings)
        self.run_id = self._client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id

    def _experiment(self, settings: Settings) -> str:
        found = self._client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        location = None
        if settings.mlflow_tracking_uri == f"sqlite:///{settings.home / 'mlflow.db'}":  # our local default
            location = (settings.home / "mlflow-artifacts").as_uri()
        try:
            return str(self._client.create_experiment(EXPERIMENT, artifact_location=location))
        except Exception:  # another worker created it first
            found = self._client.get_experiment_by_name(EXPERIMENT)
            if found is None:
                raise
            return str(found.experiment_id)

    def log_params(self, params: dict[str, Any]) -> None:
        self._quietly(self._log_params, params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._quietly(self._log_metrics, metrics, step)

    def log_artifacts(self, local_dir: Path, artifact_path: str) -> None:
        self._quietly(self._client.log_artifacts, self.run_id, str(local_dir), artifact_path)

    def log_artifact(self, local_file: Path, artifact_path: str) -> None:
        self._quietly(self._client.log_artifact, self.run_id, str(local_file), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self._quietly(self._client.set_terminated, self.run_id, status)

    def _log_params(self, params: dict[str, Any]) -> None:
        existing = self._client.get_run(self.run_id).data.params
        for key, value in params.items():
            if key not in existing:  # MLflow params are write-once; a resumed run has them already
                self._client.log_param(self.run_id, key, value)

    def _log_metrics(self, metrics: dict[str, float], step: int | None) -> None:
        for key, value in metrics.items():
            self._client.log_metric(self.run_id, key, float(value), step=step)

    def _quietly(self, function: Any, *args: Any) -> None:
        try:
            function(*args)
        except Exception as error:
            logger.warning("MLflow tracking failed (%s): %s", getattr(function, "__name__", function), error)


def end_tracked_run(settings: Settings, run_id: str, status: str) -> None:
    """Mark MLflow run ``run_id`` ended (``KILLED``, ``FAILED``) when its worker cannot: best effort."""
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=settings.mlflow_tracking_uri).set_terminated(run_id, status)
    except Exception as error:
        logger.warning("MLflow: could not end run %s as %s: %s", run_id, status, error)
