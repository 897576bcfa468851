"""The artifact store: datasets (Parquet), checkpoints and results, on any fsspec filesystem.

Rooted at ``settings.artifact_url`` (a local folder by default; ``s3://bucket/prefix`` etc. in a
cluster). Artifacts are addressed by relative, ``/``-separated paths such as
``datasets/3f2a…/rows.parquet``.

Writes are atomic where the filesystem allows: the bytes go to a temporary name next to the
target, which is then moved into place — a rename on local disks, a server-side copy on object
stores — so a reader never sees a half-written artifact and a failed write leaves the previous
one in place.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem

from repurpose.errors import ArtifactNotFound, InvalidInput
from repurpose.settings import Settings

_TEMP_PREFIX = ".tmp-"


class ArtifactStore:
    """Bytes and files under one root URL. Paths are relative; ``..`` and absolute paths are refused."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.url = url.rstrip("/")
        self.fs: AbstractFileSystem = fs
        self.root: str = root.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        return cls(settings.artifact_url)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    def url_for(self, path: str) -> str:
        """The full URL of an artifact, for tools that take URLs (pandas, pyarrow, MLflow)."""
        return f"{self.url}/{self._relative(path)}"

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self._full(path)))

    def put_bytes(self, path: str, data: bytes) -> None:
        with self.open_write(path) as f:
            f.write(data)

    def get_bytes(self, path: str) -> bytes:
        with self.open_read(path) as f:
            return f.read()

    def put_file(self, path: str, local_path: str | Path) -> None:
        """Copy a local file in (atomically, like every write)."""
        with open(local_path, "rb") as source, self.open_write(path) as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)

    def get_file(self, path: str, local_path: str | Path) -> Path:
        """Copy an artifact to a local file; returns the local path."""
        local = Path(local_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.open_read(path) as source, open(local, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
        return local

    @contextmanager
    def open_read(self, path: str) -> Iterator[IO[bytes]]:
        full = self._full(path)
        try:
            f = self.fs.open(full, "rb")
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact at {self.url_for(path)}", path=path) from None
        with f:
            yield f

    @contextmanager
    def open_write(self, path: str) -> Iterator[IO[bytes]]:
        """A binary file to write (e.g. ``df.to_parquet(f)``); it appears at ``path`` only when
        the block exits without an error."""
        full = self._full(path)
        parent, name = posixpath.split(full)
        temp = posixpath.join(parent, f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{name}")
        self.fs.makedirs(parent, exist_ok=True)
        try:
            with self.fs.open(temp, "wb") as f:
                yield f
            self.fs.mv(temp, full)
        except BaseException:
            if self.fs.exists(temp):
                self.fs.rm(temp)
            raise

    def delete(self, path: str) -> None:
        full = self._full(path)
        if not self.fs.exists(full):
            raise ArtifactNotFound(f"no artifact at {self.url_for(path)}", path=path)
        self.fs.rm(full, recursive=True)

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of the artifacts under ``prefix`` (recursively), sorted."""
        base = self._full(prefix) if prefix else self.root
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        strip = self.fs._strip_protocol(self.root).rstrip("/") + "/"
        paths = [str(p)[len(strip) :] if str(p).startswith(strip) else str(p) for p in found]
        return sorted(p for p in paths if not posixpath.basename(p).startswith(_TEMP_PREFIX))

    def _full(self, path: str) -> str:
        return f"{self.root}/{self._relative(path)}"

    @staticmethod
    def _relative(path: str) -> str:
        normal = posixpath.normpath(path.replace("\\", "/"))
        if not path or path.startswith("/") or normal == "." or normal.startswith("../") or normal == "..":
            raise InvalidInput(f"artifact path {path!r} must be relative and stay under the store's root")
        return normal
