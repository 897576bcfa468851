"""Every domain error Repurpose raises, in one place.

    RepurposeError                 base: carries a stable ``code`` and a readable message
    ├── InvalidInput               the caller sent something we refuse (HTTP 422, CLI exit 2)
    │   ├── InvalidSmiles          RDKit cannot parse it, it is empty, or it is too large
    │   ├── InvalidProtein         empty, or a character outside the 25-letter alphabet
    │   └── InvalidTable           a pairs file without the needed columns, or without rows
    ├── ModelDirectoryError        a model directory that is incomplete or of another type
    └── CheckpointError            a checkpoint that cannot be resumed from

HTTP status codes live at the gateway's edge, never here.
"""

from __future__ import annotations


class RepurposeError(Exception):
    """Base class. ``code`` is stable and machine-readable; the message says what to fix."""

    code = "repurpose_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
