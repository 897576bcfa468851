"""Where screening jobs run: one long-lived screening runner per cluster streams libraries
through the scorer, an asyncio task per attempt of a ScreeningJob grain.

The runner (``ScreeningRunner``) is an async Ray actor named ``screening-runner`` in the
cluster's namespace: detached, restarted by Ray without limit, declaring no CPU (the scorer's
replicas do the model's compute), and free of PyTorch (it imports RDKit, Arrow and the clients).
``deploy_scorer`` starts and warms it; otherwise the first job creates it (``runner_handle``).
Its process stays warm, so a job's first chunk waits for no process start and no imports.

- ``start(task)`` starts the attempt ``(task.job_id, task.attempt)`` as an asyncio task (a
  repeated call finds it running) and returns at once; a newer attempt of a job cancels older
  ones still running. A grain retries ``start`` while the runner restarts (the call may not
  have reached it).
- ``wait(job_id, attempt)`` waits for an attempt started earlier and returns its outcome; None
  when the runner does not know it (it was restarted since): the grain then starts its next
  attempt. ``run(task)`` is ``start`` and ``wait`` in one call.
- ``cancel(job_id, attempt)`` cancels the attempt's task: no further chunk is sent, written or
  reported; ``run`` and ``wait`` answer ``stopped``.
- Finished attempts keep their outcome until the grain has it (``forget``), at most the last
  ``KEPT_OUTCOMES``: a grain host that died while its attempt ended finds it on re-activation.

Every task travels with the settings of the cluster that submitted it (store, artifacts, grain
pool, scorer application), so one runner serves any pool in its namespace.

The work of an attempt, per target and chunk of ``chunk_size`` compounds (in the library's id
order; chunks the grain recorded before the attempt started are skipped):

1. featurisation (``featurize_drug``, RDKit, in the runner's one featurising thread), in pieces
   of ``PIECE_SIZE`` compounds and up to ``FEATURISED_AHEAD`` chunks ahead of the scorer, so
   RDKit never runs in series with the model: the scorer gets ``DrugGraph``s
   (``ChunkRequest.graphs``) and only runs the model. Compounds RDKit refuses are reported by
   the runner (index, reason) with a None score. Baseline models get SMILES only;
2. ``ScorerClient.score_chunk`` per piece, sent as soon as the piece is featurised (so the
   scorer starts on a chunk while the rest of it is featurised), for ``IN_FLIGHT`` chunks at
   once, so the scorer's bulk lane always has work queued while the runner writes and reports a
   finished chunk. An attempt's first request is empty: the replica loads the model and computes
   the target's tensors while the first piece is featurised;
3. evidence for the chunk's hits that enter the best ``kept_top`` the attempt has seen for the
   target (``ScorerClient.evidence``: the nearest training binder and the applicability domain
   of each): the only compounds that can be among the job's kept hits, so a screen asks for
   evidence for about its kept hits, not for every compound. Every compound's drug-like flag
   (``drug_likeness``, no RDKit molecule) is computed in the featurising thread beside the
   graphs, once per compound; with ``drug_like_only`` only drug-like compounds are hits;
4. the chunk's scores go to ``screens/<job>/<target>/chunk-<n>.parquet`` (row, compound_id,
   smiles, score, error, the evidence columns; atomic) — durable *before* it is reported;
5. ``ScreeningJob.chunk_done(attempt, report)`` with the chunk's best hits and failures. The
   grain answers False when this attempt is stale or the job was cancelled: the attempt stops.

At the end the attempt merges the chunks into ``screens/<job>/results.parquet`` (target_id,
compound_id, smiles, score, rank and the evidence columns: ``drug_like`` for every row, the
training data's evidence for the hits that got it, null beyond; one row group per target, ranked
by score, ties by compound id; failed compounds left out) and returns the outcome.

Errors: bad input (a library, target or model that is gone; no scorer) fails the job; anything
else (the scorer restarting, a lost grain call, I/O) is a crash, and the grain starts the next
attempt. When the runner's process dies (killed, out of memory), Ray restarts it, every grain
watching an attempt sees the failure and starts its next attempt on the restarted runner.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from pydantic import BaseModel, Field

from repurpose.artifacts import ArtifactStore
from repurpose.contracts.scoring import (
    BinderEvidence,
    ChunkRequest,
    ChunkScores,
    CompoundError,
    EvidenceAnswer,
    EvidenceRequest,
    ResolvedModel,
)
from repurpose.contracts.screening import EVIDENCE_COLUMNS, ScreenFailure, ScreenHit, ScreenResultRow
from repurpose.drug_graph import DrugGraph, featurize_drug
from repurpose.drug_likeness import drug_like_issue
from repurpose.errors import ClusterError, RepurposeError
from repurpose.settings import Settings

logger = logging.getLogger(__name__)

SCREENS_PREFIX = "screens"
RUNNER_NAME = "screening-runner"
RUNNER_MAX_CONCURRENCY = 10_000
"""Calls the runner serves at once: every running attempt holds one (``run`` or ``wait``)."""
KEPT_OUTCOMES = 1_000
RUNNER_START_SECONDS = 300
WARM_CALL_SECONDS = 30
IN_FLIGHT = 2
"""Chunks sent to the scorer and not yet reported, per attempt."""
FEATURISED_AHEAD = IN_FLIGHT + 1
"""Chunks featurised (or featurising) beyond those sent, per attempt."""
PIECE_SIZE = 256
"""Compounds per scorer request: a chunk's first piece goes out while the rest is featurised."""
CHUNK_TRIES = 3
RETRY_PAUSE_SECONDS = 1.0
MAX_REASON_LENGTH = 300
MAX_SMILES_SHOWN = 300

