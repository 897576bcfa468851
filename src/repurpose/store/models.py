"""The tables, as SQLAlchemy 2 declarative models.

Grain state is stored the way Orleans stores it: one row per grain, its state a JSON document
and a version number for optimistic concurrency. Results of non-idempotent calls are kept by
idempotency key so a retried call returns what the first one did instead of acting twice.
Schema changes go through Alembic (``store/migrations``), never ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KIND_LENGTH = 64
KEY_LENGTH = 512
IDEMPOTENCY_KEY_LENGTH = 128

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
