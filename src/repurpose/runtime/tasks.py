"""Ray tasks that need a free CPU, waited on for a bounded time.

A task (a dataset or library build, a split, an evaluation) waits in Ray's queue, with no
bound, until a CPU is free; when training workers and scorers hold them all, a request that
waits on it would hang. So such tasks are written with ``@reports_start``: they yield once as
they start, then their result. ``await_task`` waits up to
``settings.task_start_timeout_seconds`` for the start, then cancel the queued task and raise
``ClusterBusy`` (HTTP 503 with ``Retry-After``). A task that started runs to its end.

    @ray.remote(num_cpus=1)
    @reports_start
    def _build_task(data: bytes) -> Report: ...

    report = await await_task(_build_task.remote(data), "building the dataset", settings)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import ray

from repurpose.errors import ClusterBusy, RepurposeError
from repurpose.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

STARTED = "started"


def reports_start(function: Callable[P, T]) -> Callable[P, Iterator[Any]]:
    """``function`` as a generator task: ``STARTED`` as soon as it runs, then its result."""

    @functools.wraps(function)
    def task(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
        yield STARTED
        yield function(*args, **kwargs)

    return task


async def await_task(generator: Any, what: str, settings: Settings) -> Any:
    """The result of a ``@reports_start`` task (its ``.remote(...)``); ClusterBusy if it did not start
    in time. A task's own error is raised as Ray raises it (RayTaskError)."""
    try:
        started = await asyncio.wait_for(generator.__anext__(), settings.task_start_timeout_seconds)
    except TimeoutError:
        raise _busy(generator, what, settings) from None
    await started
    return await (await generator.__anext__())


def _busy(generator: Any, what: str, settings: Settings) -> ClusterBusy:
    with contextlib.suppress(Exception):  # finished or gone meanwhile: nothing to take off the queue
        ray.cancel(generator)
    wait = settings.task_start_timeout_seconds
    return ClusterBusy(
        f"{what} found no free CPU in {wait:g}s: the cluster's CPUs are taken (training runs, screens, "
        f"other uploads); retry in {settings.task_retry_after_seconds:g}s, or cancel a run",
        retry_after=settings.task_retry_after_seconds,
    )


def task_domain_error(error: Exception) -> BaseException:
    """The domain error a Ray task raised (``RayTaskError.cause``), as itself; anything else as Ray
    reported it."""
    cause: Any = getattr(error, "cause", None)
    return cause if isinstance(cause, RepurposeError) else error
