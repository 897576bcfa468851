"""The grain host: one async Ray actor holding many grain activations.

A plain class, so it also runs in-process (tests, tools); ``get_or_start_host`` runs it as a
named, detached Ray actor.

Store I/O runs in worker threads (``asyncio.to_thread``): a load or a write-through can wait
on PostgreSQL's network round trip or on SQLite's file lock for another writer, and while it
waits the event loop keeps serving the host's other grains. Each activation's lock is held
across its own I/O, so turns of one grain stay strictly one at a time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import resource
import time
import typing
from collections import Counter
from functools import partial
from typing import Any, cast

import ray
from pydantic import BaseModel, TypeAdapter, ValidationError

from repurpose.errors import GrainStateInvalid, InvalidInput, UnknownGrainMethod
from repurpose.grains.base import Grain, GrainContext
from repurpose.grains.registry import KindRef, adopt, grain_class, import_kind, registered_kinds
from repurpose.runtime import tracing
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings
from repurpose.store import load_idempotent_result, load_state, make_engine, record_idempotent_result, save_state
from repurpose.store.models import IDEMPOTENCY_KEY_LENGTH, KEY_LENGTH

logger = logging.getLogger(__name__)

_RESERVED = frozenset(name for name in dir(Grain) if not name.startswith("_")) | {"key", "state", "context", "version"}


class HostStats(BaseModel):
    name: str
    pid: int
    activations: int
    by_kind: dict[str, int]
    activations_created: int  # since the host (re)started
    activations_collected: int  # idle ones dropped since the host (re)started
    kinds: list[str]  # grain kinds this host has learned
    rss_bytes: int


class _Activation:
    """One grain in memory: the instance, its turn lock and its last persisted state."""

    __slots__ = ("dropped", "grain", "last_used", "lock", "pending", "snapshot")

    def __init__(self) -> None:
        self.grain: Grain[Any] | None = None  # None until loaded (under the lock)
        self.lock = asyncio.Lock()
        self.pending = 0  # calls holding or waiting for the lock; idle collection skips these
        self.last_used = time.monotonic()
        self.snapshot: dict[str, Any] = {}  # the state as last persisted (JSON form)
        self.dropped = False  # collected or failed: callers must take a fresh activation


class GrainHost:
    """Holds activations keyed by ``(kind, key)``; one call at a time per activation."""

    def __init__(self, name: str, settings: Settings) -> None:
        from repurpose.grains.client import GrainClient  # the client creates hosts: import late

        self.name = name
        self.settings = settings
        self._engine = make_engine(settings.database_url)
        self._context = GrainContext(
            settings=settings,
            engine=self._engine,
            artifacts=ArtifactStore.from_settings(settings),
            grains=GrainClient(settings),
            host=name,
        )
        self._activations: dict[tuple[str, str], _Activation] = {}
        self._created = 0
        self._collected = 0
        self._collector: asyncio.Task[None] | None = None
        self._result_types: dict[tuple[type, str], TypeAdapter[Any]] = {}
        self._tracer = tracing.tracer(settings)
        logger.info("grain host %s started (pid %d)", name, os.getpid())

    async def ping(self) -> str:
        return self.name

    async def register_kind(self, cls: type[Grain[Any]]) -> str:
        return adopt(cls)

    async def import_kind(self, ref: KindRef) -> str:
        return import_kind(ref)

    async def stats(self) -> HostStats:
        kinds = Counter(kind for kind, _ in self._activations)
        return HostStats(
            name=self.name,
            pid=os.getpid(),
            activations=len(self._activations),
            by_kind=dict(kinds),
            activations_created=self._created,
            activations_collected=self._collected,
            kinds=registered_kinds(),
            rss_bytes=_rss_bytes(),
        )

    async def call(
        self,
        kind: str,
        key: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        trace: tracing.TraceCarrier | None = None,
    ) -> Any:
        """Run ``method`` on grain ``(kind, key)``, activating it if needed; see the package docs.
        ``trace``: the caller's trace context; the turn (its wait for the grain included) is a span
        under it, and the grain's own calls are its children."""
        cls = grain_class(kind)
        _check_operation(cls, method)
        _check_key(kind, key, idempotency_key)
        self._start_collector()
        attributes = grain_attributes(kind, key, method, self.name)
        with tracing.span_under(self._tracer, f"grain turn {kind}.{method}", trace, attributes=attributes):
            while True:
                activation = self._activation(kind, key)
                activation.pending += 1
                try:
                    async with activation.lock:
                        if activation.dropped:
                            continue  # collected or failed while we waited: take a fresh one
                        if activation.grain is None:
                            await self._activate(activation, cls, kind, key)
                        return await self._turn(activation, method, args, kwargs or {}, idempotency_key)
                finally:
                    activation.pending -= 1
                    activation.last_used = time.monotonic()

    def collect_idle(self, now: float | None = None) -> int:
        """Drop activations idle for ``grain_idle_seconds``; their state is stored already."""
        cutoff = (time.monotonic() if now is None else now) - self.settings.grain_idle_seconds
        idle = [ref for ref, a in self._activations.items() if a.pending == 0 and a.last_used <= cutoff]
        for ref in idle:
            self._drop(ref)
        self._collected += len(idle)
        if idle:
            logger.debug("host %s collected %d idle activations", self.name, len(idle))
        return len(idle)

    def _activation(self, kind: str, key: str) -> _Activation:
        # No await between lookup and insert: concurrent first calls share one activation.
        activation = self._activations.get((kind, key))
        if activation is None:
            activation = self._activations[(kind, key)] = _Activation()
            self._created += 1
        return activation

    def _drop(self, ref: tuple[str, str], activation: _Activation | None = None) -> None:
        """Forget an activation (only ``activation``, if given: a newer one may hold the key)."""
        current = self._activations.get(ref)
        if current is not None and (activation is None or current is activation):
            del self._activations[ref]
            current.dropped = True
        if activation is not None:
            activation.dropped = True

    async def _activate(self, activation: _Activation, cls: type[Grain[Any]], kind: str, key: str) -> None:
        try:
            stored = await asyncio.to_thread(load_state, self._engine, kind, key)
            if stored is None:
                version, state = 0, cls.initial_state(key)
            else:
                version, document = stored
                try:
                    state = cls.State.model_validate(document)
                except ValidationError as exc:
                    raise GrainStateInvalid(
                        f"stored state of {kind} {key!r} does not fit {cls.State.__name__}: {exc}", kind=kind, key=key
                    ) from None
            grain = cls(key, state, self._context)
            grain.version = version
            grain._save = partial(self._save_now, activation)
            activation.snapshot = state.model_dump(mode="json")
            activation.grain = grain
            await grain.on_activate()
            # What activation changed (a training run's next attempt) is stored now: a failing
            # first turn rolls back to the snapshot and must not take those changes with it.
            await self._persist(activation)
        except BaseException:
            self._drop((kind, key), activation)
            raise

    async def _turn(
        self,
        activation: _Activation,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        idempotency_key: str | None,
    ) -> Any:
        grain = activation.grain
        assert grain is not None  # activated under the same lock just before
        if idempotency_key is not None:
            result_type = self._result_type(type(grain), method)
            done = await asyncio.to_thread(load_idempotent_result, self._engine, grain.kind, grain.key, idempotency_key)
            if done is not None:
                return result_type.validate_python(done.result)
        try:
            result = getattr(grain, method)(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            if idempotency_key is not None:
                result = result_type.dump_python(result, mode="json")  # recorded with the state
        except BaseException:
            if not activation.dropped:
                grain.state = type(grain).State.model_validate(activation.snapshot)  # undo the failed turn
            raise
        if idempotency_key is None:
            await self._persist(activation)
            return result
        await self._persist(activation, record=(idempotency_key, result))
        return result_type.validate_python(result)  # exactly what a retried call will get

    async def _save_now(self, activation: _Activation) -> None:
        await self._persist(activation, force=True)

    async def _persist(
        self, activation: _Activation, *, force: bool = False, record: tuple[str, Any] | None = None
    ) -> None:
        """Write the state through if it changed (and a call's result, in the same transaction)."""
        grain = activation.grain
        assert grain is not None
        document = grain.state.model_dump(mode="json")
        changed = force or document != activation.snapshot
        if not changed and record is None:
            return
        try:
            version = await asyncio.to_thread(
                self._write, grain.kind, grain.key, document if changed else None, grain.version, record
            )
        except BaseException:
            # The store refused or failed: memory is now ahead of it. Forget this activation so
            # the next call reloads what is really stored.
            self._drop((grain.kind, grain.key), activation)
            raise
        grain.version = version
        activation.snapshot = document

    def _write(
        self, kind: str, key: str, document: dict[str, Any] | None, version: int, record: tuple[str, Any] | None
    ) -> int:
        with self._engine.begin() as conn:
            if document is not None:
                version = save_state(conn, kind, key, document, expected_version=version)
            if record is not None:
                record_idempotent_result(conn, kind, key, record[0], record[1])
        return version

    def _result_type(self, cls: type, method: str) -> TypeAdapter[Any]:
        cached = self._result_types.get((cls, method))
        if cached is None:
            try:
                annotation = typing.get_type_hints(getattr(cls, method)).get("return", Any)
            except Exception:  # annotations naming things the host cannot import
                logger.warning(
                    "%s.%s: unresolvable return annotation, results kept as plain JSON", cls.__qualname__, method
                )
                annotation = Any
            cached = self._result_types[(cls, method)] = TypeAdapter(annotation)
        return cached

    def _start_collector(self) -> None:
        if self._collector is None or self._collector.done():
            self._collector = asyncio.get_running_loop().create_task(self._collect_forever())

    async def _collect_forever(self) -> None:
        interval = min(max(self.settings.grain_idle_seconds / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            self.collect_idle()


_RemoteGrainHost = ray.remote(GrainHost)


def get_or_start_host(name: str, settings: Settings) -> ray.actor.ActorHandle:
    """A handle on the pool's host ``name``, starting it if it does not run (Ray must be connected).

    Hosts are detached (they outlive the process that started them), restarted by Ray without
    limit, take no CPU (they wait on I/O; the CPUs belong to training and scoring) and are
    spread over the nodes, so losing a node loses only its share of the activations. A host
    that exists keeps the settings it was started with.
    """
    if not ray.is_initialized():
        raise RuntimeError("Ray is not connected: call ray.init(...) (or `repurpose up`) before using grains")
    options = _RemoteGrainHost.options(
        name=name,
        namespace=settings.ray_namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=0,  # Ray never re-sends a ``call``: the client decides, knowing if it is idempotent
        max_concurrency=settings.grain_host_concurrency,
        num_cpus=0,
        scheduling_strategy="SPREAD",  # a pool of several hosts spreads over the cluster's nodes
    )
    return cast(ray.actor.ActorHandle, options.remote(name, settings))


def grain_attributes(kind: str, key: str, method: str, host: str) -> dict[str, str]:
    """A grain call's span attributes (OpenTelemetry's RPC conventions, the grain's key beside)."""
    return {
        "rpc.system": "ray",
        "rpc.service": kind,
        "rpc.method": method,
        "repurpose.grain.key": key,
        "repurpose.grain.host": host,
    }


def _check_operation(cls: type[Grain[Any]], method: str) -> None:
    public = isinstance(method, str) and not method.startswith("_") and method not in _RESERVED
    if not (public and inspect.isfunction(getattr(cls, method, None))):
        raise UnknownGrainMethod(f"grain kind {cls.kind!r} has no operation {method!r}", kind=cls.kind)


def _check_key(kind: str, key: str, idempotency_key: str | None) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= KEY_LENGTH:
        raise InvalidInput(f"a {kind} key must be a string of 1 to {KEY_LENGTH} characters, got {key!r:.80}")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInput(f"an idempotency key must have 1 to {IDEMPOTENCY_KEY_LENGTH} characters")


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS is the best portable figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
