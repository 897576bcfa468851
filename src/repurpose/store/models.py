"""The tables, as SQLAlchemy 2 declarative models.

Grain state is stored the way Orleans stores it: one row per grain, its state a JSON document
and a version number for optimistic concurrency. Results of non-idempotent calls are kept by
idempotency key so a retried call returns what the first one did instead of acting twice.
Schema changes go through Alembic (``store/migrations``), never ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, MetaData, SmallInteger, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KIND_LENGTH = 64
KEY_LENGTH = 512
IDEMPOTENCY_KEY_LENGTH = 128
MODEL_NAME_LENGTH = 64
BATCH_ID_LENGTH = 128
DIGEST_LENGTH = 64
TARGET_KEY_LENGTH = 80

JsonDocument = JSON().with_variant(JSONB(), "postgresql")
"""JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class GrainStateRow(Base):
    """The persisted state of one grain: ``version`` counts its writes (0 = never written)."""

    __tablename__ = "grain_state"

    kind: Mapped[str] = mapped_column(String(KIND_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(JsonDocument, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class IdempotencyKeyRow(Base):
    """The result of a non-idempotent grain call, by the caller's idempotency key."""

    __tablename__ = "idempotency_keys"

    kind: Mapped[str] = mapped_column(String(KIND_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), primary_key=True)
    result: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class FeedbackOutcomeRow(Base):
    """A measured outcome of a pair and the score a model version gave it (live quality).

    ``(model, version, batch_id, position)`` is unique: a batch sent twice is stored once."""

    __tablename__ = "feedback_outcomes"
    __table_args__ = (
        UniqueConstraint("model", "version", "batch_id", "position", name="uq_feedback_outcomes_batch_position"),
        Index("ix_feedback_outcomes_model_version", "model", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(MODEL_NAME_LENGTH), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    batch_id: Mapped[str] = mapped_column(String(BATCH_ID_LENGTH), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # the outcome's place in its batch
    compound_key: Mapped[str] = mapped_column(String(DIGEST_LENGTH), nullable=False)  # sha256 of canonical SMILES
    target_key: Mapped[str] = mapped_column(String(TARGET_KEY_LENGTH), nullable=False)  # target id or sha256:<seq>
    label: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
