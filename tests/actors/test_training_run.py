"""The TrainingRun grain on a real local Ray cluster (SQLite; a failing run on PostgreSQL too): training, dedup,
a run that outlives its grain host, crash recovery, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import ray
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from repurpose.actors.training_run import (
    RunState,
    TrainingRun,
    code_version,
    list_runs,
    resolve_run,
    run_signature,
    supervise_worker,
)
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.data.dataset_access import load_split_pairs
from repurpose.errors import DatasetNotFound, InvalidInput, RunNotFound, RunStateConflict
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.grains import GrainClient, KindRef
from repurpose.model.published import load_published_model
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.span_files import read_spans
from repurpose.services.runs import default_model_name
from repurpose.settings import Settings
from repurpose.training.worker import RemoteTrainingWorker, TrainingJob, checkpoint_path, worker_name
from tests.helpers import (
    SAMPLE_TRAIN,
    RecordedSpans,
    kill_host,
    on_postgres,
    poll,
    register_dataset,
    start_run,
    wait_for_new_host,
    wait_until,
)

pytestmark = pytest.mark.slow

WAIT_SECONDS = 300  # well within the run's last-resort timeout (pyproject.toml): a slow run fails only its test
# Only positive pairs: a run on them passes every check at the door and fails in its worker.
POSITIVES = "SMILES,Protein,Y\n" + "".join(f"{s},MKVLAAGIVALLLAAGCSSS,1\n" for s in ("CCO", "CCN", "CCC", "c1ccccc1"))


def sample_dataset(client: GrainClient) -> str:
    """The BindingDB sample's training file (172 pairs) as a dataset version."""
    return register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="bindingdb sample").dataset_id


def show(client: GrainClient, run_id: str) -> RunDetail:
    detail: RunDetail = client.call(TrainingRun, run_id, "show")
    return detail


def wait_for(client: GrainClient, run_id: str, done: Callable[[RunDetail], bool], what: str) -> RunDetail:
    def reached(detail: RunDetail) -> bool:
        if not done(detail) and detail.status in ("failed", "cancelled") and what != detail.status:
            pytest.fail(f"run {detail.status} while waiting for {what}: {detail.error}")
        return done(detail)

    return poll(lambda: show(client, run_id), reached, WAIT_SECONDS, f"run {run_id[:12]} reaching {what!r}", 0.5)


def worker_alive(settings: Settings, run_id: str, attempt: int) -> bool:
    try:
        ray.get_actor(worker_name(run_id, attempt), namespace=settings.ray_namespace)
    except ValueError:
        return False
    return True


def test_a_run_trains_once_outlives_its_grain_host_registers_a_candidate_and_is_tracked(
    client: GrainClient, settings: Settings
) -> None:
    dataset_id = sample_dataset(client)
    request = RunRequest(dataset_id=dataset_id, epochs=2, lr=1e-4)

    started = start_run(client, request)
    assert started.created and started.status == "running"
    assert started.run_id == run_signature(request) and started.model_name == "drugban-bindingdb-sample"
    assert start_run(client, request).created is False  # running: the same run, nothing new starts

    killed = kill_host(client, "training-run", started.run_id)
    wait_for_new_host(client, "training-run", started.run_id, killed)
    detail = show(client, started.run_id)  # reactivated from the store by the new host
    assert detail.status in ("running", "succeeded") and detail.attempts == 1

    done = wait_for(client, started.run_id, lambda d: d.status == "succeeded", "succeeded")
    # one worker, the one the dead host started (detached), trained every epoch: no second attempt
    assert [h.epoch for h in done.history] == [1, 2]
    assert done.attempts == 1 and done.resumed_from_epoch is None
    assert done.model is not None and (done.model.name, done.model.version) == ("drugban-bindingdb-sample", 1)
    assert done.code_version == code_version()

    with pytest.raises(RunStateConflict, match="succeeded already"):
        client.call(TrainingRun, done.run_id, "cancel")
    again = start_run(client, request)  # succeeded: returned as it is, nothing trains
    assert (again.created, again.status, again.attempts, again.model) == (False, "succeeded", 1, done.model)
    version = client.call("model", "drugban-bindingdb-sample", "show", 1)
    assert version.stage == "candidate" and version.lineage.run_id == done.run_id
    assert version.lineage.dataset_id == dataset_id and version.lineage.split_id == "random-42"
    # its validation figures are those of the published model on the val part of its split
    trained = load_published_model(settings, version.artifact_path)
    val = load_split_pairs(ArtifactStore.from_settings(settings), dataset_id, "random-42")["val"]
    assert val.labels is not None and done.val_metrics is not None
    expected = binary_metrics(val.labels, trained.predict(val), trained.threshold)
    assert done.val_metrics.auroc == pytest.approx(expected.auroc, abs=1e-6)

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


