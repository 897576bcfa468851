"""The grain host in-process (no Ray): turns, write-through, rollback, idle collection."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from repurpose.errors import GrainStateInvalid, InvalidInput, StaleWrite, UnknownGrainKind, UnknownGrainMethod
from repurpose.grains import Grain, GrainHost, grain
from repurpose.runtime import tracing
from repurpose.settings import Settings
from repurpose.store import load_idempotent_result, load_state, save_state, upgrade
from tests.helpers import RecordedSpans

T = TypeVar("T")
gates: dict[str, asyncio.Event] = {}
activated: Counter[str] = Counter()


class TallyState(BaseModel):
    count: int = 0
    label: str = ""


@grain("host.tally")
class Tally(Grain[TallyState]):
    @classmethod
    def initial_state(cls, key: str) -> TallyState:
        return TallyState(label=f"tally {key}")

    async def on_activate(self) -> None:
        activated[self.key] += 1

    async def add(self, n: int = 1) -> int:
        count = self.state.count
        await asyncio.sleep(0)  # give concurrent callers every chance to interleave
        self.state.count = count + n
        return self.state.count

    def get(self) -> int:
        return self.state.count

    def exists_now(self) -> bool:
        return self.exists

    async def hold(self, gate: str) -> str:
        await gates[gate].wait()
        return gate

    def fail_after_change(self) -> None:
        self.state.count = -1
        raise RuntimeError("refused")

    async def progress_then_fail(self) -> None:
        self.state.label = "halfway"
        await self.save()
        self.state.count = -1
        raise RuntimeError("second half failed")


class RecoveringState(BaseModel):
    attempts: int = 0


@grain("host.recovering")
class Recovering(Grain[RecoveringState]):
    """Like a training run: every activation starts the next attempt."""

    async def on_activate(self) -> None:
        self.state.attempts += 1

    def fail(self) -> None:
        raise RuntimeError("refused")

    def attempts(self) -> int:
        return self.state.attempts


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return Settings(home=tmp_path, database_url=store_url, grain_idle_seconds=60)


def stored(host: GrainHost, key: str) -> tuple[int, dict[str, Any]] | None:
    return load_state(host._engine, "host.tally", key)


def test_call_concurrent_callers_take_turns_on_one_activation(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        results = await asyncio.gather(*(host.call("host.tally", "a", "add") for _ in range(50)))
        assert sorted(results) == list(range(1, 51))
        stats = await host.stats()
        assert (stats.activations, stats.activations_created) == (1, 1)
        assert stored(host, "a") == (50, {"count": 50, "label": "tally a"})

    run(scenario())


def test_call_same_grain_waits_for_turn_other_grain_does_not(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        gates["g"] = asyncio.Event()
        holding = asyncio.ensure_future(host.call("host.tally", "a", "hold", ("g",)))
        await asyncio.sleep(0.05)
        other_grain = await asyncio.wait_for(host.call("host.tally", "b", "add"), timeout=5)
        same_grain = asyncio.ensure_future(host.call("host.tally", "a", "get"))
        await asyncio.sleep(0.05)
        assert other_grain == 1
        assert not same_grain.done()  # a's turn is still held
        gates["g"].set()
        assert await holding == "g"
        assert await same_grain == 0

    run(scenario())


def test_call_failed_turn_leaves_state_as_stored(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        await host.call("host.tally", "a", "add", (5,))
        with pytest.raises(RuntimeError, match="refused"):
            await host.call("host.tally", "a", "fail_after_change")
        assert await host.call("host.tally", "a", "get") == 5
        assert stored(host, "a") == (1, {"count": 5, "label": "tally a"})

    run(scenario())


def test_save_mid_call_persists_before_a_later_failure(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        with pytest.raises(RuntimeError, match="second half"):
            await host.call("host.tally", "a", "progress_then_fail")
        version, state = stored(host, "a") or (0, {})
        assert (version, state["label"], state["count"]) == (1, "halfway", 0)
        assert await host.call("host.tally", "a", "get") == 0

    run(scenario())


def test_call_read_only_writes_nothing(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        assert await host.call("host.tally", "new", "get") == 0
        assert await host.call("host.tally", "new", "exists_now") is False
        assert stored(host, "new") is None
        await host.call("host.tally", "new", "add")
        assert await host.call("host.tally", "new", "exists_now") is True

    run(scenario())


def test_call_stale_write_refused_and_reloaded(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        await host.call("host.tally", "a", "add")  # active at version 1
        save_state(host._engine, "host.tally", "a", {"count": 100, "label": "other writer"}, expected_version=1)
        with pytest.raises(StaleWrite) as caught:
            await host.call("host.tally", "a", "add")
        assert (caught.value.expected_version, caught.value.actual_version) == (1, 2)
        assert stored(host, "a") == (2, {"count": 100, "label": "other writer"})  # not overwritten
        assert await host.call("host.tally", "a", "add") == 101  # reactivated from the store

    run(scenario())


def test_collect_idle_drops_and_next_call_reactivates(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        await host.call("host.tally", "a", "add", (3,))
        assert host.collect_idle() == 0  # not idle yet
        assert host.collect_idle(now=time.monotonic() + 10_000) == 1
        stats = await host.stats()
        assert (stats.activations, stats.activations_collected) == (0, 1)
        assert await host.call("host.tally", "a", "add") == 4
        assert (await host.stats()).activations_created == 2

    run(scenario())


def test_activation_changes_are_stored_even_when_the_first_turn_fails(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        with pytest.raises(RuntimeError, match="refused"):
            await host.call("host.recovering", "r", "fail")
        assert await host.call("host.recovering", "r", "attempts") == 1  # not rolled back in memory
        assert load_state(host._engine, "host.recovering", "r") == (1, {"attempts": 1})
        restarted = GrainHost("h", settings)
        assert await restarted.call("host.recovering", "r", "attempts") == 2

    run(scenario())


def test_collect_idle_runs_by_itself(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, grain_idle_seconds=0.2)
    upgrade(settings.database_url)

    async def scenario() -> None:
        host = GrainHost("h", settings)
        await host.call("host.tally", "a", "add")
        await asyncio.sleep(0.6)
        assert (await host.stats()).activations == 0
        assert await host.call("host.tally", "a", "get") == 1

    run(scenario())


def test_call_idempotency_key_acts_once(settings: Settings) -> None:
    async def scenario() -> None:
        host = GrainHost("h", settings)
        first = await host.call("host.tally", "a", "add", (2,), {}, "req-1")
        again = await host.call("host.tally", "a", "add", (2,), {}, "req-1")
        restarted = GrainHost("h", settings)  # a fresh process: only the store remembers
        after_restart = await restarted.call("host.tally", "a", "add", (2,), {}, "req-1")
        assert first == again == after_restart == 2
        assert await restarted.call("host.tally", "a", "get") == 2
        assert load_idempotent_result(restarted._engine, "host.tally", "a", "req-1") == (2,)
        assert await restarted.call("host.tally", "a", "add", (2,), {}, "req-2") == 4

    run(scenario())


def test_call_initial_state_and_on_activate(settings: Settings) -> None:
    activated.clear()  # the counter is the module's: each backend's run starts from zero

    async def scenario() -> None:
        host = GrainHost("h", settings)
        await asyncio.gather(*(host.call("host.tally", "z", "add") for _ in range(3)))
        assert stored(host, "z") == (3, {"count": 3, "label": "tally z"})
        assert activated["z"] == 1

    run(scenario())


@pytest.mark.parametrize("method", ["missing", "_private", "save", "on_activate", "initial_state", "state", "key"])
def test_call_unknown_or_reserved_method_refused(settings: Settings, method: str) -> None:
    with pytest.raises(UnknownGrainMethod, match=repr(method)):
        run(GrainHost("h", settings).call("host.tally", "a", method))


def test_call_unknown_kind_refused(settings: Settings) -> None:
    with pytest.raises(UnknownGrainKind, match=r"host\.nothing"):
        run(GrainHost("h", settings).call("host.nothing", "a", "get"))


@pytest.mark.parametrize("key", ["", "k" * 513])
def test_call_bad_key_refused(settings: Settings, key: str) -> None:
    with pytest.raises(InvalidInput, match="key must be"):
        run(GrainHost("h", settings).call("host.tally", key, "get"))


def test_call_state_that_no_longer_fits_is_typed(settings: Settings) -> None:
    host = GrainHost("h", settings)
    save_state(host._engine, "host.tally", "bad", {"count": "many"}, expected_version=0)
    with pytest.raises(GrainStateInvalid, match="does not fit TallyState"):
        run(host.call("host.tally", "bad", "get"))
    assert run(host.stats()).activations == 0


def test_a_call_carrying_a_trace_context_is_a_turn_span_under_it(settings: Settings) -> None:
    recorded = RecordedSpans()
    with recorded.pinned():
        host = GrainHost("h", settings)
    with recorded.tracer.start_as_current_span("caller") as caller:
        carrier = tracing.inject()

    async def scenario() -> None:
        assert await host.call("host.tally", "a", "add", (2,), None, None, carrier) == 2
        assert await host.call("host.tally", "a", "add") == 3  # untraced: no span
        with pytest.raises(RuntimeError, match="refused"):
            await host.call("host.tally", "a", "fail_after_change", (), None, None, carrier)

    run(scenario())
    turns = [span for span in recorded.spans() if span.name != "caller"]
    assert [span.name for span in turns] == ["grain turn host.tally.add", "grain turn host.tally.fail_after_change"]
    for span in turns:
        assert span.kind == SpanKind.SERVER
        assert span.parent.span_id == caller.get_span_context().span_id
        assert span.context.trace_id == caller.get_span_context().trace_id
        assert (span.attributes["rpc.service"], span.attributes["repurpose.grain.key"]) == ("host.tally", "a")
    assert [span.status.status_code for span in turns] == [StatusCode.UNSET, StatusCode.ERROR]
