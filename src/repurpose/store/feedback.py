"""Feedback outcomes in the store: a batch written once, and a model's outcomes read back per version.

A batch is all or nothing (one transaction). The same batch id sent again with the same
outcomes changes nothing (``record_outcomes`` answers False); with other outcomes it is refused
(``FeedbackConflict``): an id names one batch. Two writers racing with one batch meet at the
unique key ``(model, version, batch_id, position)``, and the loser reads what the winner wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from repurpose.errors import FeedbackConflict
from repurpose.store.models import FeedbackOutcomeRow, utcnow


class StoredOutcome(NamedTuple):
    compound_key: str
    target_key: str
    label: int
    score: float


class VersionOutcomes(NamedTuple):
    """A version's outcomes, in the order they were stored."""

    labels: np.ndarray  # (n,) int64 in {0, 1}
    scores: np.ndarray  # (n,) float64
    first_at: dt.datetime
    last_at: dt.datetime


def record_outcomes(
    engine: Engine, *, model: str, version: int, batch_id: str, outcomes: Sequence[StoredOutcome]
) -> bool:
    """Store a batch; False when this batch id was stored already with the same outcomes."""
    existing = _batch(engine, model, version, batch_id)
    if existing:
        return _same_batch(existing, outcomes, batch_id)
    now = utcnow()
    rows = [
        {
            "model": model,
            "version": version,
            "batch_id": batch_id,
            "position": position,
            "compound_key": o.compound_key,
            "target_key": o.target_key,
            "label": int(o.label),
            "score": float(o.score),
            "received_at": now,
        }
        for position, o in enumerate(outcomes)
    ]
    try:
        with engine.begin() as conn:
            conn.execute(insert(FeedbackOutcomeRow), rows)
    except IntegrityError:  # another writer stored this batch id first
        return _same_batch(_batch(engine, model, version, batch_id), outcomes, batch_id)
    return True


def batch_recorded(
    engine: Engine, *, model: str, version: int, batch_id: str, pairs: Sequence[tuple[str, str, int]]
) -> bool:
    """Whether this batch id is stored already with these ``(compound key, target key, label)`` pairs
    (FeedbackConflict: stored with others). Asked before a batch is scored: one sent again costs no
    scoring, and its pairs do not reach the monitor twice."""
    existing = _batch(engine, model, version, batch_id)
    if not existing:
        return False
    _same_batch(existing, [StoredOutcome(c, t, int(y), 0.0) for c, t, y in pairs], batch_id)  # scores not compared
    return True


def load_outcomes(engine: Engine, model: str, version: int | None = None) -> dict[int, VersionOutcomes]:
    """A model's outcomes by version (only ``version``'s when given)."""
    query = select(
        FeedbackOutcomeRow.version, FeedbackOutcomeRow.label, FeedbackOutcomeRow.score, FeedbackOutcomeRow.received_at
    ).where(FeedbackOutcomeRow.model == model)
    if version is not None:
        query = query.where(FeedbackOutcomeRow.version == version)
    by_version: dict[int, list[tuple[int, float, dt.datetime]]] = {}
    with engine.connect() as conn:
        for v, label, score, at in conn.execute(query.order_by(FeedbackOutcomeRow.id)):
            by_version.setdefault(int(v), []).append((int(label), float(score), _aware(at)))
    return {
        v: VersionOutcomes(
            labels=np.array([r[0] for r in rows], dtype=np.int64),
            scores=np.array([r[1] for r in rows], dtype=np.float64),
            first_at=min(r[2] for r in rows),
            last_at=max(r[2] for r in rows),
        )
        for v, rows in sorted(by_version.items())
    }


def _batch(engine: Engine, model: str, version: int, batch_id: str) -> list[StoredOutcome]:
    query = (
        select(
            FeedbackOutcomeRow.compound_key,
            FeedbackOutcomeRow.target_key,
            FeedbackOutcomeRow.label,
            FeedbackOutcomeRow.score,
        )
        .where(
            FeedbackOutcomeRow.model == model,
            FeedbackOutcomeRow.version == version,
            FeedbackOutcomeRow.batch_id == batch_id,
        )
        .order_by(FeedbackOutcomeRow.position)
    )
    with engine.connect() as conn:
        return [StoredOutcome(c, t, int(y), float(s)) for c, t, y, s in conn.execute(query)]


def _same_batch(stored: list[StoredOutcome], outcomes: Sequence[StoredOutcome], batch_id: str) -> bool:
    """False (nothing to store) if ``stored`` holds the same pairs and labels; else FeedbackConflict.
    Scores are not compared: the scorer may round differently on another replica."""
    same = len(stored) == len(outcomes) and all(
        (a.compound_key, a.target_key, a.label) == (b.compound_key, b.target_key, int(b.label))
        for a, b in zip(stored, outcomes, strict=True)
    )
    if not same:
        raise FeedbackConflict(
            f"feedback batch {batch_id!r} was recorded with other outcomes ({len(stored):,} of them): give this batch "
            "another id, or leave the id out (the batch's content names it)",
            batch_id=batch_id,
        )
    return False


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)  # SQLite hands back naive times
