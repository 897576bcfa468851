"""Store fixtures: every store test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth, database ``test``); each run creates a
uniquely named database and drops it afterwards. Without a reachable server the PostgreSQL
cases are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from repurpose.store import make_engine, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)  # leave the session's database empty for the next test
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
