"""The TrainingRun grain on a real local Ray cluster: training, dedup, crash recovery, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import ray
from mlflow.tracking import MlflowClient

from repurpose.actors.dataset_version import register_dataset
from repurpose.actors.training_run import (
    TrainingRun,
    code_version,
    default_model_name,
    list_runs,
    resolve_run,
    run_signature,
    start_run,
)
from repurpose.artifacts import ArtifactStore
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.errors import DatasetNotFound, InvalidInput, RunNotFound, RunStateConflict
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from repurpose.training_worker import checkpoint_path, worker_name
from tests.actors.support import kill_host
from tests.helpers import SAMPLE_TRAIN

pytestmark = pytest.mark.slow

WAIT_SECONDS = 600


def sample_dataset(client: GrainClient) -> str:
    """The BindingDB sample's training file (172 pairs) as a dataset version."""
    return register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="bindingdb sample").dataset_id


def show(client: GrainClient, run_id: str) -> RunDetail:
    detail: RunDetail = client.call(TrainingRun, run_id, "show")
    return detail


def wait_for(client: GrainClient, run_id: str, done: Callable[[RunDetail], bool], what: str) -> RunDetail:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        detail = show(client, run_id)
        if done(detail):
            return detail
        if detail.status in ("failed", "cancelled") and what != detail.status:
            pytest.fail(f"run {detail.status} while waiting for {what}: {detail.error}")
        time.sleep(0.5)
    pytest.fail(f"run {run_id[:12]} did not reach '{what}' in {WAIT_SECONDS}s: {show(client, run_id)}")


def worker_alive(settings: Settings, run_id: str, attempt: int) -> bool:
    try:
        ray.get_actor(worker_name(run_id, attempt), namespace=settings.ray_namespace)
    except ValueError:
        return False
    return True