_EVIDENCE_TYPES = {
    "drug_like": pa.bool_(),
    "drug_like_issue": pa.string(),
    "nearest_binder_id": pa.string(),
    "nearest_binder_smiles": pa.string(),
    "nearest_binder_tanimoto": pa.float64(),
    "max_training_tanimoto": pa.float64(),
    "in_domain": pa.bool_(),
}
EVIDENCE_FIELDS = [pa.field(name, _EVIDENCE_TYPES[name]) for name in EVIDENCE_COLUMNS]
CHUNK_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("compound_id", pa.string(), nullable=False),
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("error", pa.string()),
        *EVIDENCE_FIELDS,
    ]
)
RESULTS_SCHEMA = pa.schema(
    [
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("compound_id", pa.string(), nullable=False),
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        *EVIDENCE_FIELDS,
    ]
)


def chunk_path(job_id: str, target_id: str, chunk: int) -> str:
    return f"{SCREENS_PREFIX}/{job_id}/{target_id}/chunk-{chunk}.parquet"


def results_path(job_id: str) -> str:
    return f"{SCREENS_PREFIX}/{job_id}/results.parquet"


def chunk_count(compounds: int, chunk_size: int) -> int:
    return math.ceil(compounds / chunk_size)


class ScreeningTask(BaseModel):
    """Everything an attempt needs; it travels to the runner when the grain starts the attempt."""

    job_id: str
    attempt: int
    compounds_path: str
    compounds: int
    targets: list[str]
    model: ResolvedModel
    chunk_size: int
    kept_top: int = Field(description="Best hits per chunk sent to the grain.")
    drug_like_only: bool = Field(default=False, description="Hits are drug-like compounds only.")
    skip: dict[str, list[int]] = Field(default_factory=dict, description="Chunks recorded already, per target.")
    settings: Settings

    @property
    def chunks(self) -> int:
        return chunk_count(self.compounds, self.chunk_size)


class ChunkReport(BaseModel):
    """One finished (and stored) chunk, as the runner reports it to the grain."""

    target_id: str
    chunk: int
    compounds: int
    hits: list[ScreenHit] = Field(description="The chunk's best ``kept_top`` (ranks within the chunk).")
    failures: list[ScreenFailure] = Field(default_factory=list)
    scorer_seconds: float


class ScreenOutcome(BaseModel):
    """What an attempt hands back when it ends without an error."""

    stopped: bool = Field(default=False, description="Told to stop (stale attempt, cancelled job) or cancelled.")
    chunks_scored: int = 0
    results_path: str | None = None
    rows: int = 0


