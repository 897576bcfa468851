"""Owner-only folders and files: the cluster home holds key hashes, every record and the Ray token.

``make_home_private`` runs on every ``repurpose up``: the home becomes ``0700`` and the stores in
it (the SQLite store, MLflow's SQLite store, the artifact folders) ``0600`` / ``0700``, homes made
by older versions included. Stores outside the home (a PostgreSQL URL, an ``s3://`` artifact URL,
a SQLite file elsewhere) are the operator's to protect and are left as they are.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from repurpose.settings import Settings

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")  # SQLite creates these with the database's mode


def private_dir(path: Path) -> Path:
    """``path`` as an owner-only folder (made with its parents if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    path.chmod(PRIVATE_DIR_MODE)  # an existing folder, or a umask that widened nothing but set it anyway
    return path


def private_file(path: Path) -> Path:
    """``path`` as an owner-only file; made empty if missing (an empty file is an empty SQLite database)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)  # no O_TRUNC: keep what is there
    os.close(descriptor)
    path.chmod(PRIVATE_FILE_MODE)
    return path


def write_private_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a reader sees the old file or the new one), owner-only."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.chmod(PRIVATE_FILE_MODE)
    temporary.replace(path)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases, in-memory and ``file:`` URIs)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_home_private(settings: Settings) -> list[Path]:
    """Make the home and the stores under it owner-only; the paths made private."""
    home = private_dir(settings.home)
    done = [home]
    folders = [Path(settings.artifact_url)] if "://" not in settings.artifact_url else []
    for url in (settings.database_url, settings.mlflow_tracking_uri):
        database = sqlite_file(url)
        if database is not None and database.resolve().is_relative_to(home):
            done.append(private_file(database))
            for suffix in _SQLITE_COMPANIONS:
                companion = database.with_name(database.name + suffix)
                with contextlib.suppress(FileNotFoundError):
                    companion.chmod(PRIVATE_FILE_MODE)
            if url == settings.mlflow_tracking_uri:  # MLflow's local store keeps run artifacts beside it
                folders.append(home / "mlflow-artifacts")
    for folder in folders:
        if folder.resolve().is_relative_to(home):
            done.append(private_dir(folder))
    return done
