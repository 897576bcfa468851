"""Published model directories: content-addressed copies in the artifact store, and the
per-machine cache they are loaded from.

``publish_model_dir`` copies a local directory's files (not its subfolders, e.g. ``checkpoints/``,
but an ensemble's member directories) to ``model-dirs/<sha256 of the files>/`` in the artifact
store, ``manifest.json`` last (it marks the copy complete). The same files always land on the
same path, so publishing again changes nothing. Weights are loaded lazily, only where they are
used: ``load_published_model`` downloads a directory once per machine into
``<home>/cache/model-dirs/<sha>/`` (a temporary folder renamed into place, so a half-copied
directory is never read) and loads it there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import torch
from pydantic import ValidationError

from repurpose.contracts.manifest import Manifest
from repurpose.errors import ArtifactNotFound, InvalidInput, ModelDirectoryError
from repurpose.model.devices import CPU
from repurpose.model.directory import TrainedModel, load_model_dir, model_files
from repurpose.model.paths import MANIFEST, MODEL_DIRS_PREFIX, PUBLISHED_PATH
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Precision, Settings


def publish_model_dir(artifacts: ArtifactStore, local_dir: Path) -> str:
    """Copy a model directory's files to ``model-dirs/<sha256 of its files>`` and return that path.

    Content-addressed and idempotent: a directory published already is not copied again. The
    directory is checked first (a manifest, the files its model type needs): ModelDirectoryError
    otherwise. Subfolders (``checkpoints/``) and hidden files are not part of the model, except an
    ensemble's members (``members/<type>/``, each a model directory: ``model.directory.model_files``)."""
    directory = Path(local_dir)
    files = _model_files(directory)
    path = f"{MODEL_DIRS_PREFIX}/{_files_digest(files)}"
    if artifacts.exists(f"{path}/{MANIFEST}"):
        return path
    for name, file in sorted(files.items(), key=lambda item: item[0] == MANIFEST):  # the manifest last: it
        artifacts.put_file(f"{path}/{name}", file)  # marks the copy complete
    return path


def load_published_model(
    settings: Settings, artifact_path: str, *, device: torch.device = CPU, precision: Precision = "fp32"
) -> TrainedModel:
    """The published model directory at ``artifact_path``, loaded (downloaded once per machine into
    ``<home>/cache/model-dirs/<sha>/`` and checked against its content address); a DrugBAN on
    ``device``, predicting in ``precision`` (``model.devices.resolve_compute`` gives both)."""
    match = PUBLISHED_PATH.match(artifact_path) if isinstance(artifact_path, str) else None
    if match is None:
        raise InvalidInput(f"{artifact_path!r:.100} is not a published model directory ({MODEL_DIRS_PREFIX}/<sha256>)")
    sha = match["sha"]
    cache = model_cache_dir(settings) / sha
    if not (cache / MANIFEST).is_file():
        _download(ArtifactStore.from_settings(settings), artifact_path, sha, cache)
    return load_model_dir(cache, device=device, precision=precision)


def model_cache_dir(settings: Settings) -> Path:
    """Where published model directories are cached on this machine."""
    return settings.home / "cache" / MODEL_DIRS_PREFIX


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise ModelDirectoryError(
            f"{directory}: not a model directory (no {MANIFEST}); train one with `repurpose train`"
        ) from None
    except (ValidationError, OSError, UnicodeDecodeError) as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        raise ModelDirectoryError(f"{path}: unreadable manifest: {reason}") from None


def _model_files(directory: Path) -> dict[str, Path]:
    """The model's files by relative path (``/``-separated; a flat directory's are its file names)."""
    if not directory.is_dir():
        raise ModelDirectoryError(f"{directory}: no such model directory")
    return {name: directory / name for name in model_files(directory, read_manifest(directory))}


def _files_digest(files: dict[str, Path]) -> str:
    """sha256 over the files' relative paths and contents, in path order (a flat directory's
    digest is the same as when only top-level files were published)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = hashlib.sha256()
        with open(files[name], "rb") as f:
            while chunk := f.read(1 << 20):
                content.update(chunk)
        digest.update(f"{name}\0{content.hexdigest()}\n".encode())
    return digest.hexdigest()


def _download(artifacts: ArtifactStore, artifact_path: str, sha: str, cache: Path) -> None:
    prefix = f"{artifact_path}/"
    names = [p.removeprefix(prefix) for p in artifacts.list(artifact_path) if p.startswith(prefix)]
    if MANIFEST not in names:
        raise ArtifactNotFound(
            f"no published model directory at {artifacts.url_for(artifact_path)}", path=artifact_path
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.parent / f".tmp-{sha[:16]}-{uuid.uuid4().hex}"
    try:
        files = {name: temporary / name for name in names}
        for name, local in files.items():
            artifacts.get_file(f"{artifact_path}/{name}", local)
        if _files_digest(files) != sha:
            raise ModelDirectoryError(f"{artifacts.url_for(artifact_path)}: the files do not match their content hash")
        try:
            os.rename(temporary, cache)
        except OSError:  # another process put it there first: theirs is the same content
            if not (cache / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