Reporter = Callable[[ChunkReport], Awaitable[bool]]
Attempt = tuple[str, int]  # (job id, attempt number)


# --- the runner ----------------------------------------------------------------------------------


class ScreeningRunner:
    """Runs attempts of screening jobs as asyncio tasks (see the module docs)."""

    def __init__(self) -> None:
        self._attempts: OrderedDict[Attempt, asyncio.Task[ScreenOutcome]] = OrderedDict()
        self._scorers: dict[str, Any] = {}  # ScorerClient per Serve application: handles stay warm
        self._featurising = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurise")

    async def warm(self, settings: Settings | None = None) -> int:
        """Make the first job fast: what an attempt imports, RDKit in the featurising thread and
        the scorer's handle (its router, by a first call); the pid."""
        import repurpose.actors.screening_job
        import repurpose.actors.target_protein  # noqa: F401  (imported by every attempt)

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._featurising, featurize_drug, "c1ccccc1O")
        if settings is not None:
            with contextlib.suppress(Exception):  # not deployed (yet): the first job looks again
                scorer = await asyncio.to_thread(self._scorer, settings)
                await asyncio.wait_for(_awaited(scorer.handle.stats.remote()), WARM_CALL_SECONDS)  # needs no model
        return os.getpid()

    async def start(self, task: ScreeningTask) -> None:
        """Start attempt ``(task.job_id, task.attempt)`` unless it runs (or ran) here already."""
        task = ScreeningTask.model_validate(task)
        key = (task.job_id, task.attempt)
        if key in self._attempts:
            return
        for (job_id, attempt), older in self._attempts.items():
            if job_id == task.job_id and attempt < task.attempt:
                older.cancel()  # stale: the grain moved on
        running = asyncio.get_running_loop().create_task(self._execute(task))
        self._attempts[key] = running
        running.add_done_callback(lambda _: self._prune())

    async def run(self, task: ScreeningTask) -> ScreenOutcome:
        """Start attempt ``(task.job_id, task.attempt)`` (or join it) and return its outcome."""
        await self.start(task)
        return await _outcome_of(self._attempts[(task.job_id, task.attempt)])

    async def wait(self, job_id: str, attempt: int) -> ScreenOutcome | None:
        """The outcome of an attempt started earlier (waiting for it); None if unknown here."""
        running = self._attempts.get((job_id, attempt))
        return None if running is None else await _outcome_of(running)

    async def cancel(self, job_id: str, attempt: int) -> bool:
        """Cancel a running attempt; whether it was running."""
        running = self._attempts.get((job_id, attempt))
        if running is None or running.done():
            return False
        running.cancel()
        return True

    async def forget(self, job_id: str, attempt: int) -> None:
        """Drop a finished attempt's outcome (its grain has it)."""
        running = self._attempts.get((job_id, attempt))
        if running is not None and running.done():
            del self._attempts[(job_id, attempt)]

    async def running(self) -> list[Attempt]:
        """The attempts running now."""
        return [key for key, running in self._attempts.items() if not running.done()]

    async def pid(self) -> int:
        return os.getpid()

    async def _execute(self, task: ScreeningTask) -> ScreenOutcome:
        scorer = await asyncio.to_thread(self._scorer, task.settings)
        return await execute_screening(task, scorer, featurising=self._featurising)

    def _scorer(self, settings: Settings) -> Any:
        """The scorer application's ScorerClient, kept (its handle's router stays warm);
        ClusterError if the application does not run (looked up every time: it may be gone)."""
        from repurpose.scorer_client import ScorerClient

        scorer = ScorerClient(settings)
        _check_scorer(scorer, settings.scorer_app)  # a fresh lookup
        return self._scorers.setdefault(settings.scorer_app, scorer)

    def _prune(self) -> None:
        finished = [key for key, running in self._attempts.items() if running.done()]
        for key in finished[: max(0, len(finished) - KEPT_OUTCOMES)]:
            del self._attempts[key]


RemoteScreeningRunner = ray.remote(max_restarts=-1, max_task_retries=0)(ScreeningRunner)


