"""The grain runtime on a real local Ray cluster: hosts as detached actors, deaths, idling."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import ray
import ray.cloudpickle
from pydantic import BaseModel

from repurpose.errors import GrainUnavailable, StaleWrite, UnknownGrainMethod
from repurpose.grains import Grain, GrainClient, grain
from repurpose.store import load_state, make_engine, save_state
from tests.helpers import kill_host

pytestmark = pytest.mark.slow

# Hosts cannot import this test module: ship its grain classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

MakeClient = Callable[..., GrainClient]


class CountState(BaseModel):
    count: int = 0


@grain("cluster.counter")
class Counter(Grain[CountState]):
    async def add(self, n: int = 1) -> int:
        count = self.state.count
        await asyncio.sleep(0.001)  # invite concurrent callers to interleave
        self.state.count = count + n
        return self.state.count

    def get(self) -> int:
        return self.state.count

    async def span(self, seconds: float) -> tuple[float, float]:
        start = time.time()
        await asyncio.sleep(seconds)
        return start, time.time()

    def broken(self) -> None:
        raise ValueError("a bug in a grain")

    async def add_crashing_once(self, n: int, marker: str) -> int:
        if not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)  # the host dies in the middle of the call
        return await self.add(n)

    def crash(self) -> None:
        os._exit(1)


class RelayState(BaseModel):
    forwarded: int = 0


@grain("cluster.relay")
class Relay(Grain[RelayState]):
    async def forward(self, to: str, n: int) -> int:
        """Grain to grain: add ``n`` to counter ``to`` through the host's own client."""
        total: int = await self.context.grains.acall(Counter, to, "add", n, idempotent=False)
        self.state.forwarded += n
        return total


def stored(client: GrainClient, key: str) -> tuple[int, dict[str, object]] | None:
    engine = make_engine(client.settings.database_url)
    try:
        return load_state(engine, "cluster.counter", key)
    finally:
        engine.dispose()


def test_call_50_concurrent_callers_one_activation(make_client: MakeClient) -> None:
    settings = make_client(grain_hosts=2).settings
    callers = [GrainClient(settings) for _ in range(50)]  # as if 50 processes
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda c: c.call(Counter, "shared", "add", idempotent=False), callers))
    assert sorted(results) == list(range(1, 51))
    stats = {s.name: s for s in callers[0].stats()}
    holder = callers[0].host_for(Counter, "shared")
    assert (stats[holder].activations, stats[holder].activations_created) == (1, 1)
    assert sum(s.activations for s in stats.values()) == 1
    assert stored(callers[0], "shared") == (50, {"count": 50})


def test_call_different_grains_concurrent_same_grain_in_turns(make_client: MakeClient) -> None:
    client = make_client(grain_hosts=1)

    async def two(first: str, second: str) -> list[tuple[float, float]]:
        return list(
            await asyncio.gather(client.acall(Counter, first, "span", 0.5), client.acall(Counter, second, "span", 0.5))
        )

    (a0, a1), (b0, b1) = asyncio.run(two("x", "y"))
    assert a0 < b1 and b0 < a1, "different grains on one host overlapped"
    (a0, a1), (b0, b1) = asyncio.run(two("x", "x"))
    assert a1 <= b0 or b1 <= a0, "one grain ran two turns at once"


def test_call_after_host_killed_reloads_state(make_client: MakeClient) -> None:
    client = make_client()
    assert client.call(Counter, "a", "add", 5, idempotent=False) == 5
    before = kill_host(client, Counter, "a")
    assert client.call(Counter, "a", "get") == 5
    assert client.call(Counter, "a", "add", 1, idempotent=False) == 6
    (stats,) = client.stats()
    assert stats.pid != before and stats.activations_created == 1


def test_call_in_flight_when_host_dies_is_retried_once(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client()
    marker = tmp_path / "crashed-once"
    assert client.call(Counter, "a", "add_crashing_once", 2, str(marker), idempotent=False) == 2
    assert marker.exists()
    assert client.call(Counter, "a", "get") == 2
    assert stored(client, "a") == (1, {"count": 2})


def test_call_host_dying_twice_is_unavailable(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(GrainUnavailable, match="failed again after its restart"):
        client.call(Counter, "a", "crash", idempotent=False)
    assert client.call(Counter, "a", "get") == 0  # and the pool still serves


def test_idle_activation_collected_and_reactivated(make_client: MakeClient) -> None:
    client = make_client(grain_idle_seconds=1)
    assert client.call(Counter, "a", "add", 3, idempotent=False) == 3
    time.sleep(2.0)
    (stats,) = client.stats()
    assert (stats.activations, stats.activations_collected) == (0, 1)
    assert client.call(Counter, "a", "get") == 3
    (stats,) = client.stats()
    assert (stats.activations, stats.activations_created) == (1, 2)


def test_call_stale_write_refused_not_lost(make_client: MakeClient) -> None:
    client = make_client()
    client.call(Counter, "a", "add", idempotent=False)  # active at version 1
    engine = make_engine(client.settings.database_url)
    try:
        save_state(engine, "cluster.counter", "a", {"count": 100}, expected_version=1)  # another writer
    finally:
        engine.dispose()
    with pytest.raises(StaleWrite) as caught:
        client.call(Counter, "a", "add", idempotent=False)
    assert (caught.value.kind, caught.value.key, caught.value.actual_version) == ("cluster.counter", "a", 2)
    assert stored(client, "a") == (2, {"count": 100})
    assert client.call(Counter, "a", "add", idempotent=False) == 101


def test_call_idempotency_key_retried_acts_once(make_client: MakeClient) -> None:
    client = make_client()
    first = client.call(Counter, "a", "add", 3, idempotency_key="request-42")
    again = client.call(Counter, "a", "add", 3, idempotency_key="request-42")
    ray.kill(ray.get_actor(client.host_for(Counter, "a"), namespace=client.settings.ray_namespace), no_restart=False)
    after_restart = client.call(Counter, "a", "add", 3, idempotency_key="request-42")
    assert first == again == after_restart == 3
    assert client.call(Counter, "a", "get") == 3
    assert client.call(Counter, "a", "add", 3, idempotency_key="request-43") == 6


def test_grain_calls_another_grain(make_client: MakeClient) -> None:
    client = make_client(grain_hosts=2)
    assert client.call(Relay, "r", "forward", "target", 4, idempotent=False) == 4
    assert client.call(Relay, "r", "forward", "target", 1, idempotent=False) == 5
    assert client.call(Counter, "target", "get") == 5


def test_call_errors_reach_the_caller(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(UnknownGrainMethod, match="no operation 'nope'"):
        client.call("cluster.counter", "a", "nope")
    with pytest.raises(ValueError, match="a bug in a grain"):
        client.call(Counter, "a", "broken")
