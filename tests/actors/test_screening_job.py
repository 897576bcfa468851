"""The ScreeningJob grain on a real local Ray cluster with a deployed scorer and the screening
runner (SQLite; the end-to-end screen on PostgreSQL too): an end-to-end screen, featurised chunks
through Serve, a killed runner, a dead grain host, cancel and refused requests."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import ray
from mlflow.tracking import MlflowClient
from sqlalchemy import Engine

from repurpose.actors.compound_library import compounds_path
from repurpose.actors.model_registry import ModelRegistry, register_model_dir
from repurpose.actors.screening_job import ScreeningJob, kept_hits, list_screens, resolve_screen
from repurpose.actors.target_protein import TargetProtein, registered_targets
from repurpose.actors.training_run import TrainingRun
from repurpose.cluster.bundled_models import BUNDLED_MODEL, register_bundled_models
from repurpose.contracts.ids import SCREEN_ID_PATTERN
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.scoring import CompoundProfile
from repurpose.contracts.screening import ScreenDetail, ScreenRequest, ScreenResultRow, ScreenResults
from repurpose.contracts.targets import MAX_HITS_PER_SCREENING, TargetDetail
from repurpose.contracts.training import EnsembleTraining, KnnTraining, XGBTraining
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.data.pairs import pairs_from_columns
from repurpose.errors import (
    InvalidInput,
    LibraryNotFound,
    ModelNotFound,
    ScreenNotFound,
    ScreenStateConflict,
    TargetNotFound,
)
from repurpose.grains import GrainClient
from repurpose.model.directory import load_model_dir
from repurpose.model.published import publish_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.client import ScorerClient
from repurpose.scoring.core import ScoringCore
from repurpose.scoring.profiling import aprofile_compounds
from repurpose.screening.attempt import featurise_chunk
from repurpose.screening.files import chunk_path, results_path
from repurpose.screening.runner import RUNNER_NAME
from repurpose.settings import Settings
from tests.helpers import (
    BAD_LIBRARY_ROWS,
    LIBRARY_FILE,
    SAMPLE_TRAIN,
    Scorer,
    both_stores,
    kill_host,
    library_csv,
    library_targets,
    poll,
    register_dataset,
    register_library,
    start_run,
    submit_screen,
    wait_for_new_host,
    wait_until,
)

pytestmark = pytest.mark.slow

COMPOUNDS = 300
BAD_ROWS = BAD_LIBRARY_ROWS
WAIT_SECONDS = 300
RAY_CALL_SECONDS = 60  # the runner answers at once, or (restarting) within seconds


@pytest.fixture
def settings(settings: Settings, screening_scorer: Scorer) -> Settings:
    """The test's settings (own pool, store, artifacts) on the module's scorer, chunks of 64."""
    return settings.with_overrides(scorer_app=screening_scorer.app, screening_chunk_size=64)


def prepare(client: GrainClient, compounds: int = COMPOUNDS) -> tuple[str, dict[str, str]]:
    """The bundled model in production, two registered targets and a library; (library id, targets)."""
    register_bundled_models(client, names=[BUNDLED_MODEL])
    targets = library_targets()
    for target_id, sequence in targets.items():
        client.call(TargetProtein, target_id, "register", sequence, idempotent=False)
    library = register_library(
        client, library_csv(compounds, BAD_ROWS), filename="compounds.csv", name="library sample"
    )
    return library.library_id, targets


def show(client: GrainClient, job_id: str) -> ScreenDetail:
    detail: ScreenDetail = client.call(ScreeningJob, job_id, "show")
    return detail


def wait_for(client: GrainClient, job_id: str, done: Callable[[ScreenDetail], bool], what: str) -> ScreenDetail:
    def reached(detail: ScreenDetail) -> bool:
        if not done(detail) and detail.status != "running" and what != detail.status:
            pytest.fail(f"screen {detail.status} while waiting for {what}: {detail.error}")
        return done(detail)

    return poll(lambda: show(client, job_id), reached, WAIT_SECONDS, f"screen {job_id} reaching {what!r}", 0.05)


def finished_run(client: GrainClient, run_id: str) -> RunDetail:
    def fetch() -> RunDetail:
        run: RunDetail = client.call(TrainingRun, run_id, "show")
        return run

    return poll(fetch, lambda run: run.status != "running", WAIT_SECONDS, f"run {run_id[:12]} finished", 0.5)


def runner(settings: Settings) -> Any:
    return ray.get_actor(RUNNER_NAME, namespace=settings.ray_namespace)


def attempt_running(settings: Settings, job_id: str, attempt: int) -> bool:
    """Whether the screening runner runs that attempt now."""
    return (job_id, attempt) in ray.get(runner(settings).running.remote(), timeout=RAY_CALL_SECONDS)


def wait_until_stopped(settings: Settings, job_id: str, attempt: int, seconds: float) -> None:
    wait_until(lambda: not attempt_running(settings, job_id, attempt), seconds, f"attempt {attempt} stopped", 0.02)


def read_results(artifacts: ArtifactStore, job_id: str) -> dict[str, list[dict[str, object]]]:
    with artifacts.open_read(results_path(job_id)) as f:
        rows = pq.read_table(f).to_pylist()
    by_target: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_target.setdefault(str(row["target_id"]), []).append(row)
    return by_target


def assert_complete_results(artifacts: ArtifactStore, job_id: str, targets: dict[str, str]) -> None:
    """results.parquet: every good compound once per target, ranked 1..n by score (ties by id)."""
    results = read_results(artifacts, job_id)
    assert list(results) == list(targets)
    for rows in results.values():
        assert [r["rank"] for r in rows] == list(range(1, COMPOUNDS + 1))
        assert len({r["compound_id"] for r in rows}) == COMPOUNDS
        keys = [(-float(r["score"]), str(r["compound_id"])) for r in rows]  # type: ignore[arg-type]
        assert keys == sorted(keys)
        assert not {r["compound_id"] for r in rows} & {i for i, _ in BAD_ROWS}


@both_stores  # its kind's listing and id lookups (a prefix, any case) on each dialect
def test_a_screen_scores_ranks_reports_bad_rows_and_fills_history(
    client: GrainClient, settings: Settings, engine: Engine, artifacts: ArtifactStore, screening_scorer: Scorer
) -> None:
    library_id, targets = prepare(client)
    request = ScreenRequest(library_id=library_id, targets=list(targets), top=20)

    started = submit_screen(client, request, idempotency_key="e2e-test")
    assert re.match(SCREEN_ID_PATTERN, started.job_id) and started.created and started.status == "running"
    assert (started.compounds, started.chunk_size, started.kept_top) == (COMPOUNDS + 2, 64, 20)
    assert started.model == f"{BUNDLED_MODEL}@1" and started.progress.pairs_total == 2 * (COMPOUNDS + 2)
    again = submit_screen(client, request, idempotency_key="e2e-test")  # a retried submit: the same job
    assert again.job_id == started.job_id
    job_id = started.job_id

    done = wait_for(client, job_id, lambda d: d.status == "succeeded", "succeeded")
    p = done.progress
    assert (p.pairs_done, p.pairs_total, p.chunks_done, p.chunks_total) == (604, 604, 10, 10)
    assert p.eta_seconds == 0.0 and p.pairs_per_second is not None and p.pairs_per_second > 0
    assert done.attempts == 1 and done.attempt_log[0].recorded_chunks == 10 and done.finished_at is not None
    assert done.results_path == results_path(job_id)

    # Bad rows: reported once (id, SMILES, reason), skipped, never fatal.
    failures = {f.compound_id: f for f in done.failures}
    assert done.failures_total == 2 and p.failed_compounds == 2 and set(failures) == {"BAD-RING", "BAD-XYZ"}
    assert failures["BAD-RING"].smiles == "C1CC" and "unclosed ring" in failures["BAD-RING"].reason
    assert failures["BAD-XYZ"].smiles == "XYZ" and "invalid SMILES 'XYZ'" in failures["BAD-XYZ"].reason

    # Every score is the in-process scorer's score for the same pair.
    with artifacts.open_read(compounds_path(library_id)) as f:
        library = pq.read_table(f).to_pylist()
    core = ScoringCore(screening_scorer.settings)
    results = read_results(artifacts, job_id)
    assert_complete_results(artifacts, job_id, targets)
    for target_id, sequence in targets.items():
        expected = core.score_chunk_now(
            ChunkRequest(
                model=done.resolved_model,
                target_key=target_id,
                sequence=sequence,
                smiles=[c["smiles"] for c in library],
            )
        )
        assert {library[f.index]["compound_id"] for f in expected.failures} == set(failures)
        assert {f.reason for f in expected.failures} == {f.reason for f in failures.values()}
        want = {c["compound_id"]: s for c, s in zip(library, expected.scores, strict=True) if s is not None}
        got = {r["compound_id"]: r["score"] for r in results[target_id]}
        assert got.keys() == want.keys()
        assert max(abs(got[k] - want[k]) for k in want) < 1e-6  # type: ignore[operator]

        # The best hits: the state's (shown and kept) are the top of the Parquet ranking.
        ranked = [(r["compound_id"], r["score"]) for r in results[target_id]]
        best = next(b for b in done.best if b.target_id == target_id)
        assert [(h.compound_id, h.score) for h in best.hits] == ranked[:10]
        assert [h.rank for h in best.hits] == list(range(1, 11))

        # The target keeps the screening in its history with its best hits.
        target: TargetDetail = client.call(TargetProtein, target_id, "show")
        (record,) = target.history
        assert (record.job_id, record.model_ref, record.compounds_scored) == (job_id, f"{BUNDLED_MODEL}@1", 300)
        assert record.library == "library sample"
        assert [(h.compound_id, h.score) for h in record.best_hits] == ranked[:MAX_HITS_PER_SCREENING]

    # Results: from the state up to the kept top, from the Parquet beyond it.
    page: ScreenResults = client.call(ScreeningJob, job_id, "results")
    assert (page.top, page.source, page.complete, len(page.rows)) == (20, "state", True, 40)
    first = next(iter(targets))
    deep: ScreenResults = client.call(ScreeningJob, job_id, "results", target=first, top=250)
    assert (deep.source, len(deep.rows)) == ("parquet", 250)
    assert [(r.compound_id, r.score, r.rank) for r in deep.rows] == [
        (r["compound_id"], r["score"], r["rank"]) for r in results[first][:250]
    ]
    assert [r.model_dump() for r in deep.rows[:20]] == [r.model_dump() for r in page.rows[:20]]
    with pytest.raises(InvalidInput, match="not part of screening job"):
        client.call(ScreeningJob, job_id, "results", target="P00533")
    with pytest.raises(InvalidInput, match="top must be 1 to 10000"):
        client.call(ScreeningJob, job_id, "results", top=0)

    with pytest.raises(ScreenStateConflict, match="succeeded already"):
        client.call(ScreeningJob, job_id, "cancel")
    assert not attempt_running(settings, job_id, 1)  # its work done
    assert [s.job_id for s in list_screens(engine)] == [job_id]
    assert resolve_screen(engine, job_id[:9]) == job_id and resolve_screen(engine, job_id[4:10].upper()) == job_id


def test_featurised_chunks_travel_through_serve_and_score_exactly(
    screening_scorer: Scorer, client: GrainClient, settings: Settings
) -> None:
    """A ChunkRequest with graphs pickles through Serve; its scores are the SMILES path's, failures
    are left to the caller, and the screening runner's process has no PyTorch."""
    register_bundled_models(client, names=[BUNDLED_MODEL])
    _, *rows = LIBRARY_FILE.read_text().splitlines()
    smiles = [row.split(",")[1] for row in rows[:50]] + ["XYZ", "C1CC"]
    sequence = next(iter(library_targets().values()))
    scorer_client = ScorerClient(settings, client)
    model = asyncio.run(scorer_client.resolve(BUNDLED_MODEL))
    graphs, failures = featurise_chunk(smiles)
    assert [(f.index, f.smiles) for f in failures] == [(50, "XYZ"), (51, "C1CC")]
    featurised = ChunkRequest(model=model, target_key="T1", sequence=sequence, smiles=smiles, graphs=graphs)
    with pytest.raises(ValueError, match="2 graphs for 52 SMILES"):
        ChunkRequest(model=model, target_key="T1", sequence=sequence, smiles=smiles, graphs=graphs[:2])

    served = asyncio.run(scorer_client.score_chunk(featurised))
    plain = ScoringCore(screening_scorer.settings).score_chunk_now(featurised.model_copy(update={"graphs": None}))
    assert served.failures == [] and served.scores[50:] == [None, None]
    assert [(f.index, f.reason) for f in plain.failures] == [(f.index, f.reason) for f in failures]
    assert max(abs(a - b) for a, b in zip(served.scores[:50], plain.scores[:50], strict=True)) < 1e-6  # type: ignore[operator]

    pid = ray.get(
        runner(screening_scorer.settings).pid.remote(), timeout=RAY_CALL_SECONDS
    )  # the screening_scorer fixture started the runner
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "rdkit" in maps.lower() and "libtorch" not in maps