async def _outcome_of(running: asyncio.Task[ScreenOutcome]) -> ScreenOutcome:
    """The task's outcome (raising its error); ``stopped`` if it was cancelled. Shielded: a
    caller that goes away does not cancel the attempt."""
    await asyncio.wait({running})
    if running.cancelled():
        return ScreenOutcome(stopped=True)
    return running.result()


async def _awaited(response: Any) -> Any:
    return await response


def runner_handle(settings: Settings) -> Any:
    """The cluster's screening runner, created on first use (blocking; Ray connected)."""
    return RemoteScreeningRunner.options(
        name=RUNNER_NAME,
        namespace=settings.ray_namespace,
        lifetime="detached",
        get_if_exists=True,
        max_concurrency=RUNNER_MAX_CONCURRENCY,
        num_cpus=0,
    ).remote()


def find_runner(settings: Settings) -> Any | None:
    """The cluster's screening runner if there is one (blocking; Ray connected)."""
    try:
        return ray.get_actor(RUNNER_NAME, namespace=settings.ray_namespace)
    except ValueError:
        return None


def start_runner(settings: Settings) -> int:
    """Create (or find) the runner and wait until it is warm; its pid. ``deploy_scorer`` calls it."""
    pid: int = ray.get(runner_handle(settings).warm.remote(settings), timeout=RUNNER_START_SECONDS)
    return pid


# --- an attempt ----------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """A chunk ready for the scorer: the request (featurised for DrugBAN), RDKit's refusals and
    why each compound is not drug-like (None: it is)."""

    request: ChunkRequest
    failures: list[CompoundError]
    issues: list[str | None]


class RunningTop:
    """The best ``kept`` hit keys (-score, compound id) an attempt has seen for one target.

    A hit outside them cannot be among the job's kept hits (those are the best of a superset),
    so only the hits this admits get evidence."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self.keys: list[tuple[float, str]] = []

    def admit(self, keys: Sequence[tuple[float, str]]) -> list[int]:
        """Add ``keys``; the positions of those now among the best ``kept``."""
        entered = []
        for position, key in enumerate(keys):
            if len(self.keys) < self.kept or key < self.keys[-1]:
                bisect.insort(self.keys, key)
                del self.keys[self.kept :]
                entered.append(position)
        return entered