def test_a_run_is_one_trace_from_its_service_call_through_the_grain_to_its_worker_and_epochs(
    client: GrainClient, settings: Settings
) -> None:
    traced = GrainClient(settings.with_overrides(otel_traces_exporter="file", grain_pool=f"{settings.grain_pool}-t"))
    try:
        dataset_id = sample_dataset(traced)
        recorded = RecordedSpans()
        with recorded.tracer.start_as_current_span("client") as client_span:
            run_id = start_run(traced, RunRequest(dataset_id=dataset_id, epochs=1, seed=11)).run_id
        wait_for(traced, run_id, lambda d: d.status == "succeeded", "succeeded")
        trace_id = client_span.get_span_context().trace_id

        def spans() -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = {}
            for span in read_spans(traced.settings.home / "traces"):
                if int(span["context"]["trace_id"], 16) == trace_id:
                    found.setdefault(span["name"], []).append(span)
            return found

        wanted = {"service runs.start_run", "grain turn training-run.start", "training run", "training epoch"}
        wanted |= {"grain training-run.report", "grain turn training-run.report", "grain turn training-run.complete"}
        found = poll(spans, lambda got: wanted <= set(got), 30, "the run's spans")
    finally:
        traced.stop()
    (service,), (turn,) = found["service runs.start_run"], found["grain turn training-run.start"]
    (worker,), (epoch,) = found["training run"], found["training epoch"]
    assert service["parent_id"] == f"0x{client_span.get_span_context().span_id:016x}"
    assert worker["parent_id"] == turn["context"]["span_id"]  # the job carried the turn's context
    assert epoch["parent_id"] == worker["context"]["span_id"] and epoch["attributes"]["repurpose.epoch"] == 1
    assert any(report["parent_id"] == worker["context"]["span_id"] for report in found["grain training-run.report"])
    pids = [span["resource"]["attributes"]["process.pid"] for span in (service, turn, worker)]
    assert len(set(pids)) == 3  # this process, the grain host, the training worker


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


def test_cancel_stops_the_worker_and_a_restart_resumes(client: GrainClient, settings: Settings) -> None:
    dataset_id = sample_dataset(client)
    request = RunRequest(dataset_id=dataset_id, epochs=200, batch_size=16, seed=3)
    run_id = start_run(client, request).run_id
    wait_for(client, run_id, lambda d: len(d.history) >= 1, "a first epoch")

    cancelled: RunDetail = client.call(TrainingRun, run_id, "cancel")
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    wait_until(lambda: not worker_alive(settings, run_id, 1), 30, "the cancelled run's worker gone")
    assert client.call(TrainingRun, run_id, "cancel").status == "cancelled"  # again: nothing changes
    assert cancelled.mlflow_run_id is not None  # reported with the first epoch
    tracked = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    mlflow_run_id = cancelled.mlflow_run_id
    # ended in the background, after the cancel's turn: KILLED, not left RUNNING
    poll(lambda: tracked.get_run(mlflow_run_id).info.status, lambda status: status == "KILLED", 60, "MLflow run KILLED")

    restarted = start_run(client, request)
    assert (restarted.created, restarted.status, restarted.attempts) == (True, "running", 2)
    assert restarted.resumed_from_epoch is not None and restarted.resumed_from_epoch >= 1
    client.call(TrainingRun, run_id, "cancel")  # moments after the launch: the new worker goes too
    wait_until(lambda: not worker_alive(settings, run_id, 2), 30, "the second attempt's worker gone")


@on_postgres  # on SQLite: test_every_end_of_a_run_frees_its_worker, the same failing run
def test_a_run_on_bad_data_fails_with_the_reason(client: GrainClient) -> None:
    dataset_id = register_dataset(client, POSITIVES.encode(), filename="positives.csv").dataset_id
    run_id = start_run(client, RunRequest(dataset_id=dataset_id, split_id="random-1-0.5-0.5-0", epochs=1)).run_id

    failed = wait_for(client, run_id, lambda d: d.status == "failed", "failed")
    assert failed.error is not None and "every pair is positive" in failed.error
    assert failed.attempts == 1  # a refusal is not a crash: no new worker
    assert client.call(TrainingRun, run_id, "cancel").status == "failed"  # finished: nothing to stop