def test_a_killed_runner_is_restarted_and_the_job_resumes_without_redoing_chunks(
    client: GrainClient, settings: Settings, artifacts: ArtifactStore
) -> None:
    library_id, targets = prepare(client)
    request = ScreenRequest(library_id=library_id, targets=list(targets), top=10, chunk_size=10)
    job_id = submit_screen(client, request).job_id
    wait_for(client, job_id, lambda d: d.progress.chunks_done >= 3, "3 chunks")
    pid = ray.get(runner(settings).pid.remote(), timeout=RAY_CALL_SECONDS)
    ray.kill(runner(settings), no_restart=False)  # as if it died: Ray restarts it

    done = wait_for(client, job_id, lambda d: d.status == "succeeded", "succeeded")
    assert ray.get(runner(settings).pid.remote(), timeout=RAY_CALL_SECONDS) != pid  # a new process under the same name
    first, second = done.attempt_log
    assert done.attempts == 2 and first.outcome is not None and first.outcome.startswith("died")
    assert 3 <= first.recorded_chunks < done.progress.chunks_total
    assert second.skipped_chunks == first.recorded_chunks  # the next attempt skipped what was recorded...
    assert (
        first.recorded_chunks + second.recorded_chunks == done.progress.chunks_total == 2 * 31
    )  # ...and nothing twice
    assert second.outcome == "finished" and done.progress.pairs_done == done.progress.pairs_total
    assert done.failures_total == 2
    assert_complete_results(artifacts, job_id, targets)
    assert artifacts.exists(chunk_path(job_id, list(targets)[1], 30))


