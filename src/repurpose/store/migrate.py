"""Schema migrations, applied programmatically (``repurpose up`` calls ``upgrade``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from repurpose.store.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(database: str | URL | Engine, revision: str = "head") -> None:
    """Bring the database at ``database`` (a URL or an engine) up to ``revision``."""
    _run(database, lambda config: command.upgrade(config, revision))


def downgrade(database: str | URL | Engine, revision: str) -> None:
    """Take the database back to ``revision`` (``"base"`` drops every table we created)."""
    _run(database, lambda config: command.downgrade(config, revision))


def current_revision(database: str | URL | Engine) -> str | None:
    """The revision the database is at, ``None`` for a database never migrated."""
    engine, owned = _engine(database)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _engine(database: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(database, Engine):
        return database, False
    return make_engine(database), True


def _run(database: str | URL | Engine, action: Callable[[Config], None]) -> None:
    engine, owned = _engine(database)
    try:
        with engine.begin() as conn:
            config = _config()
            config.attributes["connection"] = conn
            action(config)
    finally:
        if owned:
            engine.dispose()
