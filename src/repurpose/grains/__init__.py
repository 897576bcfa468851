"""Grains: the cluster's addressable, single-writer entities, hosted Orleans-style on Ray.

A grain is a plain class (``Grain[State]``) registered under a kind (``@grain("target")``)
and addressed by ``(kind, key)``. Grains live as activations inside a small pool of *grain
hosts*: named, detached async Ray actors (``<pool>-0`` … in the Ray namespace of the settings,
``num_cpus=0``, restarted by Ray without limit). A grain's host is chosen by rendezvous
hashing of ``(kind, key)`` over the host names, so every caller finds it without a lookup.

Inside a host, each activation has one ``asyncio.Lock``: calls to a grain take turns, calls to
different grains run concurrently. An activation loads its state from the store
(``grain_state``), and a turn that changed the state writes it through, with the version it
read, before the call returns; a writer that lost a race gets ``StaleWrite`` and the
activation is dropped so the next call reloads. A turn that raises leaves the state as stored.
Activations idle for ``grain_idle_seconds`` are dropped; the next call reactivates them.

``GrainClient.call`` survives a host's death: it waits for Ray's restart and calls again,
once. Calls that are not idempotent carry an idempotency key; the host stores their result
in the same transaction as the state, so a repeated call returns it instead of acting twice.
Hosts learn a kind by importing it or from the first client that calls it (the class travels
with the call, by reference or, for ``__main__`` and test modules, by value; a caller that must
not import the class names it by a ``KindRef``, and the host imports the module it names).

Long work a grain starts outside itself (an attempt, in a Ray actor) is supervised from its
host by ``grains.attempts``: a watcher per attempt hands its outcome back to the grain as a call.

Writing a kind::

    class CounterState(BaseModel):
        count: int = 0

    @grain("counter")
    class Counter(Grain[CounterState]):
        async def add(self, n: int = 1) -> int:
            self.state.count += n
            return self.state.count

    GrainClient(settings).call(Counter, "a", "add", 2, idempotent=False)   # -> 2
"""

from repurpose.grains.base import Grain, GrainContext
from repurpose.grains.client import GrainClient
from repurpose.grains.host import GrainHost, HostStats
from repurpose.grains.placement import host_names, pick_host
from repurpose.grains.registry import KindRef, find_grain_class, grain, grain_class, registered_kinds

__all__ = [
    "Grain",
    "GrainClient",
    "GrainContext",
    "GrainHost",
    "HostStats",
    "KindRef",
    "find_grain_class",
    "grain",
    "grain_class",
    "host_names",
    "pick_host",
    "registered_kinds",
]