def test_a_screen_outlives_its_grain_host(client: GrainClient, settings: Settings, artifacts: ArtifactStore) -> None:
    library_id, targets = prepare(client)
    request = ScreenRequest(library_id=library_id, targets=list(targets), chunk_size=16)
    job_id = submit_screen(client, request).job_id
    wait_for(client, job_id, lambda d: d.progress.chunks_done >= 2, "2 chunks")
    killed = kill_host(client, "screening-job", job_id)
    assert attempt_running(settings, job_id, 1)  # the runner's attempt goes on without the grain's host
    wait_for_new_host(client, "screening-job", job_id, killed)

    done = wait_for(client, job_id, lambda d: d.status == "succeeded", "succeeded")
    # the runner went on; the grain, reactivated on the new host, watched the same attempt to its end
    assert done.attempts == 1 and done.attempt_log[0].recorded_chunks == done.progress.chunks_total
    assert_complete_results(artifacts, job_id, targets)
    # its kept hits, rebuilt from the recorded chunks' files on the new host and merged on from the
    # later reports: the top of the results, evidence and all
    kept: ScreenResults = client.call(ScreeningJob, job_id, "results", top=done.kept_top)
    assert kept.source == "state"
    ranked = read_results(artifacts, job_id)
    expected = [row for target in targets for row in ranked[target][: done.kept_top]]
    fields = list(ScreenResultRow.model_fields)
    assert [r.model_dump() for r in kept.rows] == [{f: row[f] for f in fields} for row in expected]


