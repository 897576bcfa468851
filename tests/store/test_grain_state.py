from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine

from repurpose.errors import ConflictError, StaleWrite
from repurpose.store import (
    list_states,
    load_idempotent_result,
    load_state,
    make_engine,
    make_session_factory,
    record_idempotent_result,
    save_state,
)


def test_load_state_missing_is_none(engine: Engine) -> None:
    assert load_state(engine, "counter", "nobody") is None


def test_save_state_round_trips(engine: Engine) -> None:
    state = {"count": 3, "name": "ABL1", "nested": {"ok": True, "values": [1.5, None, "x"]}}
    assert save_state(engine, "counter", "a", state, expected_version=0) == 1
    assert load_state(engine, "counter", "a") == (1, state)
    assert save_state(engine, "counter", "a", {"count": 4}, expected_version=1) == 2
    assert load_state(engine, "counter", "a") == (2, {"count": 4})


def test_save_state_first_write_twice_is_stale(engine: Engine) -> None:
    save_state(engine, "counter", "a", {"count": 1}, expected_version=0)
    with pytest.raises(StaleWrite) as caught:
        save_state(engine, "counter", "a", {"count": 99}, expected_version=0)
    assert (caught.value.kind, caught.value.key) == ("counter", "a")
    assert (caught.value.expected_version, caught.value.actual_version) == (0, 1)
    assert isinstance(caught.value, ConflictError)
    assert load_state(engine, "counter", "a") == (1, {"count": 1})


def test_save_state_old_version_is_stale(engine: Engine) -> None:
    save_state(engine, "counter", "a", {"count": 1}, expected_version=0)
    save_state(engine, "counter", "a", {"count": 2}, expected_version=1)
    with pytest.raises(StaleWrite, match="expected version 1, found version 2"):
        save_state(engine, "counter", "a", {"count": 99}, expected_version=1)
    assert load_state(engine, "counter", "a") == (2, {"count": 2})


def test_save_state_version_of_missing_grain_is_stale(engine: Engine) -> None:
    with pytest.raises(StaleWrite, match="found no stored state") as caught:
        save_state(engine, "counter", "ghost", {"count": 1}, expected_version=3)
    assert caught.value.actual_version is None


def test_save_state_two_engines_same_version_one_wins(database_url: str, engine: Engine) -> None:
    save_state(engine, "counter", "a", {"count": 0}, expected_version=0)
    engines = [make_engine(database_url), make_engine(database_url)]
    barrier = threading.Barrier(len(engines))
    outcomes: list[object] = []

    def write(own: Engine, count: int) -> None:
        barrier.wait()
        try:
            outcomes.append(save_state(own, "counter", "a", {"count": count}, expected_version=1))
        except StaleWrite as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=write, args=(e, i + 10)) for i, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert sorted(type(o).__name__ for o in outcomes) == ["StaleWrite", "int"]
    version, state = load_state(engine, "counter", "a") or (None, None)
    assert version == 2 and state in ({"count": 10}, {"count": 11})


def test_save_state_stale_in_session_keeps_transaction_usable(engine: Engine) -> None:
    save_state(engine, "counter", "a", {"count": 1}, expected_version=0)
    with make_session_factory(engine)() as session, session.begin():
        with pytest.raises(StaleWrite):
            save_state(session, "counter", "a", {"count": 5}, expected_version=0)
        save_state(session, "counter", "b", {"count": 7}, expected_version=0)
    assert load_state(engine, "counter", "b") == (1, {"count": 7})


def test_save_state_rolled_back_with_its_session(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        save_state(session, "counter", "a", {"count": 1}, expected_version=0)
        record_idempotent_result(session, "counter", "a", "k", 1)
        session.rollback()
    assert load_state(engine, "counter", "a") is None
    assert load_idempotent_result(engine, "counter", "a", "k") is None


def test_save_state_negative_version_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        save_state(engine, "counter", "a", {}, expected_version=-1)


def test_list_states_by_kind_sorted(engine: Engine) -> None:
    for key in ("b", "a", "c"):
        save_state(engine, "counter", key, {"key": key}, expected_version=0)
    save_state(engine, "other", "z", {}, expected_version=0)
    listed = list_states(engine, "counter")
    assert [(s.key, s.version, s.state) for s in listed] == [
        ("a", 1, {"key": "a"}),
        ("b", 1, {"key": "b"}),
        ("c", 1, {"key": "c"}),
    ]
    assert list_states(engine, "nothing") == []


def test_idempotent_result_round_trips(engine: Engine) -> None:
    assert load_idempotent_result(engine, "counter", "a", "k1") is None
    record_idempotent_result(engine, "counter", "a", "k1", {"count": 3})
    record_idempotent_result(engine, "counter", "a", "k2", None)
    assert load_idempotent_result(engine, "counter", "a", "k1") == ({"count": 3},)
    stored = load_idempotent_result(engine, "counter", "a", "k2")
    assert stored is not None and stored.result is None


def test_idempotent_result_recorded_once(engine: Engine) -> None:
    record_idempotent_result(engine, "counter", "a", "k1", 1)
    with pytest.raises(ConflictError, match="already used"):
        record_idempotent_result(engine, "counter", "a", "k1", 2)
    assert load_idempotent_result(engine, "counter", "a", "k1") == (1,)
