"""The store: SQLAlchemy 2 tables and Alembic migrations on SQLite or PostgreSQL (psycopg 3).

engine = make_engine(settings.database_url)
upgrade(engine)                                   # apply migrations (``repurpose up``)
version, state = load_state(engine, "counter", "a") or (0, {})
save_state(engine, "counter", "a", {"count": 1}, expected_version=version)  # or StaleWrite
"""

from repurpose.store.engine import make_engine, make_session_factory
from repurpose.store.feedback import StoredOutcome, VersionOutcomes, batch_recorded, load_outcomes, record_outcomes
from repurpose.store.grain_state import (
    Bind,
    StoredResult,
    StoredState,
    list_states,
    load_idempotent_result,
    load_state,
    record_idempotent_result,
    save_state,
)
from repurpose.store.migrate import current_revision, downgrade, head_revision, upgrade
from repurpose.store.models import Base, FeedbackOutcomeRow, GrainStateRow, IdempotencyKeyRow

__all__ = [
    "Base",
    "Bind",
    "FeedbackOutcomeRow",
    "GrainStateRow",
    "IdempotencyKeyRow",
    "StoredOutcome",
    "StoredResult",
    "StoredState",
    "VersionOutcomes",
    "batch_recorded",
    "current_revision",
    "downgrade",
    "head_revision",
    "list_states",
    "load_idempotent_result",
    "load_outcomes",
    "load_state",
    "make_engine",
    "make_session_factory",
    "record_idempotent_result",
    "record_outcomes",
    "save_state",
    "upgrade",
]