def test_cancel_stops_the_attempt_and_keeps_what_was_done(client: GrainClient, settings: Settings) -> None:
    library_id, targets = prepare(client)
    request = ScreenRequest(library_id=library_id, targets=list(targets), top=5, chunk_size=4)
    job_id = submit_screen(client, request).job_id
    # chunk by chunk, each against both targets: 4 chunks are the first two of each (the first holds the bad rows)
    wait_for(client, job_id, lambda d: d.progress.chunks_done >= 4, "4 chunks")
    assert attempt_running(settings, job_id, 1)

    cancelled: ScreenDetail = client.call(ScreeningJob, job_id, "cancel")
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert cancelled.attempt_log[-1].outcome == "cancelled"
    wait_until_stopped(settings, job_id, 1, seconds=2)  # promptly: its task was cancelled
    time.sleep(1.0)
    after = show(client, job_id)
    assert after.status == "cancelled" and after.attempts == 1 and after.results_path is None
    assert after.progress.chunks_done == cancelled.progress.chunks_done < after.progress.chunks_total  # stopped
    assert client.call(ScreeningJob, job_id, "cancel").status == "cancelled"  # again: nothing changes

    partial: ScreenResults = client.call(ScreeningJob, job_id, "results", top=3)
    assert partial.complete is False and partial.source == "state"
    first = [r for r in partial.rows if r.target_id == next(iter(targets))]
    assert [r.rank for r in first] == [1, 2, 3]
    deeper: ScreenResults = client.call(ScreeningJob, job_id, "results", target=next(iter(targets)), top=6)
    assert deeper.source == "chunks" and [r.rank for r in deeper.rows] == list(range(1, len(deeper.rows) + 1))
    target: TargetDetail = client.call(TargetProtein, next(iter(targets)), "show")
    assert target.history == []  # only a finished screen enters the history


