"""One attempt of a screening job: stream the library through the scorer, chunk by chunk.

The screening runner (``screening.runner``) runs each attempt as an asyncio task. Chunk by
chunk of ``chunk_size`` compounds (in the library's id order), each against every target in
turn (the (target, chunk)s the grain recorded before the attempt started are skipped):

1. featurisation (``featurize_drug``, RDKit, in the runner's one featurising thread), in pieces
   of ``PIECE_SIZE`` compounds and up to ``FEATURISED_AHEAD`` chunks ahead of the scorer, so
   RDKit never runs in series with the model: the scorer gets ``DrugGraph``s
   (``ChunkRequest.graphs``) and only runs the model. Compounds RDKit refuses are reported by
   the runner (index, reason) with a None score. Baseline models get SMILES only. A chunk is
   featurised once for all the targets, and with several targets the scorer keeps its compounds'
   GCN states from one target to the next (``ChunkRequest.reuse_states``);
2. ``ScorerClient.score_chunk`` per piece, sent as soon as the piece is featurised (so the
   scorer starts on a chunk while the rest of it is featurised), for ``IN_FLIGHT`` chunks at
   once, so the scorer's bulk lane always has work queued while the runner writes and reports a
   finished chunk. An attempt's first request is empty: the replica loads the model and computes
   the target's tensors while the first piece is featurised;
3. evidence for the chunk's hits that enter the best ``kept_top`` the attempt has seen for the
   target (``ScorerClient.evidence``: the nearest training binder and the applicability domain
   of each): the only compounds that can be among the job's kept hits, so a screen asks for
   evidence for about its kept hits, not for every compound. Every compound's drug-like flag
   (``data.drug_likeness``, no RDKit molecule) is computed in the featurising thread beside the
   graphs, once per compound; with ``drug_like_only`` only drug-like compounds are hits;
4. the chunk's scores go to its chunk file (``screening.files``; atomic): durable *before* it is
   reported;
5. ``chunk_done(attempt, report)`` on the job's grain, named by kind and key (the task's
   ``job_kind`` and ``job_id``), with the chunk's best hits and failures. The grain answers
   False when this attempt is stale or the job was cancelled: the attempt stops.

At the end the attempt merges the chunks into the results file (``screening.files.merge_results``)
and returns the outcome.

Errors: bad input (a library or model that is gone; no scorer) fails the job; anything else
(the scorer restarting, a lost grain call, I/O) is a crash, and the grain starts the next attempt.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from opentelemetry.trace import SpanKind

from repurpose.contracts.scoring import BinderEvidence, ChunkScores, CompoundError, EvidenceAnswer, EvidenceRequest
from repurpose.contracts.screening import RankedHit, ScreenFailure
from repurpose.data.drug_graph import DrugGraph, featurize_drug
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.errors import ClusterError, RepurposeError
from repurpose.grains import GrainClient
from repurpose.model.compound_states import STATE_BYTES_PER_COMPOUND
from repurpose.runtime import tracing
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.chunks import ChunkRequest
from repurpose.scoring.client import ScorerClient
from repurpose.screening.files import chunk_path, merge_results, results_path, write_chunk
from repurpose.screening.tasks import ChunkReport, ScreeningTask, ScreenOutcome

logger = logging.getLogger(__name__)

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

Reporter = Callable[[ChunkReport], Awaitable[bool]]
_Featurised = tuple[list[DrugGraph | None] | None, list[CompoundError], list[str | None]]
"""A piece's graphs (None: the model reads SMILES), RDKit's refusals, and the drug-like issues."""


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
    attributes: dict[str, str | int] = {
        "repurpose.screen.job_id": task.job_id,
        "repurpose.screen.attempt": task.attempt,
        "repurpose.model": task.model.ref,
    }
    traces = tracing.tracer(task.settings)
    with tracing.span_under(traces, "screening attempt", task.trace, kind=SpanKind.CONSUMER, attributes=attributes):
        grains = GrainClient(task.settings)
        if scorer is None:
            scorer = ScorerClient(task.settings, grains)
            await asyncio.to_thread(check_scorer, scorer, task.settings.scorer_app)
        report = report or _grain_reporter(grains, task)
        artifacts = ArtifactStore.from_settings(task.settings)
        compound_ids, smiles = await asyncio.to_thread(read_library, artifacts, task.compounds_path)
        if len(compound_ids) != task.compounds:
            raise RuntimeError(
                f"the library at {task.compounds_path} has {len(compound_ids)} compounds, not {task.compounds}"
            )
        attempt = _Attempt(task, scorer, report, artifacts, compound_ids, smiles, featurising)
        if not await attempt.score_every_chunk():
            logger.info("screen %s attempt %d: told to stop", task.job_id, task.attempt)
            return ScreenOutcome(stopped=True, chunks_scored=attempt.scored)
        rows = await asyncio.to_thread(merge_results, artifacts, task.job_id, task.targets, task.chunks)
        return ScreenOutcome(chunks_scored=attempt.scored, results_path=results_path(task.job_id), rows=rows)


class _Attempt:
    """The chunks of one attempt, as a pipeline: featurised ahead in the featurising thread, scored
    ``IN_FLIGHT`` at a time, then given evidence, written and reported, each in its own task."""

    def __init__(
        self,
        task: ScreeningTask,
        scorer: Any,
        report: Reporter,
        artifacts: ArtifactStore,
        compound_ids: list[str],
        smiles: list[str],
        featurising: Executor | None,
    ) -> None:
        self.task = task
        self.scorer = scorer
        self.report = report
        self.artifacts = artifacts
        self.compound_ids = compound_ids
        self.smiles = smiles
        self.featurising = featurising
        self.loop = asyncio.get_running_loop()
        self.tracer = tracing.tracer(task.settings)
        skip = {target: set(chunks) for target, chunks in task.skip.items()}
        # chunk by chunk, each against every target: a chunk is featurised once (``featurising_of``),
        # and the scorer runs its GCN once (``ChunkRequest.reuse_states``), whatever the targets
        self.plan = [(t, n) for n in range(task.chunks) for t in task.targets if n not in skip.get(t, set())]
        self.featurising_of: dict[int, list[asyncio.Future[_Featurised]]] = {}  # a chunk's pieces, by chunk
        # the scorer keeps a chunk's GCN states for the next target only if the chunks in flight fit its budget
        kept_bytes = task.chunk_size * STATE_BYTES_PER_COMPOUND * (FEATURISED_AHEAD + 1)
        self.keep_states = kept_bytes <= task.settings.scorer_compound_state_mib * 2**20
        self.targets_of = Counter(n for _, n in self.plan)  # targets planned per chunk
        self.featurise = task.model.reads_graphs  # DrugBAN (alone or in an ensemble) reads graphs; the others SMILES
        self.running = {target: RunningTop(task.kept_top) for target in task.targets}
        self.evidence_kept = True  # False once the scorer says the model keeps no training data
        self.preparing: list[list[asyncio.Future[_Prepared]]] = []  # per planned chunk, its pieces
        self.scored = 0

    async def score_every_chunk(self) -> bool:
        """Run the plan; False when the grain said to stop."""
        go_on = True
        in_flight: set[asyncio.Task[bool]] = set()
        warming = self._warm_up()
        try:
            for k, (target, n) in enumerate(self.plan):
                self._prepare_ahead(k + 1 + FEATURISED_AHEAD)
                if len(in_flight) >= IN_FLIGHT:
                    go_on = await self._first_done(in_flight)
                    if not go_on:
                        break
                in_flight.add(self.loop.create_task(self._chunk(target, n, self.preparing[k])))
            while in_flight and go_on:
                go_on = await self._first_done(in_flight)
        finally:
            self._abandon(in_flight, warming)
        return go_on

    def _warm_up(self) -> asyncio.Task[ChunkScores] | None:
        """An empty first request: the replica loads the model and the target while the first piece
        is featurised."""
        if not (self.plan and self.featurise):
            return None
        first = self.plan[0][0]
        empty = ChunkRequest(
            model=self.task.model, target_key=first, sequence=self.task.sequences[first], smiles=[], graphs=[]
        )
        return self.loop.create_task(_score(self.scorer, empty))

    def _prepare_ahead(self, upto: int) -> None:
        """Queue the pieces of the planned chunks up to ``upto`` (featurised in the featurising thread)."""
        while len(self.preparing) < min(upto, len(self.plan)):
            k = len(self.preparing)
            target, n = self.plan[k]
            lo, hi = self._bounds(n)
            starts = range(lo, hi, PIECE_SIZE)
            pieces = zip(starts, self._featurising(n, starts, hi), strict=True)
            reuse = self.keep_states and self.targets_of[n] > 1  # the chunk goes to another target too
            self.preparing.append(
                [self.loop.create_task(self._prepared(target, a, min(a + PIECE_SIZE, hi), f, reuse)) for a, f in pieces]
            )

    def _featurising(self, n: int, starts: range, hi: int) -> list[asyncio.Future[_Featurised]]:
        """Chunk ``n``'s pieces being featurised: started once for every target; the chunks before
        the previous one are let go."""
        pieces = self.featurising_of.get(n)
        if pieces is None:
            pieces = self.featurising_of[n] = [
                self.loop.run_in_executor(self.featurising, self._featurise, a, min(a + PIECE_SIZE, hi)) for a in starts
            ]
            # let go of older chunks once featurised (one still running is cancelled by ``_abandon``)
            for old in [c for c, f in self.featurising_of.items() if c < n - 1 and all(p.done() for p in f)]:
                del self.featurising_of[old]
        return pieces

    async def _first_done(self, in_flight: set[asyncio.Task[bool]]) -> bool:
        """Wait for the first chunk(s) to finish; whether to go on. Raises theirs."""
        done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        in_flight.difference_update(done)
        answers = [t.result() for t in done]  # an exception ends the attempt
        self.scored += len(done)
        return all(answers)

    def _abandon(self, in_flight: set[asyncio.Task[bool]], warming: asyncio.Task[ChunkScores] | None) -> None:
        """Cancel what is still running when the attempt ends (finished, stopped or failed)."""
        for pending in in_flight:
            pending.cancel()
        futures: list[asyncio.Future[Any]] = [f for pieces in self.featurising_of.values() for f in pieces]
        futures.extend(f for pieces in self.preparing for f in pieces)
        for future in futures:
            future.cancel()  # a piece being featurised finishes in its thread, unused
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: an error there was raised by its chunk, or is moot
        if warming is not None:
            warming.cancel()
            if warming.done() and not warming.cancelled():
                warming.exception()  # moot: the chunks' own requests say what is wrong

    def _bounds(self, n: int) -> tuple[int, int]:
        size = self.task.chunk_size
        return n * size, min((n + 1) * size, self.task.compounds)

    def _featurise(self, lo: int, hi: int) -> _Featurised:
        """A piece's graphs and RDKit's refusals (for DrugBAN), and why each compound is not drug-like
        (in the featurising thread)."""
        smiles = self.smiles[lo:hi]
        graphs, failures = featurise_chunk(smiles) if self.featurise else (None, [])
        return graphs, failures, [drug_like_issue(s) for s in smiles]

    async def _prepared(
        self, target: str, lo: int, hi: int, featurising: asyncio.Future[_Featurised], reuse_states: bool
    ) -> _Prepared:
        """A piece ready for the scorer, against ``target`` (``reuse_states``: the chunk goes to other
        targets too, so the scorer keeps its compounds' GCN states from one to the next)."""
        graphs, failures, issues = await asyncio.shield(featurising)  # shared by the targets: not cancelled with one
        request = ChunkRequest(
            model=self.task.model,
            target_key=target,
            sequence=self.task.sequences[target],
            smiles=self.smiles[lo:hi],
            graphs=graphs,
            job_id=self.task.job_id,  # its pairs are monitored under the job
            reuse_states=reuse_states,
        )
        return _Prepared(request, failures, issues)

    async def _chunk(self, target: str, n: int, pieces: list[asyncio.Future[_Prepared]]) -> bool:
        """Score, store and report one chunk (a span of the attempt's trace); whether to go on."""
        attributes: dict[str, str | int] = {"repurpose.target": target, "repurpose.screen.chunk": n}
        with tracing.child_span(self.tracer, "screening chunk", attributes=attributes):
            return await self._chunk_traced(target, n, pieces)

    async def _chunk_traced(self, target: str, n: int, pieces: list[asyncio.Future[_Prepared]]) -> bool:
        prepared, scores = await self._scores(pieces)
        lo, hi = self._bounds(n)
        ids, smiles = self.compound_ids[lo:hi], self.smiles[lo:hi]
        issues = [issue for piece in prepared for issue in piece.issues]
        kept = self.task.kept_top
        best = best_rows(scores.scores, ids, kept, issues if self.task.drug_like_only else None)
        fresh = [best[j] for j in self.running[target].admit([(-(scores.scores[i] or 0.0), ids[i]) for i in best])]
        found = await self._evidence(target, [smiles[i] for i in fresh])
        evidence = dict(zip(fresh, found, strict=True)) if found is not None else {}
        path = chunk_path(self.task.job_id, target, n)
        await asyncio.to_thread(write_chunk, self.artifacts, path, lo, ids, smiles, scores, issues, evidence)
        hits = chunk_report(target, n, ids, smiles, scores, kept, issues=issues, evidence=evidence, best=best)
        return await self.report(hits)

    async def _scores(self, pieces: list[asyncio.Future[_Prepared]]) -> tuple[list[_Prepared], ChunkScores]:
        """A chunk's pieces and their scores: each piece goes to the scorer as soon as it is featurised."""
        prepared: list[_Prepared] = []
        scoring: list[asyncio.Task[ChunkScores]] = []
        try:
            for piece in pieces:
                prepared.append(await piece)
                scoring.append(self.loop.create_task(_score(self.scorer, prepared[-1].request)))
            return prepared, _joined(prepared, await asyncio.gather(*scoring))
        finally:
            for pending in scoring:
                pending.cancel()

    async def _evidence(self, target: str, hits: list[str]) -> list[BinderEvidence] | None:
        """The training data's evidence for ``hits`` (None: none asked, or the model keeps no data)."""
        if not hits or not self.evidence_kept:
            return None
        asked = EvidenceRequest(model=self.task.model, sequence=self.task.sequences[target], smiles=hits)
        answer: EvidenceAnswer = await _retried(self.scorer.evidence, asked)
        if answer.evidence is None:
            self.evidence_kept = False
        return answer.evidence


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


def check_scorer(scorer: Any, app: str) -> None:
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
        RankedHit(
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


def _grain_reporter(grains: GrainClient, task: ScreeningTask) -> Reporter:
    """Reports to the job's grain by kind and key: this module never imports the grain's."""

    async def report(chunk: ChunkReport) -> bool:
        return bool(await grains.acall(task.job_kind, task.job_id, "chunk_done", task.attempt, chunk))

    return report


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flags(issue: str | None, known: bool) -> dict[str, Any]:
    return {"drug_like": issue is None, "drug_like_issue": issue} if known else {}


def read_library(artifacts: ArtifactStore, path: str) -> tuple[list[str], list[str]]:
    """A library's (compound ids, SMILES), in their stored order."""
    with artifacts.open_read(path) as f:
        table = pq.read_table(f, columns=["compound_id", "smiles"])
    return table.column("compound_id").to_pylist(), table.column("smiles").to_pylist()