async def execute_screening(
    task: ScreeningTask,
    scorer: Any | None = None,
    report: Reporter | None = None,
    *,
    featurising: Executor | None = None,
) -> ScreenOutcome:
    """Score every chunk not recorded yet, then merge the results; see the module docs.

    ``scorer`` (a ``ScorerClient``) and ``report`` (an async callable taking a ChunkReport and
    answering whether to go on) default to the cluster's scorer and the job's grain;
    ``featurising`` (default: a thread of the loop's executor) runs RDKit."""
    from repurpose.actors.target_protein import TargetProtein
    from repurpose.grains import GrainClient
    from repurpose.scorer_client import ScorerClient

    loop = asyncio.get_running_loop()
    grains = GrainClient(task.settings)
    if scorer is None:
        scorer = ScorerClient(task.settings, grains)
        await asyncio.to_thread(_check_scorer, scorer, task.settings.scorer_app)
    report = report or _grain_reporter(grains, task)
    artifacts = ArtifactStore.from_settings(task.settings)

    compound_ids, smiles = await asyncio.to_thread(read_library, artifacts, task.compounds_path)
    if len(compound_ids) != task.compounds:
        raise RuntimeError(
            f"the library at {task.compounds_path} has {len(compound_ids)} compounds, not {task.compounds}"
        )
    sequences = {t: str(await grains.acall(TargetProtein, t, "sequence")) for t in task.targets}

    skip = {target: set(chunks) for target, chunks in task.skip.items()}
    plan = [(t, n) for t in task.targets for n in range(task.chunks) if n not in skip.get(t, set())]
    featurise = task.model.reads_graphs  # DrugBAN (alone or in an ensemble) reads graphs; the others SMILES
    issues_of: dict[int, list[str | None]] = {}  # by a piece's first row: once per compound, not per target
    running = {target: RunningTop(task.kept_top) for target in task.targets}
    evidence_kept = [True]  # False once the scorer says the model keeps no training data

    def bounds(n: int) -> tuple[int, int]:
        return n * task.chunk_size, min((n + 1) * task.chunk_size, task.compounds)

    def prepare(target: str, lo: int, hi: int) -> _Prepared:  # in the featurising thread
        graphs, failures = featurise_chunk(smiles[lo:hi]) if featurise else (None, [])
        request = ChunkRequest(
            model=task.model, target_key=target, sequence=sequences[target], smiles=smiles[lo:hi], graphs=graphs
        )
        if lo not in issues_of:
            issues_of[lo] = [drug_like_issue(s) for s in smiles[lo:hi]]
        return _Prepared(request, failures, issues_of[lo])

    async def evidence_for(target: str, hits: list[str]) -> list[BinderEvidence] | None:
        if not hits or not evidence_kept[0]:
            return None
        asked = EvidenceRequest(model=task.model, sequence=sequences[target], smiles=hits)
        answer: EvidenceAnswer = await _retried(scorer.evidence, asked)
        if answer.evidence is None:
            evidence_kept[0] = False
        return answer.evidence

    async def one(target: str, n: int, pieces: list[asyncio.Future[_Prepared]]) -> bool:
        prepared: list[_Prepared] = []
        scoring: list[asyncio.Task[ChunkScores]] = []
        try:
            for piece in pieces:  # each piece goes to the scorer as soon as it is featurised
                prepared.append(await piece)
                scoring.append(loop.create_task(_score(scorer, prepared[-1].request)))
            scores = _joined(prepared, await asyncio.gather(*scoring))
        finally:
            for pending in scoring:
                pending.cancel()
        lo, hi = bounds(n)
        ids, chunk_smiles = compound_ids[lo:hi], smiles[lo:hi]
        issues = [issue for piece in prepared for issue in piece.issues]
        best = best_rows(scores.scores, ids, task.kept_top, issues if task.drug_like_only else None)
        fresh = [best[j] for j in running[target].admit([(-(scores.scores[i] or 0.0), ids[i]) for i in best])]
        found = await evidence_for(target, [chunk_smiles[i] for i in fresh])
        evidence = dict(zip(fresh, found, strict=True)) if found is not None else {}
        path = chunk_path(task.job_id, target, n)
        await asyncio.to_thread(write_chunk, artifacts, path, lo, ids, chunk_smiles, scores, issues, evidence)
        hits = chunk_report(
            target, n, ids, chunk_smiles, scores, task.kept_top, issues=issues, evidence=evidence, best=best
        )
        return await report(hits)

    # Featurisation runs ahead in its thread (piece after piece, FEATURISED_AHEAD chunks beyond
    # the chunks sent) while IN_FLIGHT chunks are with the scorer or being written and reported.
    preparing: list[list[asyncio.Future[_Prepared]]] = []

    def prepare_ahead(upto: int) -> None:
        while len(preparing) < min(upto, len(plan)):
            target, n = plan[len(preparing)]
            lo, hi = bounds(n)
            starts = range(lo, hi, PIECE_SIZE)
            preparing.append(
                [loop.run_in_executor(featurising, prepare, target, a, min(a + PIECE_SIZE, hi)) for a in starts]
            )

    scored = 0
    go_on = True
    in_flight: set[asyncio.Task[bool]] = set()
    warming: asyncio.Task[ChunkScores] | None = None
    try:
        if plan and featurise:  # the replica loads the model and the target while the first piece is featurised
            first = plan[0][0]
            empty = ChunkRequest(model=task.model, target_key=first, sequence=sequences[first], smiles=[], graphs=[])
            warming = loop.create_task(_score(scorer, empty))
        for k, (target, n) in enumerate(plan):
            prepare_ahead(k + 1 + FEATURISED_AHEAD)
            if len(in_flight) >= IN_FLIGHT:
                go_on, finished = await _first_done(in_flight)
                scored += finished
                if not go_on:
                    break
            in_flight.add(loop.create_task(one(target, n, preparing[k])))
        while in_flight and go_on:
            go_on, finished = await _first_done(in_flight)
            scored += finished
    finally:
        for pending in in_flight:
            pending.cancel()
        for future in [f for pieces in preparing for f in pieces]:
            future.cancel()  # a piece being featurised finishes in its thread, unused
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: an error there was raised by its chunk, or is moot
        if warming is not None:
            warming.cancel()
            if warming.done() and not warming.cancelled():
                warming.exception()  # moot: the chunks' own requests say what is wrong
    if not go_on:
        logger.info("screen %s attempt %d: told to stop", task.job_id, task.attempt)
        return ScreenOutcome(stopped=True, chunks_scored=scored)
    rows = await asyncio.to_thread(merge_results, artifacts, task.job_id, task.targets, task.chunks)
    return ScreenOutcome(chunks_scored=scored, results_path=results_path(task.job_id), rows=rows)