def test_bad_requests_are_refused_before_anything_runs(client: GrainClient, engine: Engine) -> None:
    library_id, targets = prepare(client, compounds=20)
    good = {"library_id": library_id, "targets": list(targets)}

    with pytest.raises(LibraryNotFound):
        submit_screen(client, ScreenRequest(**{**good, "library_id": "0" * 64}))
    with pytest.raises(TargetNotFound, match="no target 'Q99999'"):
        submit_screen(client, ScreenRequest(**{**good, "targets": [*targets, "Q99999"]}))
    with pytest.raises(InvalidInput, match="is not a target id"):
        submit_screen(client, ScreenRequest(**{**good, "targets": ["not a target!"]}))
    with pytest.raises(ModelNotFound):
        submit_screen(client, ScreenRequest(**good, model="no-such-model"))
    # no model named: the submitter's default (cluster.json's, which `up` may settle after the hosts
    # started with theirs), not the grain host's
    settled = GrainClient(client.settings.with_overrides(default_model="settled-default"))
    with pytest.raises(ModelNotFound, match="no model named 'settled-default'"):
        submit_screen(settled, ScreenRequest(**good))
    with pytest.raises(InvalidInput, match="is not a model name"):
        submit_screen(client, ScreenRequest(**good, model="Bad Model"))
    with pytest.raises(InvalidInput, match="invalid screen request: top: Input should be less than or equal to 10000"):
        submit_screen(client, {**good, "top": 10_001})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="invalid screen request: library_id: 'abc' is not a library id"):
        submit_screen(client, {**good, "library_id": "abc"})  # type: ignore[arg-type]
    with pytest.raises(ScreenNotFound, match="no screening job scr-000000000000"):
        show(client, "scr-000000000000")
    with pytest.raises(InvalidInput, match="is not a screening job id"):
        client.call(ScreeningJob, "job-1", "start", ScreenRequest(**good))
    assert list_screens(engine) == []
    with pytest.raises(InvalidInput, match="is not a screening job id"):
        resolve_screen(engine, "xy")
    with pytest.raises(ScreenNotFound):
        resolve_screen(engine, "scr-abcd")
    assert kept_hits(100, 2) == 100 and kept_hits(10_000, 1) == 1_000 and kept_hits(10_000, 100) == 100


