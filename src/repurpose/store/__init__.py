"""The store: SQLAlchemy 2 tables and Alembic migrations on SQLite or PostgreSQL (psycopg 3).

engine = make_engine(settings.database_url)
upgrade(engine)                                   # apply migrations (``repurpose up``)
version, state = load_state(engine, "counter", "a") or (0, {})
save_state(engine, "counter", "a", {"count": 1}, expected_version=version)  # or StaleWrite
"""

from repurpose.store.engine import make_engine, make_session_factory
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
from repurpose.store.models import Base, GrainStateRow, IdempotencyKeyRow

__all__ = [
    "Base",
    "Bind",
    "GrainStateRow",
    "IdempotencyKeyRow",
    "StoredResult",
    "StoredState",
    "current_revision",
    "downgrade",
    "head_revision",
    "list_states",
    "load_idempotent_result",
    "load_state",
    "make_engine",
    "make_session_factory",
    "record_idempotent_result",
    "save_state",
    "upgrade",
]