def test_every_end_of_a_run_frees_its_worker(client: GrainClient, settings: Settings) -> None:
    """A worker whose training raised (a failed run, a stale attempt) is killed, not left holding
    its process and CPU: three failed runs used to take every CPU of a small cluster."""
    dataset_id = register_dataset(client, POSITIVES.encode(), filename="positives.csv").dataset_id
    request = RunRequest(dataset_id=dataset_id, split_id="random-1-0.5-0.5-0", epochs=1, seed=11)
    free_before = ray.available_resources().get("CPU", 0.0)
    run_id = start_run(client, request).run_id
    failed = wait_for(client, run_id, lambda d: d.status == "failed", "failed")
    assert failed.error is not None and "every pair is positive" in failed.error
    wait_until(lambda: not worker_alive(settings, run_id, 1), 30, "the failed run's worker gone")
    wait_until(lambda: ray.available_resources().get("CPU", 0.0) >= free_before, 30, "its CPU back")

    # A stale attempt (the run is at attempt 1 and failed): its worker ends and goes, the run stays as it was.
    job = TrainingJob(
        run_kind=KindRef.of(TrainingRun),
        run_id=run_id,
        attempt=5,
        request=request,
        model_name=failed.model_name,
        code_version=failed.code_version,
        mlflow_run_id=None,
        settings=settings,
    )
    stale = RemoteTrainingWorker.options(
        name=worker_name(run_id, 5), namespace=settings.ray_namespace, lifetime="detached", num_cpus=1
    ).remote(job)
    asyncio.run(supervise_worker(client, run_id, stale, 5))
    wait_until(lambda: not worker_alive(settings, run_id, 5), 30, "the stale attempt's worker gone")
    after = show(client, run_id)
    assert (after.status, after.attempts, after.error) == ("failed", 1, failed.error)


def test_run_requests_are_checked_field_by_field() -> None:
    """What the gateway and the CLI refuse before a run exists (a 422 naming the field)."""
    dataset = "a" * 64
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"split_id": "../../../etc/passwd"}, "split_id", "never a path"),
        ({"split_id": "random-42\n"}, "split_id", "never a path"),
        ({"split_id": "sideways-1"}, "split_id", "'sideways-1' is not a split id"),
        ({"split_id": "random-42-0.50-0.25-0.25"}, "split_id", "not written canonically"),
        ({"seed": 2**70}, "seed", "less than or equal to 4294967295"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"seed": "5"}, "seed", "valid integer"),
        ({"epochs": 0}, "epochs", "greater than or equal to 1"),
        ({"batch_size": 10**6}, "batch_size", "less than or equal to 4096"),
        ({"num_cpus": 0}, "num_cpus", "greater than 0"),
        ({"model_type": "rf", "epochs": 5}, "epochs", "rf models do not use epochs"),
        ({"model_type": "xgb", "lr": 0.1}, "lr", "xgb models do not use lr"),
        ({"model_type": "rf", "num_gpus": 1}, "num_gpus", "rf models do not use num_gpus"),
        ({"model_type": "knn", "batch_size": 32}, "batch_size", "knn models do not use batch_size"),
        ({"model_type": "knn", "num_gpus": 1}, "num_gpus", "knn models do not use num_gpus"),
        ({"model_type": "knn", "seed": 3}, "seed", "knn models do not use seed"),
        ({"model_type": "svm"}, "model_type", "'drugban', 'rf', 'xgb', 'knn' or 'ensemble'"),
        ({"model_type": "rf", "members": ["knn", "xgb"]}, "members", "rf models have no members"),
        ({"model_type": "ensemble", "members": ["knn"]}, "members", "two or more different member types"),
        ({"model_type": "ensemble", "epochs": 3}, "epochs", "ensemble models without a drugban member do not use"),
        ({"model_type": "ensemble", "num_gpus": 1}, "num_gpus", "without a drugban member do not use num_gpus"),
        ({"epoch": 5}, "epoch", "Extra inputs are not permitted"),
    ]
    for fields, field, message in cases:
        with pytest.raises(ValidationError) as refused:
            RunRequest.model_validate_json(json.dumps({"dataset_id": dataset, **fields}))
        first = refused.value.errors()[0]
        assert first["loc"] == (field,) and message in first["msg"], (fields, first)
    with pytest.raises(ValidationError) as refused:
        RunRequest.model_validate({"dataset_id": dataset, "model_type": "ensemble", "members": ["knn", "svm"]})
    assert refused.value.errors()[0]["loc"] == ("members", 1)  # the CLI names --members
    rf = RunRequest.model_validate_json(json.dumps({"dataset_id": dataset, "model_type": "rf", "seed": 2**32 - 1}))
    assert RunRequest.model_validate_json(rf.model_dump_json()) == rf  # a baseline's echoed request reads back


