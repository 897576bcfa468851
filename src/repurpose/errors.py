"""Every domain error Repurpose raises, in one place.

    RepurposeError                 base: carries a stable ``code`` and a readable message
    ├── InvalidInput               the caller sent something we refuse (HTTP 422, CLI exit 2)
    │   ├── InvalidSmiles          RDKit cannot parse it, it is empty, or it is too large
    │   ├── InvalidProtein         empty, or a character outside the 25-letter alphabet
    │   └── InvalidTable           a pairs file without the needed columns, or without rows
    │       └── TableTooLarge      an upload with more rows or columns than accepted (HTTP 413)
    ├── NotFound                   the thing asked for does not exist
    │   ├── ArtifactNotFound       no artifact at that path in the artifact store
    │   ├── DatasetNotFound        no dataset version with that id (or name) was registered
    │   ├── TargetNotFound         no target protein with that id was registered
    │   ├── ModelNotFound          no registered model (or model version) by that name / number
    │   ├── RunNotFound            no training run with that id
    │   ├── LibraryNotFound        no compound library with that id (or name)
    │   ├── CompoundNotFound       no registered compound library holds that compound id
    │   ├── ScreenNotFound         no screening job with that id
    │   ├── ApiKeyNotFound         no gateway API key with that id
    │   └── AlertRuleNotFound      no alert rule by that name
    ├── ConflictError              the request clashes with what is stored; re-read, then retry
    │   ├── StaleWrite             a grain's state moved on since it was read (optimistic version)
    │   ├── TargetConflict         a target id registered with another sequence
    │   ├── PromotionRefused       a stage change the registry's gates do not allow
    │   ├── RunStateConflict       an operation the training run's status does not allow
    │   ├── ScreenStateConflict    an operation the screening job's status does not allow
    │   ├── AlertRuleConflict      an alert rule name taken, or a rule set in config changed by the API
    │   └── FeedbackConflict       a feedback batch id sent again with other outcomes
    ├── GrainError                 the grain runtime could not route or run a call
    │   ├── UnknownGrainKind       no grain class is registered under that kind
    │   ├── UnknownGrainMethod     the grain kind has no such public operation
    │   ├── GrainStateInvalid      the stored state no longer fits the grain's State model
    │   └── GrainUnavailable       the grain's host did not come back in time after dying
    ├── GatewayError               a remote gateway refused a request or could not be reached
    ├── ModelDirectoryError        a model directory that is incomplete or of another type
    ├── CheckpointError            a checkpoint that cannot be resumed from
    └── ClusterError               the cluster cannot serve the request now (HTTP 503)
        ├── ClusterNotRunning      no cluster runs under that home
        └── ClusterBusy            a task found no free CPUs in time (with Retry-After)

HTTP status codes live at the gateway's edge, never here. Every error survives pickling with
its context (it crosses Ray's process boundaries), see ``RepurposeError.__reduce__``.
``blame(field)`` names the input at fault in an InvalidInput (the gateway's 422 carries it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


class TableTooLarge(InvalidTable):
    """More rows or columns than ``max_upload_rows`` / ``max_upload_columns``: refused before decoding."""

    code = "table_too_large"


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


class DatasetNotFound(NotFound):
    code = "dataset_not_found"

    def __init__(self, message: str, *, dataset_id: str) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id


class TargetNotFound(NotFound):
    code = "target_not_found"

    def __init__(self, message: str, *, target_id: str) -> None:
        super().__init__(message)
        self.target_id = target_id


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, message: str, *, name: str, version: int | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.version = version


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class LibraryNotFound(NotFound):
    code = "library_not_found"

    def __init__(self, message: str, *, library_id: str) -> None:
        super().__init__(message)
        self.library_id = library_id


class CompoundNotFound(NotFound):
    code = "compound_not_found"

    def __init__(self, message: str, *, compound_id: str) -> None:
        super().__init__(message)
        self.compound_id = compound_id


class ScreenNotFound(NotFound):
    code = "screen_not_found"

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class AlertRuleNotFound(NotFound):
    code = "alert_rule_not_found"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ConflictError(RepurposeError):
    code = "conflict"


class AlertRuleConflict(ConflictError):
    code = "alert_rule_conflict"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class FeedbackConflict(ConflictError):
    code = "feedback_conflict"

    def __init__(self, message: str, *, batch_id: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id


class ScreenStateConflict(ConflictError):
    code = "screen_state_conflict"

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class PromotionRefused(ConflictError):
    code = "promotion_refused"

    def __init__(self, message: str, *, name: str, version: int | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.version = version


class RunStateConflict(ConflictError):
    code = "run_state_conflict"

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class TargetConflict(ConflictError):
    code = "target_conflict"

    def __init__(self, message: str, *, target_id: str) -> None:
        super().__init__(message)
        self.target_id = target_id


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


class GatewayError(RepurposeError):
    """What a gateway answered instead (``status`` 0: it could not be reached). ``code`` is the
    gateway's stable code (``dataset_not_found``, ``rate_limited``…) when it sent one."""

    code = "gateway_error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        field: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        if code is not None:
            self.code = code
        self.field = field
        self.request_id = request_id


class ClusterError(RepurposeError):
    code = "cluster_error"


class ClusterNotRunning(ClusterError):
    code = "cluster_not_running"


class ClusterBusy(ClusterError):
    """A task waited longer than allowed for cluster resources (CPUs held by other work): retry later."""

    code = "cluster_busy"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@contextlib.contextmanager
def blame(field: str) -> Iterator[None]:
    """Name ``field`` as the input at fault in any InvalidInput raised inside (unless it names one
    already). Services use it where one use case reads several inputs, so either client can say which."""
    try:
        yield
    except InvalidInput as error:
        if getattr(error, "field", None) is None:
            error.field = field  # type: ignore[attr-defined]
        raise