def test_a_screen_without_a_scorer_fails_with_the_reason(settings: Settings) -> None:
    elsewhere = settings.with_overrides(scorer_app="no-scorer-here", grain_pool=f"pool-{uuid.uuid4().hex[:8]}")
    client = GrainClient(elsewhere)  # hosts (and so attempts) that look for another Serve application
    try:
        library_id, targets = prepare(client, compounds=20)
        job_id = submit_screen(client, ScreenRequest(library_id=library_id, targets=list(targets))).job_id
        failed = wait_for(client, job_id, lambda d: d.status == "failed", "failed")
        assert failed.error is not None and "the scorer (Ray Serve application 'no-scorer-here') is not running" in (
            failed.error
        )
        assert failed.attempts == 1  # a refusal is not a crash: no next attempt
    finally:
        client.stop()


def test_a_knn_run_publishes_a_model_the_scorer_screens_with(
    client: GrainClient, settings: Settings, artifacts: ArtifactStore, screening_scorer: Scorer, tmp_path: Path
) -> None:
    dataset_id = register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="sample").dataset_id
    started = start_run(client, RunRequest(dataset_id=dataset_id, model_type="knn"))
    run = finished_run(client, started.run_id)
    assert run.status == "succeeded" and run.model is not None, run.error
    version = client.call(ModelRegistry, run.model.name, "show", run.model.version)
    assert (version.name, version.model_type, version.stage) == ("knn-sample", "knn", "candidate")
    # The module's scorer reads its own store: publish the same content-addressed directory there.
    local = tmp_path / "knn"
    for path in artifacts.list(version.artifact_path):
        artifacts.get_file(path, local / path.rsplit("/", 1)[-1])
    assert publish_model_dir(ArtifactStore.from_settings(screening_scorer.settings), local) == version.artifact_path

    model = load_model_dir(local)
    assert model.knn is not None
    protein, binders = max(model.knn.binders.items(), key=lambda item: len(item[1]))
    client.call(TargetProtein, "KNN-TARGET", "register", protein, idempotent=False)
    rows = [f"BINDER-{i},{s},test" for i, s in enumerate(binders.smiles)]
    library = register_library(
        client, library_csv(50, (("BAD-RING", "C1CC"),)) + "\n".join(rows).encode() + b"\n", filename="knn.csv"
    )
    request = ScreenRequest(library_id=library.library_id, targets=["KNN-TARGET"], model="knn-sample@1", top=5)
    job = submit_screen(client, request, idempotency_key="knn-screen")
    assert job.model == "knn-sample@1"

    done = wait_for(client, job.job_id, lambda d: d.status == "succeeded", "succeeded")
    assert [f.compound_id for f in done.failures] == ["BAD-RING"]
    ranked = read_results(artifacts, job.job_id)["KNN-TARGET"]
    assert len(ranked) == 50 + len(binders)
    assert {str(r["compound_id"]) for r in ranked[: len(binders)]} == {f"BINDER-{i}" for i in range(len(binders))}
    assert all(r["score"] == 1.0 for r in ranked[: len(binders)])  # a known binder is its own nearest binder
    others = [str(r["smiles"]) for r in ranked[len(binders) :]]
    expected = model.predict(pairs_from_columns(others, [protein] * len(others), source="results"))
    assert [float(r["score"]) for r in ranked[len(binders) :]] == pytest.approx(expected.tolist(), abs=1e-9)  # type: ignore[arg-type]
    assert max(expected) < 1.0  # none of the others is a training binder
    # evidence on every kept hit: its nearest training binder (one of its own, Tanimoto 1), the domain
    hits, known = done.best[0].hits, min(5, len(binders))
    assert len(hits) == 5 and all(h.nearest_binder_tanimoto == 1.0 and h.in_domain for h in hits[:known])
    assert all(h.nearest_binder_smiles in binders.smiles and h.in_domain is not None for h in hits)
    assert all(h.drug_like is not None and h.max_training_tanimoto is not None for h in hits)
    assert [r["nearest_binder_tanimoto"] for r in ranked[:5]] == [h.nearest_binder_tanimoto for h in hits]
    assert all(r["drug_like"] is not None for r in ranked)  # and the drug-like flag on every score
    from_state: ScreenResults = client.call(ScreeningJob, job.job_id, "results")
    assert [r.model_dump(exclude={"target_id"}) for r in from_state.rows] == [h.model_dump() for h in hits]


