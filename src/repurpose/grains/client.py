"""Calling grains from anywhere: the driver, the CLI, the gateway, or another grain."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

import ray
from opentelemetry.trace import Span, SpanKind
from ray.actor import ActorHandle
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from repurpose.errors import GrainUnavailable, RepurposeError, UnknownGrainKind
from repurpose.grains.base import Grain
from repurpose.grains.host import HostStats, get_or_start_host, grain_attributes
from repurpose.grains.placement import host_names, pick_host
from repurpose.grains.registry import KindRef, find_grain_class
from repurpose.runtime import tracing
from repurpose.settings import Settings, get_settings

logger = logging.getLogger(__name__)

GrainKind = str | type[Grain[Any]] | KindRef
"""A grain kind: its name, its class or a ``KindRef``."""

_RETRY_PAUSE_SECONDS = 0.2
_HOUSEKEEPING_RETRIES = 3  # ping, stats and register_kind are harmless to repeat: Ray may re-send them


class _Request(NamedTuple):
    kind: str
    key: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    idempotency_key: str | None
    cls: type[Grain[Any]] | None  # sent to a host that does not know the kind yet
    ref: KindRef | None  # else the module such a host imports to learn it
    trace: tracing.TraceCarrier | None = None  # the caller's trace context, set in the call's span

    def host_args(self) -> tuple[Any, ...]:
        """The arguments of ``GrainHost.call``."""
        return self.kind, self.key, self.method, self.args, self.kwargs, self.idempotency_key, self.trace


class GrainClient:
    """Routes calls to the pool of grain hosts named in ``settings`` (Ray must be connected).

    ``call`` blocks (CLI, scripts); ``acall`` is the same for async code (gateway, grains).
    Hosts are created on first use if ``repurpose up`` has not started them. A kind is named by
    its class, by its name (hosts must know it) or by a ``KindRef`` (what a worker that must not
    import the class reports to its grain with). Inside a trace, a call is a client span whose
    context (W3C ``traceparent``) travels with it: the host's turn is its child.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.hosts = host_names(self.settings.grain_pool, self.settings.grain_hosts)
        self._handles: dict[str, ActorHandle] = {}
        self._tracer = tracing.tracer(self.settings)

    def host_for(self, kind: GrainKind, key: str) -> str:
        """The name of the host that holds grain ``(kind, key)``."""
        return pick_host(_kind_name(kind), key, self.hosts)

    def call(
        self,
        kind: GrainKind,
        key: str,
        method: str,
        /,
        *args: Any,
        idempotent: bool = True,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` of grain ``(kind, key)`` and return its result.

        If the grain's host dies during the call, wait for Ray to restart it and call again,
        once. That is safe for ``idempotent`` calls; for the others pass ``idempotent=False``
        (a fresh idempotency key is made) or your own ``idempotency_key`` (to make separate
        requests, e.g. retried HTTP requests, count once): the host records the result with
        the state change, and a repeated key gets the recorded result without acting again.
        """
        request = _request(kind, key, method, args, kwargs, idempotent, idempotency_key)
        host = pick_host(request.kind, request.key, self.hosts)
        with self._span(request, host):
            request = request._replace(trace=tracing.inject())
            try:
                return self._call_once(host, request)
            except RayActorError as exc:
                logger.warning("grain host %s failed during %s.%s (%s); retrying once", host, request.kind, method, exc)
                self._wait_for_host(host, request)
            try:
                return self._call_once(host, request)
            except RayActorError as exc:
                raise _unavailable(host, request, "failed again after its restart") from exc

    async def acall(
        self,
        kind: GrainKind,
        key: str,
        method: str,
        /,
        *args: Any,
        idempotent: bool = True,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``call`` for async code."""
        request = _request(kind, key, method, args, kwargs, idempotent, idempotency_key)
        host = pick_host(request.kind, request.key, self.hosts)
        with self._span(request, host):
            request = request._replace(trace=tracing.inject())
            try:
                return await self._acall_once(host, request)
            except RayActorError as exc:
                logger.warning("grain host %s failed during %s.%s (%s); retrying once", host, request.kind, method, exc)
                await asyncio.to_thread(self._wait_for_host, host, request)
            try:
                return await self._acall_once(host, request)
            except RayActorError as exc:
                raise _unavailable(host, request, "failed again after its restart") from exc

    def start(self) -> list[HostStats]:
        """Create the pool's hosts that do not exist yet and wait until all answer."""
        for host in self.hosts:
            self._handle(host)
        return self.stats()

    def stats(self) -> list[HostStats]:
        """Every host's figures; a host Ray is restarting is waited for, as a grain call would."""
        return [self._host_stats(host) for host in self.hosts]

    def _host_stats(self, host: str) -> HostStats:
        try:
            return _get(self._handle(host).stats.options(max_task_retries=_HOUSEKEEPING_RETRIES).remote())
        except RayActorError:  # Ray's few quick retries can end before a restarting host is back
            self._wait_for_host(host, None)
        return _get(self._handle(host).stats.options(max_task_retries=_HOUSEKEEPING_RETRIES).remote())

    def stop(self) -> None:
        """Kill the pool's hosts for good (activations go; their state is stored)."""
        for host in self.hosts:
            self._handles.pop(host, None)
            try:
                handle = ray.get_actor(host, namespace=self.settings.ray_namespace)
            except ValueError:  # not running
                continue
            ray.kill(handle, no_restart=True)

    def _span(self, request: _Request, host: str) -> AbstractContextManager[Span]:
        """The caller's span of a grain call (inside a trace only): its retry included."""
        return tracing.child_span(
            self._tracer,
            f"grain {request.kind}.{request.method}",
            kind=SpanKind.CLIENT,
            attributes=grain_attributes(request.kind, request.key, request.method, host),
        )

    def _call_once(self, host: str, request: _Request) -> Any:
        handle = self._handle(host)
        try:
            return _get(handle.call.remote(*request.host_args()))
        except UnknownGrainKind:
            teach = _teaching(handle, request)
            if teach is None:
                raise
            _get(teach)
            return _get(handle.call.remote(*request.host_args()))

    async def _acall_once(self, host: str, request: _Request) -> Any:
        handle = self._handles.get(host)
        if handle is None:
            handle = await asyncio.to_thread(self._handle, host)
        try:
            return await _aget(handle.call.remote(*request.host_args()))
        except UnknownGrainKind:
            teach = _teaching(handle, request)
            if teach is None:
                raise
            await _aget(teach)
            return await _aget(handle.call.remote(*request.host_args()))

    def _handle(self, host: str) -> ActorHandle:
        handle = self._handles.get(host)
        if handle is None:
            handle = self._handles[host] = get_or_start_host(host, self.settings)
        return handle

    def _wait_for_host(self, host: str, request: _Request | None) -> None:
        """Wait until Ray has restarted ``host`` (or re-create it if it is gone for good)."""
        deadline = time.monotonic() + self.settings.grain_restart_timeout_seconds
        self._handles.pop(host, None)
        while True:
            try:
                handle = get_or_start_host(host, self.settings)
                ray.get(
                    handle.ping.options(max_task_retries=_HOUSEKEEPING_RETRIES).remote(),
                    timeout=max(deadline - time.monotonic(), _RETRY_PAUSE_SECONDS),
                )
            except (RayActorError, GetTimeoutError) as exc:
                if time.monotonic() >= deadline:
                    if request is None:  # not for a grain: the host's own figures
                        raise GrainUnavailable(f"grain host {host} did not come back in time", kind="host") from exc
                    raise _unavailable(host, request, "did not come back in time") from exc
                time.sleep(_RETRY_PAUSE_SECONDS)
                continue
            self._handles[host] = handle
            return


def _request(
    kind: GrainKind,
    key: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    idempotent: bool,
    idempotency_key: str | None,
) -> _Request:
    name = _kind_name(kind)
    cls = kind if isinstance(kind, type) else find_grain_class(name)
    ref = kind if isinstance(kind, KindRef) else None
    if idempotency_key is None and not idempotent:
        idempotency_key = uuid.uuid4().hex
    return _Request(name, key, method, tuple(args), dict(kwargs), idempotency_key, cls, ref)


def _teaching(handle: ActorHandle, request: _Request) -> ray.ObjectRef | None:
    """The call that teaches a host the request's kind: its class, or the module to import; None
    when the caller knows neither."""
    housekeeping = {"max_task_retries": _HOUSEKEEPING_RETRIES}
    if request.cls is not None:
        return handle.register_kind.options(**housekeeping).remote(request.cls)
    if request.ref is not None:
        return handle.import_kind.options(**housekeeping).remote(request.ref)
    return None


def _kind_name(kind: GrainKind) -> str:
    if isinstance(kind, str):
        return kind
    if isinstance(kind, KindRef):
        return kind.name
    if not kind.kind:
        raise TypeError(f"{kind.__qualname__} is not registered: decorate it with @grain('<kind>')")
    return kind.kind


def _get(ref: ray.ObjectRef) -> Any:
    try:
        return ray.get(ref)
    except RayTaskError as exc:
        if isinstance(exc.cause, RepurposeError):
            raise exc.cause from None  # a domain error reaches the caller as itself
        raise


async def _aget(ref: ray.ObjectRef) -> Any:
    try:
        return await ref
    except RayTaskError as exc:
        if isinstance(exc.cause, RepurposeError):
            raise exc.cause from None
        raise


def _unavailable(host: str, request: _Request, what: str) -> GrainUnavailable:
    return GrainUnavailable(
        f"grain host {host} holding {request.kind} {request.key!r} {what}", kind=request.kind, key=request.key
    )