def _joined(prepared: Sequence[_Prepared], answers: Sequence[ChunkScores]) -> ChunkScores:
    """A chunk's scores from its pieces' answers, with RDKit's refusals (indices in the chunk)."""
    scores: list[float | None] = []
    failures: list[CompoundError] = []
    for piece, answer in zip(prepared, answers, strict=True):
        offset = len(scores)
        for failure in sorted([*piece.failures, *answer.failures], key=lambda f: f.index):
            failures.append(failure.model_copy(update={"index": failure.index + offset}))
        scores.extend(answer.scores)
    return ChunkScores(scores=scores, failures=failures, seconds=sum(a.seconds for a in answers))


def featurise_chunk(smiles: Sequence[str]) -> tuple[list[DrugGraph | None], list[CompoundError]]:
    """Per compound its graph, or None and why RDKit refused it (as the scorer would say)."""
    graphs: list[DrugGraph | None] = []
    failures: list[CompoundError] = []
    for i, text in enumerate(smiles):
        try:
            graphs.append(featurize_drug(text))
        except RepurposeError as error:
            graphs.append(None)
            failures.append(CompoundError(index=i, smiles=text, reason=error.message))
    return graphs, failures


async def _first_done(in_flight: set[asyncio.Task[bool]]) -> tuple[bool, int]:
    """Wait for the first task(s) to finish: (whether to go on, how many finished). Raises theirs."""
    done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    in_flight.difference_update(done)
    answers = [t.result() for t in done]  # an exception ends the attempt
    return all(answers), len(done)


async def _score(scorer: Any, request: ChunkRequest) -> ChunkScores:
    """The scorer's answer, retried (a replica restarting) unless it refuses the request."""
    scores: ChunkScores = await _retried(scorer.score_chunk, request)
    if len(scores.scores) != len(request.smiles):
        raise RuntimeError(f"the scorer answered {len(scores.scores)} scores for {len(request.smiles)} compounds")
    return scores


async def _retried(call: Callable[[Any], Awaitable[Any]], request: Any) -> Any:
    """``call(request)``'s answer, tried again (a replica restarting) unless it refuses the request."""
    for attempt in range(1, CHUNK_TRIES + 1):
        try:
            return await call(request)
        except RepurposeError:
            raise
        except Exception as error:
            if attempt == CHUNK_TRIES:
                raise
            logger.warning("a scorer call failed (%s); trying again", error)
            await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
    raise AssertionError("unreachable")


def _check_scorer(scorer: Any, app: str) -> None:
    """Fail with a clear message when the scorer application does not run."""
    try:
        scorer.handle  # noqa: B018  (looks the application up)
    except RepurposeError:
        raise
    except Exception as error:
        raise ClusterError(
            f"the scorer (Ray Serve application {app!r}) is not running: `repurpose up` deploys it ({error})"
        ) from None


def best_rows(
    scores: Sequence[float | None], compound_ids: Sequence[str], kept: int, issues: Sequence[str | None] | None = None
) -> list[int]:
    """The positions of the best ``kept`` scored compounds (by score, ties by compound id); with
    ``issues`` (per compound why it is not drug-like), of the drug-like ones only."""
    scored = [i for i, s in enumerate(scores) if s is not None and (issues is None or issues[i] is None)]
    scored.sort(key=lambda i: (-(scores[i] or 0.0), compound_ids[i]))
    return scored[:kept]