def test_a_screen_keeps_only_drug_like_hits_when_asked(
    client: GrainClient, artifacts: ArtifactStore, screening_scorer: Scorer, knn_model_dir: Path
) -> None:
    """Ethanol and a salt are flagged hits of a plain screen and no hits of a drug-like-only one;
    every score stays in the results either way."""
    manifest = load_model_dir(knn_model_dir).manifest
    lineage = ModelLineage(source="test", code_version=manifest.repurpose_version, training=manifest.training)
    version = register_model_dir(client, "knn-drug-like", knn_model_dir, lineage)
    assert (
        publish_model_dir(ArtifactStore.from_settings(screening_scorer.settings), knn_model_dir)
        == version.artifact_path
    )
    model = load_model_dir(knn_model_dir)
    assert model.knn is not None
    protein = max(model.knn.binders.items(), key=lambda item: len(item[1]))[0]
    client.call(TargetProtein, "DL-TARGET", "register", protein, idempotent=False)
    library = register_library(
        client, library_csv(40, (("ETHANOL", "CCO"), ("SALT", "[Na+].[Cl-]"))), filename="dl.csv"
    )
    hits: dict[bool, dict[str, ScreenResultRow]] = {}
    for only in (False, True):
        request = ScreenRequest(
            library_id=library.library_id,
            targets=["DL-TARGET"],
            model=f"knn-drug-like@{version.version}",
            top=50,
            drug_like_only=only,
        )
        job = submit_screen(client, request)
        wait_for(client, job.job_id, lambda d: d.status == "succeeded", "succeeded")
        rows = client.call(ScreeningJob, job.job_id, "results").rows
        assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
        hits[only] = {r.compound_id: r for r in rows}
        assert len(read_results(artifacts, job.job_id)["DL-TARGET"]) == 42  # every score either way
    assert (hits[False]["ETHANOL"].drug_like, hits[False]["ETHANOL"].drug_like_issue) == (False, "3 heavy atoms")
    assert (hits[False]["SALT"].drug_like, hits[False]["SALT"].drug_like_issue) == (False, "no carbon (inorganic)")
    assert set(hits[True]) == set(hits[False]) - {"ETHANOL", "SALT"} and all(r.drug_like for r in hits[True].values())


