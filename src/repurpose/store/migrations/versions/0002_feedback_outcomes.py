"""Feedback outcomes: measured labels of scored pairs, for live quality.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("compound_key", sa.String(64), nullable=False),
        sa.Column("target_key", sa.String(80), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_outcomes"),
        sa.UniqueConstraint("model", "version", "batch_id", "position", name="uq_feedback_outcomes_batch_position"),
    )
    op.create_index("ix_feedback_outcomes_model_version", "feedback_outcomes", ["model", "version"])


def downgrade() -> None:
    op.drop_index("ix_feedback_outcomes_model_version", table_name="feedback_outcomes")
    op.drop_table("feedback_outcomes")
