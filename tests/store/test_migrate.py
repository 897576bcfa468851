from __future__ import annotations

from sqlalchemy import inspect

from repurpose.store import current_revision, downgrade, head_revision, make_engine, upgrade


def test_upgrade_creates_tables(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        inspector = inspect(engine)
        assert {"grain_state", "idempotency_keys", "alembic_version"} <= set(inspector.get_table_names())
        assert inspector.get_pk_constraint("grain_state")["constrained_columns"] == ["kind", "key"]
        assert inspector.get_pk_constraint("idempotency_keys")["constrained_columns"] == [
            "kind",
            "key",
            "idempotency_key",
        ]
        columns = {c["name"]: c for c in inspector.get_columns("grain_state")}
        assert set(columns) == {"kind", "key", "version", "state", "created_at", "updated_at"}
        if engine.dialect.name == "postgresql":
            assert str(columns["state"]["type"]) == "JSONB"
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_downgrade_to_base_drops_tables(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    assert current_revision(database_url) is None
    engine = make_engine(database_url)
    try:
        assert not {"grain_state", "idempotency_keys"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_takes_an_engine(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
