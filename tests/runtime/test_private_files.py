"""The cluster home and its stores are owner-only: they hold key hashes, every record, the Ray token."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from repurpose.runtime.private_files import make_home_private
from repurpose.settings import Settings
from repurpose.store import make_engine, upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_store_is_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "store" / "repurpose.db"
    previous = os.umask(0o022)  # the usual umask, which leaves new files readable by everyone
    try:
        upgrade(f"sqlite:///{database}")
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as conn:  # a write: WAL and shared-memory files appear beside it
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        engine.dispose()
    finally:
        os.umask(previous)
    assert mode(database) == 0o600
    for companion in database.parent.glob("repurpose.db-*"):
        assert mode(companion) == 0o600, companion


def test_up_makes_the_home_and_its_stores_owner_only(tmp_path: Path) -> None:
    # a home an older version made: everything readable by everyone
    home = tmp_path / "home"
    (home / "artifacts" / "datasets").mkdir(parents=True)
    for path in (home, home / "artifacts"):
        path.chmod(0o755)
    (home / "repurpose.db").write_bytes(b"")
    (home / "repurpose.db-wal").write_bytes(b"")
    for path in (home / "repurpose.db", home / "repurpose.db-wal"):
        path.chmod(0o644)
    settings = Settings(home=home)

    make_home_private(settings)

    assert mode(home) == 0o700
    assert mode(home / "artifacts") == 0o700
    assert mode(home / "mlflow-artifacts") == 0o700
    assert mode(home / "repurpose.db") == 0o600
    assert mode(home / "repurpose.db-wal") == 0o600
    assert mode(home / "mlflow.db") == 0o600  # made before MLflow makes it (an empty file is an empty database)


def test_stores_outside_the_home_are_left_alone(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared" / "store.db"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"")
    elsewhere.chmod(0o640)
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{elsewhere}", artifact_url="memory://x")

    made = make_home_private(settings)

    assert mode(elsewhere) == 0o640
    assert elsewhere not in made and mode(tmp_path / "home") == 0o700
