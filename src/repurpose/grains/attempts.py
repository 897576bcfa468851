"""Attempts: a grain's long work, run outside the grain and supervised from its host.

A grain with long work (a screening job, a training run) does none of it in its turns: each
try is an *attempt*, numbered from 1 in the grain's state, that runs in a Ray actor. A
*watcher*, an asyncio task on the grain's host, waits for the attempt's outcome and hands it
back to the grain as a call of its own, so every state change still happens in a turn and is
written through:

- ``complete(attempt, outcome)`` when the attempt returned its outcome;
- ``worker_failed(attempt, reason, crashed)`` when it did not. ``crashed`` (its actor died, the
  actor no longer knows the attempt, anything unexpected) asks for the next attempt; an error
  the attempt raised and its kind calls final (``final``: bad input, a refused run) fails the
  grain with the error's message.

Calls carry the attempt number, so a grain ignores news of an attempt it has moved past. One
watcher per (grain, attempt) per host: a grain re-activated while its watcher still runs (its
``on_activate`` watches the current attempt again) keeps that one. When the host dies its
watchers go with it; the grain's next activation watches again.

Work that runs outside a grain reports to it by kind and key (``KindRef``), never by importing
the grain's module: the grain's module imports the worker's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ray.exceptions import RayActorError, RayTaskError

from repurpose.errors import RepurposeError
from repurpose.grains.client import GrainClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_REASON_LENGTH = 500


class AttemptLost(Exception):
    """The actor running an attempt no longer knows it (it was restarted since): a crash."""


class AttemptWatchers:
    """The watchers of one grain kind's attempts in this process (see the module docs).

    ``final(error)`` says whether an error an attempt raised fails the grain (True) or is a crash
    that the next attempt may get past (False); ``label(key)`` is how log lines name a grain."""

    def __init__(
        self,
        kind: str,
        *,
        final: Callable[[BaseException], bool],
        label: Callable[[str], str] = lambda key: key,
    ) -> None:
        self.kind = kind
        self.final = final
        self.label = label
        # The running watchers (also the strong references the loop does not keep) and, for each,
        # the handle of the actor it watches, if it has one.
        self._watchers: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._workers: dict[tuple[str, int], Any] = {}

    def watch(
        self,
        grains: GrainClient,
        key: str,
        attempt: int,
        outcome: Callable[[], Awaitable[Any]],
        *,
        worker: Any = None,
        release: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        """Watch ``attempt`` of grain ``key`` unless a watcher here watches it already.

        ``outcome()`` starts (or re-attaches to) the attempt and returns its outcome; it raises
        ``AttemptLost``, or Ray's error when the actor died or the attempt raised. ``release(told)``
        runs after the grain was told (``told``: it took the outcome), to free what the attempt
        held; not when the watcher itself is cancelled (its host stopping: the attempt goes on).
        ``worker``: the attempt's actor handle, kept while it is watched (``worker()``)."""
        ref = (key, attempt)
        running = self._watchers.get(ref)
        if running is not None and not running.done():  # re-activated while its watcher still runs
            return
        watcher = asyncio.get_running_loop().create_task(self.supervise(grains, key, attempt, outcome, release))
        self._watchers[ref] = watcher
        if worker is not None:
            self._workers[ref] = worker
        watcher.add_done_callback(lambda _: self._forget(ref, watcher))

    def worker(self, key: str, attempt: int) -> Any | None:
        """The actor handle of a watched attempt (a worker started moments ago may not be found by
        name yet, but its handle is here)."""
        return self._workers.get((key, attempt))

    async def tell(self, grains: GrainClient, key: str, method: str, *args: Any) -> bool:
        """Call ``method`` of grain ``key`` of this kind; whether the call went through. A failure
        is logged: the grain logs its own errors, and its next activation watches again."""
        try:
            await grains.acall(self.kind, key, method, *args)
        except Exception:
            logger.exception("%s %s: %s failed", self.kind, self.label(key), method)
            return False
        return True

    async def supervise(
        self,
        grains: GrainClient,
        key: str,
        attempt: int,
        outcome: Callable[[], Awaitable[Any]],
        release: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        """What a watcher does (see ``watch``): await the outcome, tell the grain, release."""
        try:
            result = await outcome()
        except Exception as error:
            reason, crashed = self._failure(error)
            if crashed:
                logger.warning("%s %s: attempt %d ended: %s", self.kind, self.label(key), attempt, reason)
            await self.tell(grains, key, "worker_failed", attempt, reason, crashed)
            told = False
        else:
            told = await self.tell(grains, key, "complete", attempt, result)
        if release is not None:
            await release(told)

    def _failure(self, error: Exception) -> tuple[str, bool]:
        """Why an attempt ended without an outcome, and whether that was a crash."""
        if isinstance(error, RayTaskError) and not isinstance(error, RayActorError):  # the attempt raised
            cause = getattr(error, "cause", None) or error
            reason = cause.message if isinstance(cause, RepurposeError) else first_line(cause)
            return reason, not self.final(cause)
        # the actor died (Ray restarts it or not), no longer knows the attempt, or was never reached
        return first_line(error), True

    def _forget(self, ref: tuple[str, int], watcher: asyncio.Task[None]) -> None:
        if self._watchers.get(ref) is watcher:
            del self._watchers[ref]
            self._workers.pop(ref, None)


async def start_retried(start: Callable[[], Awaitable[T]], *, seconds: float, pause: float, what: str) -> T:
    """``start()``'s answer, tried again for up to ``seconds`` while its actor is unavailable
    (``RayActorError``: a call that meets the actor restarting may not have reached it), so
    ``start`` must be idempotent."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await start()
        except RayActorError as error:
            if time.monotonic() > deadline:
                raise
            logger.info("%s: the actor is not available (%s); trying again", what, first_line(error))
            await asyncio.sleep(pause)


def first_line(error: BaseException) -> str:
    """An error's first line (its type when it has no message), at most ``MAX_REASON_LENGTH``."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:MAX_REASON_LENGTH]


__all__ = ["AttemptLost", "AttemptWatchers", "first_line", "start_retried"]
