"""Attempt supervision on a real local Ray cluster: how each end of an attempt reaches its grain,
and how a kind reaches a host by reference (``KindRef``)."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import ray.cloudpickle
from pydantic import BaseModel, Field

from repurpose.errors import InvalidInput, TargetNotFound, UnknownGrainKind
from repurpose.grains import Grain, GrainClient, KindRef, grain
from repurpose.grains.attempts import AttemptLost, AttemptWatchers
from repurpose.grains.host import get_or_start_host
from repurpose.settings import Settings
from repurpose.store import upgrade
from tests.helpers import NAMESPACE

pytestmark = pytest.mark.slow

# Hosts cannot import this test module: ship its classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

KIND = "attempts.work"
WAIT_SECONDS = 60


@ray.remote(num_cpus=0, max_restarts=0)
class Worker:
    """An attempt's actor: ends the way it is told to."""

    def run(self, how: str) -> str:
        if how == "refuses":
            raise InvalidInput("the library is gone")
        if how == "breaks":
            raise RuntimeError("a bug\nand its details")
        if how == "dies":
            os._exit(1)
        return f"scored ({how})"


class WorkState(BaseModel):
    attempts: int = 0
    ends: list[str] = Field(default_factory=list)


_watchers = AttemptWatchers(KIND, final=lambda error: isinstance(error, InvalidInput))


@grain(KIND)
class Work(Grain[WorkState]):
    def start(self, how: str) -> int:
        self.state.attempts += 1
        attempt, key, grains = self.state.attempts, self.key, self.context.grains
        handle = Worker.remote()

        async def outcome() -> str:
            if how == "lost":
                raise AttemptLost("the runner no longer runs it (restarted)")
            return str(await handle.run.remote(how))

        async def release(told: bool) -> None:
            await grains.acall(Work, key, "released", attempt, told)

        _watchers.watch(grains, key, attempt, outcome, worker=handle, release=release)
        return attempt

    def complete(self, attempt: int, outcome: str) -> None:
        self.state.ends.append(f"{attempt} complete: {outcome}")

    def worker_failed(self, attempt: int, reason: str, crashed: bool) -> None:
        self.state.ends.append(f"{attempt} {'crashed' if crashed else 'failed'}: {reason}")

    def released(self, attempt: int, told: bool) -> None:
        self.state.ends.append(f"{attempt} released, told {told}")

    def ends(self) -> list[str]:
        return self.state.ends


@pytest.fixture
def settings(ray_cluster: None, tmp_path: Path) -> Settings:
    """A pool of its own on a SQLite store: supervision is no store's business."""
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        ray_namespace=NAMESPACE,
        grain_pool=f"pool-{uuid.uuid4().hex[:8]}",
        grain_hosts=1,
    )
    upgrade(settings.database_url)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[GrainClient]:
    client = GrainClient(settings)
    yield client
    client.stop()


def ends_of(client: GrainClient, key: str, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        ends: list[str] = client.call(Work, key, "ends")
        if len(ends) >= count or time.monotonic() > deadline:
            return ends
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("how", "ends"),
    [
        ("returns", ["1 complete: scored (returns)", "1 released, told True"]),
        ("refuses", ["1 failed: the library is gone", "1 released, told False"]),  # a final error: no retry
        ("breaks", ["1 crashed: a bug", "1 released, told False"]),  # anything else is a crash
        ("lost", ["1 crashed: the runner no longer runs it (restarted)", "1 released, told False"]),
    ],
)
def test_every_end_of_an_attempt_reaches_its_grain(client: GrainClient, how: str, ends: list[str]) -> None:
    assert client.call(Work, how, "start", how, idempotent=False) == 1
    assert ends_of(client, how, 2) == ends


def test_an_attempt_whose_actor_dies_is_a_crash(client: GrainClient) -> None:
    client.call(Work, "w", "start", "dies", idempotent=False)
    crashed, released = ends_of(client, "w", 2)
    assert crashed.startswith("1 crashed: The actor died"), crashed  # Ray's RayActorError, first line
    assert released == "1 released, told False"


def test_a_host_learns_a_kind_from_its_module(settings: Settings) -> None:
    """What a worker reporting to its grain relies on: it names the kind (``KindRef``), never
    imports the grain's module, and a host that does not know the kind (restarted) imports it."""
    host = get_or_start_host(f"{settings.grain_pool}-0", settings)
    try:
        with pytest.raises(UnknownGrainKind):  # a fresh host knows no kind
            _get(host.call.remote("target", "EGFR", "show"))
        ref = KindRef("target", "repurpose.actors.target_protein")
        assert ray.get(host.import_kind.remote(ref)) == "target"
        with pytest.raises(TargetNotFound):  # the grain's own answer: the host knows the kind now
            _get(host.call.remote("target", "EGFR", "show"))
        with pytest.raises(UnknownGrainKind):  # a module that does not register the kind
            _get(host.import_kind.remote(KindRef("attempts.nothing", "repurpose.grains.base")))
    finally:
        ray.kill(host, no_restart=True)


def _get(ref: ray.ObjectRef) -> object:
    """``ray.get``, raising a grain's own error as itself (as ``GrainClient`` does)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        raise error.cause from None
