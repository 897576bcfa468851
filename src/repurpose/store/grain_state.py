"""Grain state with optimistic concurrency, and the results of idempotency-keyed calls.

Every function takes its ``bind`` explicitly: an ``Engine`` (the function runs in its own
transaction), or a ``Session`` / ``Connection`` (it joins the caller's transaction, so a state
write and an idempotency record commit together or not at all).

Versions count writes: a grain never written is at version 0, its first write makes it 1.
``save_state`` succeeds only if the stored version is still the one the writer read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, CursorResult, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from repurpose.errors import ConflictError, StaleWrite
from repurpose.store.models import GrainStateRow, IdempotencyKeyRow, utcnow

Bind = Engine | Connection | Session


# Built once: the statements a grain host runs on every activation and every write.
_WHERE_GRAIN = (GrainStateRow.kind == bindparam("grain_kind"), GrainStateRow.key == bindparam("grain_key"))
_LOAD = select(GrainStateRow.version, GrainStateRow.state).where(*_WHERE_GRAIN)
_VERSION = select(GrainStateRow.version).where(*_WHERE_GRAIN)
_UPDATE = (
    update(GrainStateRow)
    .where(*_WHERE_GRAIN, GrainStateRow.version == bindparam("expected_version"))
    .values(version=bindparam("new_version"), state=bindparam("new_state"), updated_at=bindparam("now"))
)
_LOAD_RESULT = select(IdempotencyKeyRow.result).where(
    IdempotencyKeyRow.kind == bindparam("grain_kind"),
    IdempotencyKeyRow.key == bindparam("grain_key"),
    IdempotencyKeyRow.idempotency_key == bindparam("call_key"),
)


class StoredState(NamedTuple):
    key: str
    version: int
    state: dict[str, Any]
    updated_at: datetime


class StoredResult(NamedTuple):
    """A recorded call result (``result`` may itself be ``None``)."""

    result: Any


def load_state(bind: Bind, kind: str, key: str) -> tuple[int, dict[str, Any]] | None:
    """``(version, state)`` of a grain, or ``None`` if it was never written."""
    with _connection(bind) as conn:
        row = conn.execute(_LOAD, {"grain_kind": kind, "grain_key": key}).first()
    return None if row is None else (row.version, row.state)


def list_states(bind: Bind, kind: str) -> list[StoredState]:
    """Every stored grain of ``kind``, by key."""
    with _connection(bind) as conn:
        rows = conn.execute(
            select(GrainStateRow.key, GrainStateRow.version, GrainStateRow.state, GrainStateRow.updated_at)
            .where(GrainStateRow.kind == kind)
            .order_by(GrainStateRow.key)
        ).all()
    return [StoredState(row.key, row.version, row.state, row.updated_at) for row in rows]


def save_state(bind: Bind, kind: str, key: str, state: Mapping[str, Any], *, expected_version: int) -> int:
    """Write ``state`` if the stored version is ``expected_version``; return the new version.

    Raises ``StaleWrite`` when another writer got there first (the stored version differs),
    leaving the stored state untouched.
    """
    if expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
    document = dict(state)
    now = utcnow()
    with _connection(bind) as conn:
        if expected_version == 0:
            try:
                # A savepoint keeps the caller's transaction usable after a unique violation.
                with conn.begin_nested():
                    conn.execute(
                        insert(GrainStateRow).values(
                            kind=kind, key=key, version=1, state=document, created_at=now, updated_at=now
                        )
                    )
            except IntegrityError:
                raise _stale(conn, kind, key, expected_version) from None
            return 1
        result: CursorResult[Any] = conn.execute(
            _UPDATE,
            {
                "grain_kind": kind,
                "grain_key": key,
                "expected_version": expected_version,
                "new_version": expected_version + 1,
                "new_state": document,
                "now": now,
            },
        )
        if result.rowcount != 1:
            raise _stale(conn, kind, key, expected_version)
        return expected_version + 1


def load_idempotent_result(bind: Bind, kind: str, key: str, idempotency_key: str) -> StoredResult | None:
    """The recorded result of the call made with ``idempotency_key``, if there was one."""
    with _connection(bind) as conn:
        row = conn.execute(_LOAD_RESULT, {"grain_kind": kind, "grain_key": key, "call_key": idempotency_key}).first()
    return None if row is None else StoredResult(row.result)


def record_idempotent_result(bind: Bind, kind: str, key: str, idempotency_key: str, result: Any) -> None:
    """Record a call's JSON-able result under its idempotency key (once per key)."""
    with _connection(bind) as conn:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(IdempotencyKeyRow).values(
                        kind=kind, key=key, idempotency_key=idempotency_key, result=result, created_at=utcnow()
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"idempotency key {idempotency_key!r} of {kind} {key!r} was already used by another call"
            ) from None


@contextmanager
def _connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    elif isinstance(bind, Session):
        yield bind.connection()
    else:
        yield bind


def _stale(conn: Connection, kind: str, key: str, expected_version: int) -> StaleWrite:
    actual = conn.execute(_VERSION, {"grain_kind": kind, "grain_key": key}).scalar_one_or_none()
    found = "no stored state" if actual is None else f"version {actual}"
    return StaleWrite(
        f"{kind} {key!r} changed since it was read: expected version {expected_version}, found {found}",
        kind=kind,
        key=key,
        expected_version=expected_version,
        actual_version=actual,
    )
