"""A scorer replica feeds its models' monitors without making a request wait.

Every lane hands its scored pairs to ``MonitorFeed.offer``: an append to a bounded queue (at
most ``monitor_queue_pairs`` pairs waiting), nothing computed. A batch that does not fit is
dropped and its pairs counted. A background task on the replica's event loop hands the queued
batches to the monitor worker (``scoring.monitor_worker``, a low-priority process: RDKit's
descriptors there cannot hold the scoring thread's GIL), which keeps one traffic sketch per
(model name, job id), and every ``monitor_flush_seconds`` sends the sketches to the Monitor
grain of each model name (``scoring.monitor_sink``) with the pairs dropped since the last flush.

The worker gets batches only while the replica is not scoring (``busy``). Priority alone is not
enough: a worker at the lowest priority (nice 19, or SCHED_IDLE) beside the fast path still
slowed it by 17 to 21 % on two cores (it runs in the scoring threads' short idle gaps and
evicts the caches the Gram-matrix product lives in); waiting for idle time costs nothing there.
A replica scoring without pause therefore sketches its traffic after the pause (a screening
job's when it ends), unless its queue fills beyond half: then the worker runs beside the
scoring (slowing it) rather than let batches drop.

A sketch is binned on its monitor's reference edges (asked once per model name) and sent with
a flush id of its own, retried (``FLUSH_TRIES``) with the same id, so the grain adds it once; a
sketch that still fails, or that the grain refuses (its reference changed), is dropped and its
pairs counted. A drop count keeps its id until the grain has it, so a report that was received
but not answered is not counted twice. A replica that is killed loses what it had not flushed:
the queue and the worker's sketches; a worker process that dies loses its sketches, counted as
dropped.

Cost (``benchmarks/screening.py``, (b'): 2,000 new compounds on two cores): the fast path
with the feed on ran within 1 to 2.3 % of it off (three runs on an idle machine); ``offer`` takes
about 20 µs a call, handing 2,000 pairs over about 3 ms of the replica's CPU, and the worker
sketched them about 1.8 s after the last piece (about 0.7 ms of its CPU per new compound,
RDKit's Crippen logP most of it; a cached compound costs microseconds).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from repurpose.contracts.scoring import ResolvedModel
from repurpose.errors import RepurposeError
from repurpose.model.directory import TrainedModel
from repurpose.model.evidence import TrainingEvidence
from repurpose.scoring.monitor_sink import MonitorSink
from repurpose.scoring.monitor_worker import Edges, ScoredPairs, aggregate, start_worker, take_sketches
from repurpose.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sent = Literal["sent", "refused", "failed"]  # failed: FLUSH_TRIES transport failures

FLUSH_TRIES = 3
RETRY_PAUSE_SECONDS = 0.5
HAND_OVER_PAIRS = 512
"""Pairs per call to the worker (about 0.4 s of its time when every compound is new): a request
that arrives while it works meets it for no longer, and a flush never waits long behind a backlog."""
TICK_SECONDS = 0.25
"""How often the background task looks at the queue between flushes."""


@dataclass(frozen=True)
class _Offered:
    pairs: ScoredPairs
    trained: TrainedModel  # its training compounds are read (a file, once) off the request path


@dataclass
class FeedCounts:
    offered: int = 0  # pairs the lanes handed over
    dropped: int = 0  # scored pairs that never reached a sketch the grain took
    flushed: int = 0  # pairs in the sketches the grain took
    flushes: int = 0  # sketches the grain took
    failed_flushes: int = 0  # sketches dropped after FLUSH_TRIES


class MonitorFeed:
    """One replica's feed: ``offer`` from any thread; ``start`` from the event loop."""

    def __init__(self, settings: Settings, sink: MonitorSink, busy: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self._busy = busy or (lambda: False)  # whether the replica is scoring: the worker waits its turn
        self.counts = FeedCounts()
        self._queue: deque[_Offered] = deque()
        self._queued_pairs = 0
        self._lock = threading.Lock()  # lanes offer from their threads
        self._dropped: Counter[str] = Counter()  # per model name, not yet reported
        self._reporting: dict[str, tuple[str, int]] = {}  # a drop count sent but not acknowledged: id, pairs
        self._held: Counter[str] = Counter()  # per model name, pairs in the worker's sketches
        self._edges: dict[str, Edges] = {}  # per model name, its reference bins (from its monitor)
        self._edges_failed: dict[str, float] = {}  # per model name, when asking for them last failed
        self._taught: set[str] = set()  # model versions whose training compounds the worker has
        self._worker: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # the background task and an explicit flush take turns

    # --- the request path ----------------------------------------------------------------------

    def offer(
        self,
        model: ResolvedModel,
        trained: TrainedModel,
        job_id: str | None,
        smiles: Sequence[str],
        sequences: Sequence[str],
        scores: np.ndarray,
    ) -> None:
        """Queue scored pairs (``smiles``/``sequences``: one per pair, or one for all; a NaN
        score: not scored), or drop and count them when the queue is full. Never blocks on work."""
        n = len(scores)
        if n == 0:
            return
        with self._lock:
            self.counts.offered += n
            if self._queued_pairs + n > self.settings.monitor_queue_pairs:
                scored = int(np.count_nonzero(~np.isnan(scores)))
                self._dropped[model.name] += scored
                self.counts.dropped += scored
                return
            pairs = ScoredPairs(model.name, model.artifact_path, job_id, smiles, sequences, scores)
            self._queue.append(_Offered(pairs, trained))
            self._queued_pairs += n

    def start(self) -> None:
        """Run the background task on the running event loop (once; again if it ended)."""
        if self._task is None or self._task.done():
            # A context of its own: started inside some request, the feed must not join its trace
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="monitor-feed", context=contextvars.Context()
            )

    # --- the background ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Hand everything queued to the worker, then send the sketches and the drop counts."""
        async with self._turn:
            await self._hand_over(deadline=None)
            await self._send()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the background task, flush what is left (within ``timeout``), end the worker."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except Exception as error:  # closing: what is not flushed now is lost, as if killed
            logger.warning("monitor feed: the last flush did not complete (%s)", error)
        if self._worker is not None:
            worker, self._worker = self._worker, None
            await asyncio.to_thread(worker.shutdown, wait=True, cancel_futures=True)  # nothing left for it

    async def _run(self) -> None:
        period = self.settings.monitor_flush_seconds
        next_flush = time.monotonic() + period
        while True:
            try:
                async with self._turn:
                    await self._hand_over(deadline=next_flush)
                    if time.monotonic() >= next_flush:
                        await self._send()
                        next_flush = time.monotonic() + period
            except asyncio.CancelledError:
                raise
            except Exception:  # the feed must outlive any one failure; the next turn tries again
                logger.exception("monitor feed: a turn failed")
            await asyncio.sleep(max(0.0, min(TICK_SECONDS, next_flush - time.monotonic())))

    async def _hand_over(self, deadline: float | None) -> None:
        """Queued batches to the worker, a slice at a time, until the queue is empty; with a
        ``deadline`` (the background task) until then, and while the replica is not scoring or
        the queue is half full."""
        while deadline is None or (time.monotonic() < deadline and (not self._busy() or self._backlogged())):
            taken = self._take_slice()
            if not taken:
                return
            await self._aggregate(taken)

    def _backlogged(self) -> bool:
        """Half the queue waits: the worker runs even beside the scoring, rather than let it overflow."""
        return self._queued_pairs > self.settings.monitor_queue_pairs // 2

    def _take_slice(self) -> list[_Offered]:
        taken: list[_Offered] = []
        pairs = 0
        with self._lock:
            while self._queue and (not taken or pairs + self._queue[0].pairs.pairs <= HAND_OVER_PAIRS):
                offered = self._queue.popleft()
                taken.append(offered)
                pairs += offered.pairs.pairs
            self._queued_pairs -= pairs
        return taken

    async def _aggregate(self, taken: list[_Offered]) -> None:
        for name in {o.pairs.model_name for o in taken} - set(self._edges):
            await self._learn_edges(name)
        usable = [o for o in taken if o.pairs.model_name in self._edges]
        self._drop([o for o in taken if o.pairs.model_name not in self._edges])
        if not usable:
            return
        training = await self._training([o for o in usable if o.pairs.model_key not in self._taught])
        try:
            added, unknown = await self._in_worker(aggregate, [o.pairs for o in usable], training, self._edges)
            self._taught.update(training)
            if unknown:  # the worker let go of these versions' training data: teach it again
                again = [o for o in usable if o.pairs.model_key in unknown]
                retaught = await self._training(again)
                more, _ = await self._in_worker(aggregate, [o.pairs for o in again], retaught, self._edges)
                added = dict(Counter(added) + Counter(more))
        except BrokenProcessPool as error:
            self._lost_worker(usable, error)
            return
        except Exception:  # a batch the worker could not take: counted, the feed goes on
            logger.exception("monitor feed: the monitor worker failed on %d batches; they are dropped", len(usable))
            self._drop(usable)
            return
        for name, n in added.items():
            self._held[name] += n

    async def _learn_edges(self, model_name: str) -> None:
        """The model's reference bins from its monitor; asked again a flush period after a failure
        (its pairs are dropped and counted meanwhile)."""
        failed_at = self._edges_failed.get(model_name)
        if failed_at is not None and time.monotonic() - failed_at < self.settings.monitor_flush_seconds:
            return
        try:
            self._edges[model_name] = await self.sink.edges(model_name)
        except Exception as error:
            if failed_at is None:  # once per streak of failures
                logger.warning(
                    "monitor feed: no reference bins for model %s (%s); its pairs are dropped", model_name, error
                )
            self._edges_failed[model_name] = time.monotonic()
        else:
            self._edges_failed.pop(model_name, None)

    async def _training(self, offered: list[_Offered]) -> dict[str, np.ndarray | None]:
        """Per model version, its packed training compounds (None: it keeps none)."""
        out: dict[str, np.ndarray | None] = {}
        for o in offered:
            if o.pairs.model_key not in out:
                evidence = await asyncio.to_thread(_evidence_of, o.trained)
                out[o.pairs.model_key] = None if evidence is None else evidence.compounds
        return out

    async def _send(self) -> None:
        """The worker's sketches to the grains, then the drop counts."""
        if self._worker is not None:
            try:
                sketches = await self._in_worker(take_sketches)
            except BrokenProcessPool as error:
                self._lost_worker([], error)
                sketches = []
            self._held.clear()
            for name, job_id, sketch in sketches:
                flush_id = uuid.uuid4().hex
                what = f"sketch of {sketch.n} pairs"
                if await self._tried(what, self.sink.record, name, sketch, job_id, flush_id) == "sent":
                    self.counts.flushes += 1
                    self.counts.flushed += sketch.n
                else:
                    self.counts.failed_flushes += 1
                    self._count_dropped(name, sketch.n)
                    self._edges.pop(name, None)  # a monitor reset since has other bins: ask again
        with self._lock:  # a name whose last count is still unacknowledged keeps its new drops for later
            for name in [n for n in self._dropped if n not in self._reporting]:
                pairs = self._dropped.pop(name)
                if pairs > 0:
                    self._reporting[name] = (uuid.uuid4().hex, pairs)
        for name, (flush_id, pairs) in list(self._reporting.items()):
            what = f"count of {pairs} dropped pairs"
            if await self._tried(what, self.sink.dropped, name, pairs, flush_id) != "failed":
                del self._reporting[name]  # sent, or refused for good; else it goes again, with its id

    async def _tried(self, what: str, call: Callable[..., Awaitable[object]], *args: object) -> Sent:
        """``call(*args)``, tried up to FLUSH_TRIES times unless the grain refuses it."""
        for attempt in range(1, FLUSH_TRIES + 1):
            try:
                await call(*args)
                return "sent"
            except RepurposeError as error:  # e.g. binned on a reference the monitor has left: final
                logger.warning("monitor feed: the monitor refused the %s: %s", what, error.message)
                return "refused"
            except Exception as error:
                logger.warning(
                    "monitor feed: sending the %s failed (try %d of %d): %s", what, attempt, FLUSH_TRIES, error
                )
                if attempt < FLUSH_TRIES:
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
        return "failed"

    # --- the worker process -----------------------------------------------------------------------

    async def _in_worker(self, function: Callable[..., T], *args: object) -> T:
        if self._worker is None:
            self._worker = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),  # a fork would copy the replica's threads' locks
                initializer=start_worker,
                initargs=(self.settings.scorer_compound_cache, os.getpid()),
            )
            self._taught = set()
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    def _lost_worker(self, handed: list[_Offered], error: BrokenProcessPool) -> None:
        """The worker died: its sketches and the batch in hand are lost (counted); a new one starts next time."""
        logger.warning("monitor feed: the monitor worker process ended (%s); its unflushed pairs are dropped", error)
        for name, n in self._held.items():
            self._count_dropped(name, n)
        self._held.clear()
        self._drop(handed)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None

    def _drop(self, offered: list[_Offered]) -> None:
        for o in offered:
            self._count_dropped(o.pairs.model_name, int(np.count_nonzero(~np.isnan(o.pairs.scores))))

    def _count_dropped(self, model_name: str, pairs: int) -> None:
        with self._lock:
            self._dropped[model_name] += pairs
            self.counts.dropped += pairs


def _evidence_of(trained: TrainedModel) -> TrainingEvidence | None:
    return trained.evidence  # read from its directory on first use: a thread, not the event loop