def chunk_report(
    target_id: str,
    chunk: int,
    compound_ids: Sequence[str],
    smiles: Sequence[str],
    scores: ChunkScores,
    kept: int,
    *,
    issues: Sequence[str | None] | None = None,
    evidence: dict[int, BinderEvidence] | None = None,
    best: list[int] | None = None,
) -> ChunkReport:
    """The chunk's best ``kept`` hits (``best``: their positions, ``best_rows``) with their
    drug-like flags (``issues``) and evidence (by position; none where not given), and its failures."""
    rows = best if best is not None else best_rows(scores.scores, compound_ids, kept)
    hits = [
        ScreenHit(
            rank=rank,
            compound_id=compound_ids[i],
            smiles=smiles[i],
            score=scores.scores[i] or 0.0,
            **_flags(issues[i] if issues is not None else None, issues is not None),
            **(evidence[i].model_dump() if evidence and i in evidence else {}),
        )
        for rank, i in enumerate(rows, start=1)
    ]
    failures = [
        ScreenFailure(
            compound_id=compound_ids[f.index],
            smiles=_short(f.smiles, MAX_SMILES_SHOWN),
            reason=_short(f.reason, MAX_REASON_LENGTH),
        )
        for f in scores.failures
    ]
    return ChunkReport(
        target_id=target_id,
        chunk=chunk,
        compounds=len(compound_ids),
        hits=hits,
        failures=failures,
        scorer_seconds=scores.seconds,
    )


def _grain_reporter(grains: Any, task: ScreeningTask) -> Reporter:
    from repurpose.actors.screening_job import ScreeningJob  # the grain imports this module

    async def report(chunk: ChunkReport) -> bool:
        return bool(await grains.acall(ScreeningJob, task.job_id, "chunk_done", task.attempt, chunk))

    return report


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flags(issue: str | None, known: bool) -> dict[str, Any]:
    return {"drug_like": issue is None, "drug_like_issue": issue} if known else {}


# --- artifacts -----------------------------------------------------------------------------------


def read_library(artifacts: ArtifactStore, path: str) -> tuple[list[str], list[str]]:
    """A library's (compound ids, SMILES), in their stored order."""
    with artifacts.open_read(path) as f:
        table = pq.read_table(f, columns=["compound_id", "smiles"])
    return table.column("compound_id").to_pylist(), table.column("smiles").to_pylist()


def write_chunk(
    artifacts: ArtifactStore,
    path: str,
    first_row: int,
    compound_ids: Sequence[str],
    smiles: Sequence[str],
    scores: ChunkScores,
    issues: Sequence[str | None] | None = None,
    evidence: dict[int, BinderEvidence] | None = None,
) -> None:
    """A chunk's rows; ``issues`` (why each compound is not drug-like) and ``evidence`` (by
    position) fill the evidence columns, null where not given or the compound failed."""
    errors: list[str | None] = [None] * len(compound_ids)
    for failure in scores.failures:
        errors[failure.index] = failure.reason
    columns: dict[str, list[Any]] = {name: [None] * len(compound_ids) for name in EVIDENCE_COLUMNS}
    for i, score in enumerate(scores.scores):
        if score is not None and issues is not None:
            columns["drug_like"][i], columns["drug_like_issue"][i] = issues[i] is None, issues[i]
    for i, found in (evidence or {}).items():
        for name, value in found.model_dump().items():
            columns[name][i] = value
    table = pa.Table.from_arrays(
        [
            pa.array(range(first_row, first_row + len(compound_ids)), type=pa.int64()),
            pa.array(list(compound_ids), type=pa.string()),
            pa.array(list(smiles), type=pa.string()),
            pa.array(scores.scores, type=pa.float64()),
            pa.array(errors, type=pa.string()),
            *(pa.array(columns[f.name], type=f.type) for f in EVIDENCE_FIELDS),
        ],
        schema=CHUNK_SCHEMA,
    )
    with artifacts.open_write(path) as f:
        pq.write_table(table, f, compression="zstd")