def test_a_run_stored_before_the_checks_stays_readable() -> None:
    stored = RunRequest(dataset_id="a" * 64).model_dump() | {"split_id": "../../../etc/passwd", "seed": 2**70}
    state = RunState.model_validate({"request": stored, "status": "failed"})
    assert state.request is not None and (state.request.seed, state.request.split_id) == (2**70, "../../../etc/passwd")
    # the gateway client reads a run's answer back as RunDetail: an rf run stored with epochs (once
    # allowed and ignored) must still parse there
    rf = RunRequest(dataset_id="a" * 64, model_type="rf").model_dump() | {"epochs": 5}
    answer = {
        "run_id": "b" * 64,
        "status": "succeeded",
        "request": rf,
        "model_name": "rf-x",
        "code_version": "c",
        "created_at": "2026-11-01T00:00:00Z",
        "attempts": 1,
    }
    detail = RunDetail.model_validate_json(json.dumps(answer))
    assert (detail.request.model_type, detail.request.epochs) == ("rf", 5)
    with pytest.raises(ValidationError, match="rf models do not use epochs"):
        RunRequest.model_validate(rf)  # a new request is still checked


def test_a_run_records_only_its_types_settings() -> None:
    old_defaults = {"epochs": 100, "batch_size": 64, "lr": 5e-5, "seed": 42, "num_gpus": 0}  # once in every request
    rf = RunRequest.model_validate({"dataset_id": "a" * 64, "model_type": "rf", **old_defaults})
    knn = RunRequest.model_validate({"dataset_id": "a" * 64, "model_type": "knn", **old_defaults})
    assert (rf.epochs, rf.batch_size, rf.lr, rf.seed) == (None, None, None, 42)
    assert (knn.epochs, knn.seed) == (None, None)
    assert rf.training_config().model_dump() == {
        "model_type": "rf",
        "seed": 42,
        "n_estimators": 500,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
    }
    assert RunRequest(dataset_id="a" * 64).drugban_epochs() == 100 and rf.drugban_epochs() is None
    ensemble = RunRequest.model_validate_json(
        json.dumps({"dataset_id": "a" * 64, "model_type": "ensemble", "members": ["drugban", "knn"], "epochs": 2})
    )
    config = ensemble.training_config()
    assert config.model_type == "ensemble" and config.params()["drugban.epochs"] == 2
    assert ensemble.drugban_epochs() == 2


def test_bad_requests_are_refused_before_anything_runs(client: GrainClient, engine: object) -> None:
    unknown = "0" * 64
    with pytest.raises(DatasetNotFound):
        start_run(client, RunRequest(dataset_id=unknown))
    dataset_id = sample_dataset(client)
    with pytest.raises(InvalidInput, match="asks for 1 GPU"):
        start_run(client, RunRequest(dataset_id=dataset_id, num_gpus=1))
    with pytest.raises(InvalidInput, match="asks for 64 CPU"):  # a worker Ray could never place
        start_run(client, RunRequest(dataset_id=dataset_id, num_cpus=64))
    with pytest.raises(InvalidInput, match=r"split random-42-1-0-0 of dataset \w+ has no val rows"):
        start_run(client, RunRequest(dataset_id=dataset_id, split_id="random-42-1-0-0"))
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
    assert run_signature(rf) == run_signature(RunRequest(dataset_id="a" * 64, model_type="rf", seed=42))  # default
    assert run_signature(rf) != run_signature(RunRequest(dataset_id="a" * 64, model_type="rf", seed=3))
    ensemble = RunRequest(dataset_id="a" * 64, model_type="ensemble")
    assert run_signature(ensemble) == run_signature(ensemble.model_copy(update={"members": ["knn", "xgb"]}))
    assert run_signature(ensemble) != run_signature(ensemble.model_copy(update={"members": ["knn", "rf"]}))
    assert default_model_name("drugban", "Human random / train") == "drugban-human-random-train"
