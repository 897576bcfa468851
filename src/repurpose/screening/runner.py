"""Where screening jobs run: one long-lived screening runner per cluster, an asyncio task per
attempt of a ScreeningJob grain (the attempt itself: ``screening.attempt``).

The runner (``ScreeningRunner``) is an async Ray actor named ``screening-runner`` in the
cluster's namespace: detached, restarted by Ray without limit, declaring no CPU (the scorer's
replicas do the model's compute), and free of PyTorch (it imports RDKit, Arrow and the clients).
``up`` starts and warms it right after the scorer (``start_screening_runner``); otherwise the
first job creates it (``runner_handle``).
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
pool, scorer application), so one runner serves any pool in its namespace, and with the trace
context of the turn that started it: the attempt's spans join that trace.

A grain reaches the runner through ``start_attempt`` (the runner created on first use) and
``cancel_attempt`` (best effort: an attempt not cancelled stops at its next report anyway).

When the runner's process dies (killed, out of memory), Ray restarts it, every grain watching an
attempt sees the failure and starts its next attempt on the restarted runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from repurpose.data.drug_graph import featurize_drug
from repurpose.grains import GrainClient
from repurpose.scoring.client import ScorerClient
from repurpose.screening.attempt import check_scorer, execute_screening
from repurpose.screening.tasks import ScreeningTask, ScreenOutcome
from repurpose.settings import Settings

logger = logging.getLogger(__name__)

RUNNER_NAME = "screening-runner"
RUNNER_MAX_CONCURRENCY = 10_000
"""Calls the runner serves at once: every running attempt holds one (``run`` or ``wait``)."""
KEPT_OUTCOMES = 1_000
RUNNER_START_SECONDS = 300
WARM_CALL_SECONDS = 30
CANCEL_SECONDS = 10.0
"""How long ``cancel_attempt`` waits for the runner to confirm (the attempt stops at its next report anyway)."""

Attempt = tuple[str, int]  # (job id, attempt number)


class ScreeningRunner:
    """Runs attempts of screening jobs as asyncio tasks (see the module docs)."""

    def __init__(self) -> None:
        self._attempts: OrderedDict[Attempt, asyncio.Task[ScreenOutcome]] = OrderedDict()
        self._scorers: dict[str, Any] = {}  # ScorerClient per Serve application: handles stay warm
        self._featurising = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurise")

    async def warm(self, settings: Settings | None = None) -> int:
        """Make the first job fast: RDKit in the featurising thread and the scorer's handle (its
        router, by a first call); the pid."""
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
        scorer = ScorerClient(settings)
        check_scorer(scorer, settings.scorer_app)  # a fresh lookup
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
    """Create (or find) the runner and wait until it is warm (the scorer deployed first, its
    handle warms too); its pid."""
    pid: int = ray.get(runner_handle(settings).warm.remote(settings), timeout=RUNNER_START_SECONDS)
    return pid


def start_screening_runner(client: GrainClient) -> list[str]:
    """A step of ``up`` (``cluster.up``), after the scorer's: start the runner, warm, so a job's
    first chunk waits for no process start."""
    start_runner(client.settings)
    return [f"screening     runner {RUNNER_NAME!r} (warm)"]


async def start_attempt(settings: Settings, task: ScreeningTask) -> Any:
    """Start ``task`` in the runner (created on first use); its handle."""
    runner = await asyncio.to_thread(runner_handle, settings)
    await runner.start.remote(task)
    return runner


async def cancel_attempt(settings: Settings, job_id: str, attempt: int) -> None:
    """Cancel the attempt's task in the runner (if there is a runner; best effort)."""
    try:
        runner = await asyncio.to_thread(find_runner, settings)
        if runner is not None:
            await asyncio.wait_for(_awaited(runner.cancel.remote(job_id, attempt)), CANCEL_SECONDS)
    except Exception as error:  # e.g. the runner restarting: the attempt is gone, or stops at its next report
        logger.warning("screen %s: cancelling attempt %d in the runner failed: %s", job_id, attempt, error)