_RANKED_COLUMNS = ["compound_id", "smiles", "score", *EVIDENCE_COLUMNS]


def ranked_scores(artifacts: ArtifactStore, job_id: str, target_id: str, chunks: Sequence[int]) -> pa.Table:
    """A target's scored compounds from the given chunks, best first (ties by compound id), ranked."""
    parts = []
    for n in chunks:
        with artifacts.open_read(chunk_path(job_id, target_id, n)) as f:
            parts.append(with_evidence_columns(pq.read_table(f)).select(_RANKED_COLUMNS))
    table = pa.concat_tables(parts) if parts else CHUNK_SCHEMA.empty_table().select(_RANKED_COLUMNS)
    table = table.filter(pc.is_valid(table.column("score")))
    table = table.sort_by([("score", "descending"), ("compound_id", "ascending")])
    return pa.Table.from_arrays(
        [
            pa.array([target_id] * table.num_rows, type=pa.string()),
            table.column("compound_id"),
            table.column("smiles"),
            table.column("score"),
            pa.array(range(1, table.num_rows + 1), type=pa.int64()),
            *(table.column(name) for name in EVIDENCE_COLUMNS),
        ],
        schema=RESULTS_SCHEMA,
    )


def with_evidence_columns(table: pa.Table) -> pa.Table:
    """A chunk or results file written before the evidence columns existed (a job resumed, or a
    screen finished, before an upgrade): the missing ones as nulls."""
    for field in EVIDENCE_FIELDS:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, type=field.type))
    return table


def merge_results(artifacts: ArtifactStore, job_id: str, targets: Sequence[str], chunks: int) -> int:
    """Merge every chunk into ``results.parquet`` (a row group per target); returns the rows written."""
    rows = 0
    with artifacts.open_write(results_path(job_id)) as f, pq.ParquetWriter(f, RESULTS_SCHEMA, compression="zstd") as w:
        for target in targets:
            table = ranked_scores(artifacts, job_id, target, range(chunks))
            w.write_table(table)
            rows += table.num_rows
    return rows


def read_results(
    artifacts: ArtifactStore, job_id: str, targets: Sequence[str], top: int, drug_like_only: bool = False
) -> list[ScreenResultRow]:
    """The best ``top`` per target from ``results.parquet``, by target (in the given order), then
    rank; ``drug_like_only``: of the drug-like compounds, ranked among themselves (as the job's hits)."""
    filters: list[Any] = [("target_id", "in", list(targets))]
    filters.append(("drug_like", "=", True) if drug_like_only else ("rank", "<=", top))
    with artifacts.open_read(results_path(job_id)) as f:
        table = pq.read_table(f, filters=filters)
    by_target: dict[str, list[ScreenResultRow]] = {t: [] for t in targets}
    for row in table.to_pylist():
        by_target[row["target_id"]].append(ScreenResultRow(**row))
    return [row for t in targets for row in _reranked(sorted(by_target[t], key=lambda r: r.rank)[:top])]


def read_partial_results(
    artifacts: ArtifactStore,
    job_id: str,
    done: dict[str, list[int]],
    targets: Sequence[str],
    top: int,
    drug_like_only: bool = False,
) -> list[ScreenResultRow]:
    """The best ``top`` per target among the chunks recorded so far (a running or stopped job)."""
    out: list[ScreenResultRow] = []
    for target in targets:
        table = ranked_scores(artifacts, job_id, target, sorted(done.get(target, [])))
        if drug_like_only:
            table = table.filter(pc.fill_null(table.column("drug_like"), False))
        out.extend(_reranked([ScreenResultRow(**row) for row in table.slice(0, top).to_pylist()]))
    return out


def _reranked(rows: list[ScreenResultRow]) -> list[ScreenResultRow]:
    """Rows in rank order, ranked 1, 2, … among themselves (the drug-like ones among every score)."""
    return [row if row.rank == rank else row.model_copy(update={"rank": rank}) for rank, row in enumerate(rows, 1)]
