from __future__ import annotations

import pickle

import pytest

from repurpose.errors import (
    ArtifactNotFound,
    ConflictError,
    DatasetNotFound,
    GrainError,
    GrainUnavailable,
    InvalidSmiles,
    NotFound,
    RepurposeError,
    StaleWrite,
    TargetConflict,
    UnknownGrainKind,
)


@pytest.mark.parametrize(
    "error",
    [
        StaleWrite("moved on", kind="target", key="ABL1", expected_version=2, actual_version=3),
        ArtifactNotFound("gone", path="datasets/x.parquet"),
        UnknownGrainKind("no such kind", kind="nope"),
        GrainUnavailable("host down", kind="target", key="ABL1"),
        InvalidSmiles("cannot parse", smiles="C1CC"),
        DatasetNotFound("no such dataset", dataset_id="0" * 64),
        TargetConflict("another sequence", target_id="ABL1"),
        RepurposeError("plain"),
    ],
)
def test_errors_survive_pickling_with_context(error: RepurposeError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.message, copy.code) == (str(error), error.message, error.code)
    assert copy.__dict__ == error.__dict__


def test_error_branches() -> None:
    assert issubclass(StaleWrite, ConflictError)
    assert issubclass(ArtifactNotFound, NotFound)
    assert issubclass(GrainUnavailable, GrainError)
    assert all(issubclass(c, RepurposeError) for c in (ConflictError, NotFound, GrainError))