def test_a_run_trains_once_registers_a_candidate_and_is_tracked(client: GrainClient, settings: Settings) -> None:
    dataset_id = sample_dataset(client)
    request = RunRequest(dataset_id=dataset_id, epochs=2, lr=1e-4)

    started = start_run(client, request)
    assert started.created and started.status == "running"
    assert started.run_id == run_signature(request) and started.model_name == "drugban-bindingdb-sample"
    assert start_run(client, request).created is False  # running: the same run, nothing new starts

    done = wait_for(client, started.run_id, lambda d: d.status == "succeeded", "succeeded")
    assert [h.epoch for h in done.history] == [1, 2]
    assert done.attempts == 1 and done.resumed_from_epoch is None
    assert done.model is not None and (done.model.name, done.model.version) == ("drugban-bindingdb-sample", 1)
    assert done.val_metrics is not None and 0.0 <= done.val_metrics.auroc <= 1.0
    assert done.code_version == code_version()

    with pytest.raises(RunStateConflict, match="succeeded already"):
        client.call(TrainingRun, done.run_id, "cancel")
    again = start_run(client, request)  # succeeded: returned as it is, nothing trains
    assert (again.created, again.status, again.attempts, again.model) == (False, "succeeded", 1, done.model)
    version = client.call("model", "drugban-bindingdb-sample", "show", 1)
    assert version.stage == "candidate" and version.lineage.run_id == done.run_id
    assert version.lineage.dataset_id == dataset_id and version.lineage.split_id == "random-42"

    tracked = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    assert done.mlflow_run_id is not None
    history = tracked.get_metric_history(done.mlflow_run_id, "val_auroc")
    assert [m.step for m in history] == [1, 2]
    assert tracked.get_run(done.mlflow_run_id).data.params["epochs"] == "2"
    artifacts = {a.path for a in tracked.list_artifacts(done.mlflow_run_id)}
    assert {"checkpoint", "model"} <= artifacts
    finished = tracked.get_run(done.mlflow_run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics["final_val_auroc"] == pytest.approx(done.val_metrics.auroc)


def test_a_killed_worker_is_replaced_and_resumes_from_its_checkpoint(client: GrainClient, settings: Settings) -> None:
    dataset_id = sample_dataset(client)
    request = RunRequest(dataset_id=dataset_id, epochs=3, batch_size=16)
    run_id = start_run(client, request).run_id
    store = ArtifactStore.from_settings(settings)

    wait_for(client, run_id, lambda d: len(d.history) >= 1, "a first epoch")
    assert store.exists(checkpoint_path(run_id))
    ray.kill(ray.get_actor(worker_name(run_id, 1), namespace=settings.ray_namespace), no_restart=True)

    done = wait_for(client, run_id, lambda d: d.status == "succeeded", "succeeded")
    assert done.attempts == 2
    assert done.resumed_from_epoch is not None and done.resumed_from_epoch >= 1
    assert [h.epoch for h in done.history] == [1, 2, 3]  # no epoch twice, none missing


def test_a_run_outlives_its_grain_host(client: GrainClient, settings: Settings) -> None:
    run_id = start_run(client, RunRequest(dataset_id=sample_dataset(client), epochs=2, seed=7)).run_id
    kill_host(client, "training-run", run_id)

    detail = show(client, run_id)  # reactivated from the store; the detached worker trains on
    assert detail.status == "running" and detail.attempts == 1
    done = wait_for(client, run_id, lambda d: d.status == "succeeded", "succeeded")
    assert done.attempts == 1 and done.model is not None


def test_cancel_stops_the_worker_and_a_restart_resumes(client: GrainClient, settings: Settings) -> None:
    dataset_id = sample_dataset(client)
    request = RunRequest(dataset_id=dataset_id, epochs=200, batch_size=16, seed=3)
    run_id = start_run(client, request).run_id
    wait_for(client, run_id, lambda d: len(d.history) >= 1, "a first epoch")

    cancelled: RunDetail = client.call(TrainingRun, run_id, "cancel")
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    deadline = time.monotonic() + 30
    while worker_alive(settings, run_id, 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not worker_alive(settings, run_id, 1)
    assert client.call(TrainingRun, run_id, "cancel").status == "cancelled"  # again: nothing changes
    assert cancelled.mlflow_run_id is not None  # reported with the first epoch
    tracked = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    deadline = time.monotonic() + 60  # ended in the background, after the cancel's turn
    while tracked.get_run(cancelled.mlflow_run_id).info.status != "KILLED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tracked.get_run(cancelled.mlflow_run_id).info.status == "KILLED"  # not left RUNNING

    restarted = start_run(client, request)
    assert (restarted.created, restarted.status, restarted.attempts) == (True, "running", 2)
    assert restarted.resumed_from_epoch is not None and restarted.resumed_from_epoch >= 1
    client.call(TrainingRun, run_id, "cancel")  # moments after the launch: the new worker goes too
    deadline = time.monotonic() + 30
    while worker_alive(settings, run_id, 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not worker_alive(settings, run_id, 2)


def test_a_run_on_bad_data_fails_with_the_reason(client: GrainClient) -> None:
    positives = "SMILES,Protein,Y\n" + "".join(
        f"{s},MKVLAAGIVALLLAAGCSSS,1\n" for s in ("CCO", "CCN", "CCC", "c1ccccc1")
    )
    dataset_id = register_dataset(client, positives.encode(), filename="positives.csv").dataset_id
    run_id = start_run(client, RunRequest(dataset_id=dataset_id, split_id="random-1-0.5-0.5-0", epochs=1)).run_id

    failed = wait_for(client, run_id, lambda d: d.status == "failed", "failed")
    assert failed.error is not None and "every pair is positive" in failed.error
    assert failed.attempts == 1  # a refusal is not a crash: no new worker
    assert client.call(TrainingRun, run_id, "cancel").status == "failed"  # finished: nothing to stop


def test_bad_requests_are_refused_before_anything_runs(client: GrainClient, engine: object) -> None:
    unknown = "0" * 64
    with pytest.raises(DatasetNotFound):
        start_run(client, RunRequest(dataset_id=unknown))
    dataset_id = sample_dataset(client)
    with pytest.raises(InvalidInput, match="asks for 1 GPU"):
        start_run(client, RunRequest(dataset_id=dataset_id, num_gpus=1))
    with pytest.raises(RunNotFound):
        show(client, "f" * 64)
    with pytest.raises(InvalidInput, match="another request's run"):
        client.call(TrainingRun, "f" * 64, "start", RunRequest(dataset_id=dataset_id), "m")
    assert list_runs(engine) == []  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        resolve_run(engine, "xyz")  # type: ignore[arg-type]


def test_signature_covers_what_decides_the_weights() -> None:
    base = RunRequest(dataset_id="a" * 64)
    assert run_signature(base) == run_signature(base.model_copy(update={"num_cpus": 2, "model_name": "other"}))
    assert run_signature(base) != run_signature(base.model_copy(update={"epochs": 99}))
    assert run_signature(base) != run_signature(base.model_copy(update={"split_id": "cold-drug-1"}))
    assert run_signature(base) != run_signature(base, code="0.1.0+000000000000")
    rf = base.model_copy(update={"model_type": "rf"})
    assert run_signature(rf) == run_signature(rf.model_copy(update={"epochs": 5}))  # a forest has no epochs
    assert default_model_name("drugban", "Human random / train") == "drugban-human-random-train"