def test_an_ensemble_run_is_screened_and_profiled_by_its_members(
    client: GrainClient,
    settings: Settings,
    artifacts: ArtifactStore,
    screening_scorer: Scorer,
    engine: Engine,
    tmp_path: Path,
) -> None:
    """Train an ensemble (knn + xgb) on the cluster, publish it with its members, screen and
    profile with it through the scorer: the same probabilities as the model directory's."""
    dataset_id = register_dataset(client, SAMPLE_TRAIN.read_bytes(), filename="train.csv", name="sample").dataset_id
    started = start_run(client, RunRequest(dataset_id=dataset_id, model_type="ensemble"))
    run = finished_run(client, started.run_id)
    assert run.status == "succeeded" and run.model is not None, run.error
    version = client.call(ModelRegistry, run.model.name, "show", run.model.version)
    assert (version.name, version.model_type) == ("ensemble-sample", "ensemble")
    assert version.lineage.training == EnsembleTraining(members=(KnnTraining(), XGBTraining()))  # its own settings
    assert run.mlflow_run_id is not None
    params = MlflowClient(tracking_uri=settings.mlflow_tracking_uri).get_run(run.mlflow_run_id).data.params
    assert (params["members"], params["xgb.n_estimators"], params["xgb.seed"]) == ("knn,xgb", "2000", "42")
    assert not any("epochs" in key or key == "lr" for key in params)
    # published with its members' directories; the scorer reads its own store: publish it there too
    local = tmp_path / "ensemble"
    for path in artifacts.list(version.artifact_path):
        artifacts.get_file(path, local / path.removeprefix(f"{version.artifact_path}/"))
    assert (local / "members" / "xgb" / "model.json").is_file()
    assert publish_model_dir(ArtifactStore.from_settings(screening_scorer.settings), local) == version.artifact_path

    model = load_model_dir(local)
    knn = model.members[0].knn
    assert knn is not None
    protein, binders = max(knn.binders.items(), key=lambda item: len(item[1]))
    client.call(TargetProtein, "ENS-TARGET", "register", protein, idempotent=False)
    rows = [f"BINDER-{i},{s},test" for i, s in enumerate(binders.smiles)]
    library = register_library(
        client, library_csv(40, (("BAD-RING", "C1CC"),)) + "\n".join(rows).encode() + b"\n", filename="ens.csv"
    )
    request = ScreenRequest(library_id=library.library_id, targets=["ENS-TARGET"], model="ensemble-sample@1", top=5)
    done = wait_for(client, submit_screen(client, request).job_id, lambda d: d.status == "succeeded", "succeeded")

    assert [f.compound_id for f in done.failures] == ["BAD-RING"]  # once, though two members refused it
    ranked = read_results(artifacts, done.job_id)["ENS-TARGET"]
    assert len(ranked) == 40 + len(binders)
    smiles = [str(r["smiles"]) for r in ranked]
    expected = model.predict(pairs_from_columns(smiles, [protein] * len(smiles), source="results"))
    assert [float(r["score"]) for r in ranked] == pytest.approx(expected.tolist(), abs=1e-9)  # type: ignore[arg-type]

    scorer_client = ScorerClient(settings, client)

    async def profile() -> list[CompoundProfile]:
        resolved = await scorer_client.resolve("ensemble-sample@1")
        assert resolved.members == ["knn", "xgb"] and not resolved.reads_graphs
        targets = await asyncio.to_thread(registered_targets, engine)
        return await aprofile_compounds(scorer_client, targets, [binders.smiles[0]], resolved, top=5)

    (profiled,) = asyncio.run(profile())
    (hit,) = [h for h in profiled.hits if h.target_id == "ENS-TARGET"]
    alone = model.predict(pairs_from_columns([profiled.smiles], [protein], source="profile"))[0]
    assert hit.probability == pytest.approx(alone, abs=1e-9)
