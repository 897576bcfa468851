"""Every domain error Repurpose raises, in one place.

    RepurposeError                 base: carries a stable ``code`` and a readable message
    ├── InvalidInput               the caller sent something we refuse (HTTP 422, CLI exit 2)
    │   ├── InvalidSmiles          RDKit cannot parse it, it is empty, or it is too large
    │   ├── InvalidProtein         empty, or a character outside the 25-letter alphabet
    │   └── InvalidTable           a pairs file without the needed columns, or without rows
    ├── NotFound                   the thing asked for does not exist
    │   └── ArtifactNotFound       no artifact at that path in the artifact store
    ├── ConflictError              the request clashes with what is stored; re-read, then retry
    │   └── StaleWrite             a grain's state moved on since it was read (optimistic version)
    ├── GrainError                 the grain runtime could not route or run a call
    │   ├── UnknownGrainKind       no grain class is registered under that kind
    │   ├── UnknownGrainMethod     the grain kind has no such public operation
    │   ├── GrainStateInvalid      the stored state no longer fits the grain's State model
    │   └── GrainUnavailable       the grain's host did not come back in time after dying
    ├── ModelDirectoryError        a model directory that is incomplete or of another type
    └── CheckpointError            a checkpoint that cannot be resumed from

HTTP status codes live at the gateway's edge, never here. Every error survives pickling with
its context (it crosses Ray's process boundaries), see ``RepurposeError.__reduce__``.
"""

from __future__ import annotations

from typing import Any


class RepurposeError(Exception):
    """Base class. ``code`` is stable and machine-readable; the message says what to fix."""

    code = "repurpose_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only context, which the default ``cls(*args)`` cannot rebuild;
        # rebuild from the message and the instance's attributes instead.
        return (_rebuild_error, (type(self), self.message, self.__dict__))


def _rebuild_error(cls: type[RepurposeError], message: str, state: dict[str, Any]) -> RepurposeError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidInput(RepurposeError):
    code = "invalid_input"


class InvalidSmiles(InvalidInput):
    code = "invalid_smiles"

    def __init__(self, message: str, *, smiles: str) -> None:
        super().__init__(message)
        self.smiles = smiles


class InvalidProtein(InvalidInput):
    code = "invalid_protein"

    def __init__(self, message: str, *, position: int | None = None, character: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.character = character


class InvalidTable(InvalidInput):
    code = "invalid_table"

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


class ModelDirectoryError(RepurposeError):
    code = "model_directory"


class CheckpointError(RepurposeError):
    code = "checkpoint"


class NotFound(RepurposeError):
    code = "not_found"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ConflictError(RepurposeError):
    code = "conflict"


class StaleWrite(ConflictError):
    code = "stale_write"

    def __init__(self, message: str, *, kind: str, key: str, expected_version: int, actual_version: int | None) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key
        self.expected_version = expected_version
        self.actual_version = actual_version


class GrainError(RepurposeError):
    code = "grain_error"

    def __init__(self, message: str, *, kind: str, key: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class UnknownGrainKind(GrainError):
    code = "unknown_grain_kind"


class UnknownGrainMethod(GrainError):
    code = "unknown_grain_method"


class GrainStateInvalid(GrainError):
    code = "grain_state_invalid"


class GrainUnavailable(GrainError):
    code = "grain_unavailable"


class ClusterError(RepurposeError):
    code = "cluster_error"


class ClusterNotRunning(ClusterError):
    code = "cluster_not_running"
