"""The ScreeningJob grain (kind ``"screening-job"``, key = the job id) and the store reads of
every job (list, resolve a reference).

A job id is ``scr-`` and 12 hex digits, made at submit (``services.screens.submit_screen``):
random, or from the caller's idempotency key (so a retried submit reaches the same job and gets
the recorded answer).

``start`` validates the request (the library exists, every target is registered, the model
reference resolves to a registered version; ``top`` is 1 to ``MAX_TOP``), fixes the plan
(chunk size, chunks per target, how many hits the state keeps) and starts the first attempt.
The grain scores nothing itself: each attempt is an asyncio task in the cluster's long-lived
screening runner (``screening.runner.ScreeningRunner``: one warm process, no start per job),
supervised as ``grains.attempts`` describes: a watcher on the host starts it (``runner.start``,
retried while the runner restarts), waits for its outcome (``runner.wait``) and hands it back
to the grain as a call (``complete`` or ``worker_failed``). The attempt's task carries what it
needs (the target sequences the grain fetched) and reports each chunk to the grain by kind and
key (``chunk_done``).

What the state keeps, updated by every ``chunk_done`` (each written through):
- the chunks done per target (a new attempt skips them), progress (pairs done and total,
  pairs per second of the current attempt, ETA) and a log of attempts;
- failed compounds (featurisation is the same for every target, so they are counted on the
  first target's chunks): the exact count and the first ``MAX_FAILURES_LISTED``.

Per target the job keeps the best ``kept_top`` hits so far: ``min(top, 1000, 10000 // targets)``;
results beyond that are read from the Parquet files. Each hit carries its evidence (drug-like
flag, nearest training binder, applicability domain); with the request's ``drug_like_only``
only drug-like compounds are hits, ranked among themselves. While the job runs the kept hits
live in its activation, merged from each chunk's report, so a report does not rewrite up to
10,000 hits; they are written with the state when the job ends. An activation of a running job
(after its host died, say) rebuilds them from the files of the chunks recorded, which hold the
same rows the reports carried.

Crash recovery: an attempt that crashes (its error, or the runner's process dying: Ray restarts
the runner and every watcher sees the failure) is followed by the next attempt, on the restarted
runner, which skips the chunks already recorded; after ``settings.screening_worker_restarts``
attempts in a row that recorded nothing the job fails. An attempt that refuses its input
(library or model gone; no scorer) fails the job with the reason, as does a target gone when
the next attempt would start (its sequence travels with the attempt). When the grain host
dies, the runner goes on; the next activation (e.g. the runner's next ``chunk_done``) watches the
attempt again (``runner.wait``), or starts the next attempt if the runner no longer knows it.
``cancel`` cancels the attempt's task in the runner.

On success the grain records the results file and adds the screening, with each target's
best hits, to every target's history (``TargetProtein.add_screening``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from repurpose.actors.compound_library import CompoundLibrary, compounds_path
from repurpose.actors.target_protein import TargetProtein
from repurpose.contracts.ids import SCREEN_ID_PATTERN
from repurpose.contracts.scoring import ResolvedModel
from repurpose.contracts.screening import (
    MAX_FAILURES_LISTED,
    MAX_TOP,
    SHOWN_HITS,
    RankedHit,
    ResultsSource,
    ScreenAttempt,
    ScreenDetail,
    ScreenFailure,
    ScreenProgress,
    ScreenRequest,
    ScreenResultRow,
    ScreenResults,
    ScreenStatus,
    ScreenSummary,
    TargetHits,
    validated_request,
)
from repurpose.contracts.targets import MAX_HITS_PER_SCREENING, HistoryHit, ScreeningRecord, check_target_id
from repurpose.errors import (
    ClusterError,
    InvalidInput,
    ModelDirectoryError,
    NotFound,
    RepurposeError,
    ScreenNotFound,
    ScreenStateConflict,
)
from repurpose.grains import Grain, GrainContext, KindRef, grain
from repurpose.grains.attempts import AttemptLost, AttemptWatchers, first_line, start_retried
from repurpose.runtime import tracing
from repurpose.scoring.client import resolve_model
from repurpose.screening.results import ScoresSource, read_partial_results, read_results
from repurpose.screening.runner import cancel_attempt, runner_handle, start_attempt
from repurpose.screening.tasks import ChunkReport, ScreeningTask, ScreenOutcome, chunk_count
from repurpose.store import list_states

logger = logging.getLogger(__name__)

KIND = "screening-job"
MIN_PREFIX = 4
MAX_KEPT_PER_TARGET = 1_000
MAX_KEPT_HITS = 10_000
START_SECONDS = 300.0
"""How long a watcher keeps trying to start an attempt while the runner (re)starts."""
START_RETRY_SECONDS = 0.5

_FINAL_ERRORS = (InvalidInput, NotFound, ModelDirectoryError, ClusterError)
"""What an attempt raises when its input is at fault (library, target or model gone; no scorer):
the job fails. Anything else is a crash, and the next attempt resumes."""

_attempts = AttemptWatchers(KIND, final=lambda error: isinstance(error, _FINAL_ERRORS))


def check_screen_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not re.match(SCREEN_ID_PATTERN, job_id):
        raise InvalidInput(f"{job_id!r:.80} is not a screening job id (scr- and 12 hex digits)")
    return job_id


def kept_hits(top: int, targets: int) -> int:
    """How many hits per target a job's state keeps."""
    return max(1, min(top, MAX_KEPT_PER_TARGET, MAX_KEPT_HITS // max(1, targets)))


class ScreenState(BaseModel):
    request: ScreenRequest | None = None  # None: never submitted
    status: ScreenStatus = "running"
    model: ResolvedModel | None = None
    library_name: str = ""
    compounds: int = 0
    chunk_size: int = 0
    kept_top: int = 0
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0
    fruitless_restarts: int = 0
    attempt_log: list[ScreenAttempt] = Field(default_factory=list)
    done: dict[str, list[int]] = Field(default_factory=dict)
    top: dict[str, list[RankedHit]] = Field(default_factory=dict)  # the kept hits, once the job has ended
    failures_total: int = 0
    failures: list[ScreenFailure] = Field(default_factory=list)
    pace_since: dt.datetime | None = None  # the current attempt's first recorded chunk
    pace_pairs: int = 0  # pairs recorded by the current attempt after that one
    progress: ScreenProgress | None = None
    results_path: str | None = None
    error: str | None = None


@grain(KIND)
class ScreeningJob(Grain[ScreenState]):
    """One screening job: its plan, progress, best hits and failures, and the attempt that runs it."""

    def __init__(self, key: str, state: ScreenState, context: GrainContext) -> None:
        super().__init__(key, state, context)
        self._running_top: dict[str, list[RankedHit]] | None = None  # a running job's kept hits (module docs)

    async def on_activate(self) -> None:
        if self.state.request is not None and self.state.status == "running":
            try:
                self._running_top = await asyncio.to_thread(self._recorded_hits)
            except (RepurposeError, OSError, ValueError) as error:  # chunk files gone: the job can still be cancelled
                logger.warning("screen %s: its kept hits could not be read from its chunks: %s", self.key, error)
                self._running_top = {t: [] for t in self.state.request.targets}
            await self._attach_or_restart()

    async def start(self, request: ScreenRequest) -> ScreenDetail:
        """Validate the request and start the job; the same request again returns the job as it is."""
        check_screen_id(self.key)
        request = validated_request(request)
        if self.state.request is not None:
            if self.state.request != request:
                raise ScreenStateConflict(f"screening job {self.key} exists with another request", job_id=self.key)
            return self._detail()
        grains = self.context.grains
        library = await grains.acall(CompoundLibrary, request.library_id, "summary")  # LibraryNotFound
        for target in request.targets:
            check_target_id(target)
        sequences = await self._sequences(request.targets)  # TargetNotFound
        model = await resolve_model(grains, request.model or self.context.settings.default_model)
        chunk_size = request.chunk_size or self.context.settings.screening_chunk_size
        now = dt.datetime.now(dt.UTC)
        self.state = ScreenState(
            request=request,
            model=model,
            library_name=library.name,
            compounds=library.compounds,
            chunk_size=chunk_size,
            kept_top=kept_hits(request.top, len(request.targets)),
            created_at=now,
            started_at=now,
            done={t: [] for t in request.targets},
            top={t: [] for t in request.targets},
        )
        self._running_top = {t: [] for t in request.targets}
        self.state.progress = self._progress()
        self._launch(sequences)
        return self._detail(created=True)

    def show(self) -> ScreenDetail:
        return self._detail()

    def summary(self) -> ScreenSummary:
        self._started()
        return _summary_of(self.key, self.state)

    def chunk_done(self, attempt: int, report: ChunkReport) -> bool:
        """A stored chunk from ``attempt``; False tells a stale or cancelled attempt to stop."""
        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return False
        report = ChunkReport.model_validate(report)
        done = state.done.get(report.target_id)
        if done is None or not 0 <= report.chunk < self._chunks():
            raise InvalidInput(f"chunk {report.chunk} of target {report.target_id!r} is not part of job {self.key}")
        if report.chunk in done:
            return True  # a repeated report: recorded already
        kept = self._kept_hits()
        merged = _merge_hits(kept[report.target_id], report.hits, state.kept_top)
        done.append(report.chunk)
        done.sort()
        assert state.request is not None
        if report.target_id == state.request.targets[0]:
            state.failures_total += len(report.failures)
            room = MAX_FAILURES_LISTED - len(state.failures)
            state.failures.extend(report.failures[: max(0, room)])
        now = dt.datetime.now(dt.UTC)
        if state.pace_since is None:
            state.pace_since = now
        else:
            state.pace_pairs += report.compounds
        state.attempt_log[-1].recorded_chunks += 1
        state.progress = self._progress(now, report)
        kept[report.target_id] = merged  # last: a turn that raises leaves the activation's hits as they were
        return True

    async def complete(self, attempt: int, outcome: ScreenOutcome) -> ScreenDetail:
        """``attempt`` ended: succeed (and fill the targets' history), or go on."""
        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return self._detail()
        outcome = ScreenOutcome.model_validate(outcome)
        missing = self._chunks() * len(state.done) - sum(len(d) for d in state.done.values())
        if outcome.stopped or missing or outcome.results_path is None:
            # only a stale or cancelled attempt stops, and a finished one has recorded every chunk: a
            # report was lost. The next attempt scores what is missing (as after a crash).
            return await self.worker_failed(attempt, f"the attempt ended with {missing} chunk(s) unrecorded", True)
        state.results_path = outcome.results_path
        self._end_attempt("finished")
        self._finish("succeeded")
        if state.progress is not None:
            state.progress = state.progress.model_copy(update={"eta_seconds": 0.0})
        await self._record_history()
        return self._detail()

    async def worker_failed(self, attempt: int, reason: str, crashed: bool) -> ScreenDetail:
        """``attempt`` crashed (``crashed``: start the next attempt) or refused its input (fail)."""
        state = self._started()
        if attempt != state.attempts or state.status != "running":
            return self._detail()
        recorded = state.attempt_log[-1].recorded_chunks if state.attempt_log else 0
        self._end_attempt(f"died: {reason}" if crashed else f"failed: {reason}")
        state.fruitless_restarts = 0 if recorded else state.fruitless_restarts + 1
        if crashed and state.fruitless_restarts <= self.context.settings.screening_worker_restarts:
            logger.warning("screen %s: attempt %d died (%s); resuming in the next", self.key, attempt, reason)
            assert state.request is not None
            try:
                self._launch(await self._sequences(state.request.targets))
            except NotFound as error:  # a target gone since: no attempt could score it
                state.error = error.message
                self._finish("failed")
            except Exception as error:  # failing beats a "running" job that nothing watches
                state.error = f"could not read the targets' sequences to resume: {first_line(error)}"
                self._finish("failed")
        else:
            state.error = reason if not crashed else f"the screening attempts died {state.attempts} times: {reason}"
            self._finish("failed")
        return self._detail()

    async def cancel(self) -> ScreenDetail:
        """Stop the running attempt; the chunks done stay (and their results can be read)."""
        state = self._started()
        if state.status == "succeeded":
            raise ScreenStateConflict(
                f"screening job {self.key} has succeeded already; nothing to cancel", job_id=self.key
            )
        if state.status == "running":
            self._end_attempt("cancelled")
            self._finish("cancelled")
            await cancel_attempt(self.context.settings, self.key, state.attempts)
        return self._detail()

    async def results(self, target: str | None = None, top: int | None = None) -> ScreenResults:
        """The best ``top`` (default: the request's) per target, or of one ``target``.

        From the state when it keeps that many, else from ``results.parquet`` (a finished job) or
        from the chunks done so far (a running or stopped job: ``complete`` is False)."""
        state = self._started()
        assert state.request is not None
        top = state.request.top if top is None else top
        if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top must be 1 to {MAX_TOP}, not {top!r:.20}")
        self._check_target(target)
        targets = [target] if target is not None else list(state.request.targets)
        complete = state.status == "succeeded"
        artifacts = self.context.artifacts
        kept = self._kept_hits()
        if top <= state.kept_top or all(len(kept[t]) < state.kept_top for t in targets):
            rows = [ScreenResultRow(target_id=t, **h.model_dump()) for t in targets for h in kept[t][:top]]
            source: ResultsSource = "state"
        elif complete:
            assert state.results_path is not None
            only = state.request.drug_like_only
            rows = await asyncio.to_thread(read_results, artifacts, self.key, targets, top, only)
            source = "parquet"
        else:
            done = {t: list(state.done[t]) for t in targets}
            only = state.request.drug_like_only
            rows = await asyncio.to_thread(read_partial_results, artifacts, self.key, done, targets, top, only)
            source = "chunks"
        return ScreenResults(
            job_id=self.key,
            status=state.status,
            top=top,
            target=target,
            complete=complete,
            source=source,
            rows=rows,
        )

    def scores_source(self, target: str | None = None) -> ScoresSource:
        """Where every score (of one ``target``, or of all) is: the caller reads them from the
        artifact store (``screening.results``), so no screen's size passes through this grain."""
        state = self._started()
        assert state.request is not None
        self._check_target(target)
        targets = [target] if target is not None else list(state.request.targets)
        succeeded = state.status == "succeeded"
        return ScoresSource(
            job_id=self.key,
            status=state.status,
            complete=succeeded,
            targets=targets,
            results_path=state.results_path if succeeded else None,
            done={} if succeeded else {t: list(state.done[t]) for t in targets},
        )

    def _check_target(self, target: str | None) -> None:
        assert self.state.request is not None
        targets = self.state.request.targets
        if target is not None and target not in targets:
            raise InvalidInput(f"target {target!r:.40} is not part of screening job {self.key} ({', '.join(targets)})")

    # --- the attempts -----------------------------------------------------------------------

    async def _sequences(self, targets: list[str]) -> dict[str, str]:
        """Each target's protein sequence (TargetNotFound for one not registered): the attempt's
        task carries them."""
        grains = self.context.grains
        return {target: str(await grains.acall(TargetProtein, target, "sequence")) for target in targets}

    def _launch(self, sequences: dict[str, str]) -> None:
        """Start the next attempt in the runner (skipping the chunks recorded) and watch it."""
        state = self.state
        assert state.request is not None and state.model is not None
        state.attempts += 1
        state.attempt_log.append(
            ScreenAttempt(
                attempt=state.attempts,
                started_at=dt.datetime.now(dt.UTC),
                skipped_chunks=sum(len(d) for d in state.done.values()),
            )
        )
        state.pace_since, state.pace_pairs = None, 0
        task = ScreeningTask(
            job_kind=KindRef.of(ScreeningJob),
            job_id=self.key,
            attempt=state.attempts,
            compounds_path=compounds_path(state.request.library_id),
            compounds=state.compounds,
            targets=list(state.request.targets),
            sequences=sequences,
            model=state.model,
            chunk_size=state.chunk_size,
            kept_top=state.kept_top,
            drug_like_only=state.request.drug_like_only,
            skip={t: list(d) for t, d in state.done.items()},
            settings=self.context.settings,
            trace=tracing.inject() or {},
        )
        self._watch(state.attempts, task)

    async def _attach_or_restart(self) -> None:
        """Watch the current attempt again (after a host restart): the runner may still run it."""
        self._watch(self.state.attempts, None)

    def _watch(self, attempt: int, task: ScreeningTask | None) -> None:
        """Supervise ``attempt``: start ``task`` in the runner (None: re-attach to it), wait for its
        outcome; once the grain has it, the runner forgets it."""
        settings, job_id = self.context.settings, self.key
        runner: Any = None

        async def outcome() -> ScreenOutcome:
            nonlocal runner
            if task is not None:
                runner = await start_retried(
                    lambda: start_attempt(settings, task),
                    seconds=START_SECONDS,
                    pause=START_RETRY_SECONDS,
                    what=f"screen {job_id}: starting attempt {attempt}",
                )
            else:
                runner = await asyncio.to_thread(runner_handle, settings)
            result: ScreenOutcome | None = await runner.wait.remote(job_id, attempt)
            if result is None:  # the runner was restarted since (or the attempt never started)
                raise AttemptLost("the screening runner no longer runs it (restarted)")
            return result

        async def release(told: bool) -> None:
            if told and runner is not None:  # the grain has the outcome: nothing to wait for
                with contextlib.suppress(Exception):
                    runner.forget.remote(job_id, attempt)

        _attempts.watch(self.context.grains, job_id, attempt, outcome, release=release)

    async def _record_history(self) -> None:
        """Add this screening with each target's best hits to every target's history."""
        state = self.state
        assert state.request is not None and state.model is not None and state.finished_at is not None
        for target in state.request.targets:
            record = ScreeningRecord(
                job_id=self.key,
                model_name=state.model.name,
                model_version=state.model.version,
                screened_at=state.finished_at,
                library=state.library_name[:500] or None,
                compounds_scored=max(0, state.compounds - state.failures_total),
                best_hits=[
                    HistoryHit(smiles=h.smiles, score=h.score, compound_id=h.compound_id)
                    for h in self._kept_hits()[target][:MAX_HITS_PER_SCREENING]
                ],
            )
            try:
                await self.context.grains.acall(TargetProtein, target, "add_screening", record)
            except RepurposeError as error:  # e.g. the target's state no longer loads: the job still succeeded
                logger.warning("screen %s: could not add it to target %s's history: %s", self.key, target, error)

    # --- state helpers --------------------------------------------------------------------------

    def _chunks(self) -> int:
        return chunk_count(self.state.compounds, self.state.chunk_size)

    def _progress(self, now: dt.datetime | None = None, last: ChunkReport | None = None) -> ScreenProgress:
        state = self.state
        chunks = self._chunks()
        total = state.compounds * len(state.done)
        done_chunks = sum(len(d) for d in state.done.values())
        size, compounds = state.chunk_size, state.compounds
        done_pairs = sum(min(size, compounds - n * size) for d in state.done.values() for n in d)  # the last is short
        rate: float | None = None
        if now is not None and state.pace_since is not None and state.pace_pairs:
            seconds = (now - state.pace_since).total_seconds()
            rate = state.pace_pairs / seconds if seconds > 0 else None
        elif last is not None and last.scorer_seconds > 0:
            rate = last.compounds / last.scorer_seconds  # the attempt's first chunk: the scorer's own pace
        eta = (total - done_pairs) / rate if rate else None
        return ScreenProgress(
            pairs_done=done_pairs,
            pairs_total=total,
            chunks_done=done_chunks,
            chunks_total=chunks * len(state.done),
            failed_compounds=state.failures_total,
            pairs_per_second=rate,
            eta_seconds=eta,
            updated_at=now or dt.datetime.now(dt.UTC),
        )

    def _end_attempt(self, outcome: str) -> None:
        if self.state.attempt_log and self.state.attempt_log[-1].ended_at is None:
            entry = self.state.attempt_log[-1]
            entry.ended_at, entry.outcome = dt.datetime.now(dt.UTC), outcome[:500]

    def _finish(self, status: ScreenStatus) -> None:
        self.state.status = status
        self.state.finished_at = dt.datetime.now(dt.UTC)
        if self._running_top is not None:  # ended: the kept hits go into the state
            self.state.top = {target: list(hits) for target, hits in self._running_top.items()}

    def _kept_hits(self) -> dict[str, list[RankedHit]]:
        """Per target the kept hits, best first: the activation's while the job runs (also after a
        turn that ended it raised, and the state was rolled back), else the state's."""
        if self.state.status == "running" and self._running_top is not None:
            return self._running_top
        return self.state.top

    def _recorded_hits(self) -> dict[str, list[RankedHit]]:
        """The kept hits of the chunks recorded so far, from their files (blocking): what the
        chunks' reports merged."""
        state = self.state
        assert state.request is not None
        targets, done = list(state.request.targets), {t: list(d) for t, d in state.done.items()}
        only = state.request.drug_like_only
        rows = read_partial_results(self.context.artifacts, self.key, done, targets, state.kept_top, only)
        kept: dict[str, list[RankedHit]] = {t: [] for t in targets}
        for row in rows:
            kept[row.target_id].append(RankedHit(**row.model_dump(exclude={"target_id"})))
        return kept

    def _started(self) -> ScreenState:
        if self.state.request is None:
            raise ScreenNotFound(f"no screening job {self.key}", job_id=self.key)
        return self.state

    def _detail(self, created: bool = False) -> ScreenDetail:
        state = self._started()
        assert state.request is not None and state.model is not None
        return ScreenDetail(
            **_summary_of(self.key, state).model_dump(),
            request=state.request,
            resolved_model=state.model,
            chunk_size=state.chunk_size,
            kept_top=state.kept_top,
            started_at=state.started_at,
            attempts=state.attempts,
            attempt_log=list(state.attempt_log),
            progress=state.progress or self._progress(),
            best=[TargetHits(target_id=t, hits=self._kept_hits()[t][:SHOWN_HITS]) for t in state.request.targets],
            failures_total=state.failures_total,
            failures=list(state.failures),
            results_path=state.results_path,
            error=state.error,
            created=created,
        )


def _merge_hits(current: list[RankedHit], new: list[RankedHit], kept: int) -> list[RankedHit]:
    """The best ``kept`` of both lists, ranked (score descending, ties by compound id)."""
    merged = sorted([*current, *(RankedHit.model_validate(h) for h in new)], key=lambda h: (-h.score, h.compound_id))
    return [h.model_copy(update={"rank": rank}) for rank, h in enumerate(merged[:kept], start=1)]


# --- finding jobs ----------------------------------------------------------------------------------


def list_screens(engine: Engine) -> list[ScreenSummary]:
    """Every screening job, newest first."""
    screens = []
    for stored in list_states(engine, KIND):
        state = ScreenState.model_validate(stored.state)
        if state.request is not None:
            screens.append(_summary_of(stored.key, state))
    return sorted(screens, key=lambda s: (s.created_at, s.job_id), reverse=True)


def resolve_screen(engine: Engine, reference: str) -> str:
    """The job id ``reference`` names: the full id, or a unique prefix of its hex digits (4+,
    with or without ``scr-``). ScreenNotFound if none matches, InvalidInput if several do."""
    text = reference.strip().lower() if isinstance(reference, str) else ""
    if re.match(SCREEN_ID_PATTERN, text):
        return text
    digits = text.removeprefix("scr-")
    if len(digits) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in digits):
        raise InvalidInput(
            f"{reference!r:.80} is not a screening job id: give scr-<12 hex digits> or {MIN_PREFIX}+ of its digits"
        )
    matches = [s.key for s in list_states(engine, KIND) if s.key.startswith(f"scr-{digits}")]
    if not matches:
        raise ScreenNotFound(f"no screening job scr-{digits}", job_id=reference)
    if len(matches) > 1:
        raise InvalidInput(f"{reference!r} matches {len(matches)} screening jobs; give more of the id")
    return matches[0]


def _summary_of(job_id: str, state: ScreenState) -> ScreenSummary:
    assert state.request is not None and state.model is not None and state.created_at is not None
    progress = state.progress
    return ScreenSummary(
        job_id=job_id,
        status=state.status,
        library_id=state.request.library_id,
        library_name=state.library_name,
        targets=list(state.request.targets),
        model=state.model.ref,
        top=state.request.top,
        compounds=state.compounds,
        pairs_done=progress.pairs_done if progress else 0,
        pairs_total=progress.pairs_total if progress else state.compounds * len(state.request.targets),
        created_at=state.created_at,
        finished_at=state.finished_at,
    )


__all__ = [
    "KIND",
    "ScreenNotFound",
    "ScreenState",
    "ScreenStateConflict",
    "ScreeningJob",
    "check_screen_id",
    "kept_hits",
    "list_screens",
    "resolve_screen",
]
