"""The model registry at the boundaries: versions, stages, lineage, evaluations, per-name summaries.

A registered model is a name (``drugban-human``) with versions 1, 2, 3…; each version is one
published model directory (``artifact_path``) in one stage of
``candidate → staging → production → archived``.

Metrics may hold NaN (an AUROC on pairs of one class, a precision with no predicted positive).
JSON has no NaN and PostgreSQL's JSONB refuses it, so the metric fields here write NaN as
``null`` in JSON form (``model_dump(mode="json")``, ``model_dump_json``) and read ``null`` back
as NaN: the registry's state and its answers survive any store and any client.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, SerializerFunctionWrapHandler, WrapSerializer

from repurpose.contracts.base import Contract
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.ids import MODEL_NAME_PATTERN
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.contracts.training import TrainingConfig
from repurpose.errors import InvalidInput
from repurpose.plain_text import check_plain_text

ModelStage = Literal["candidate", "staging", "production", "archived"]
MODEL_STAGES: tuple[ModelStage, ...] = get_args(ModelStage)

EvaluationPart = Literal["all", "train", "val", "test"]
EVALUATION_PARTS: tuple[EvaluationPart, ...] = get_args(EvaluationPart)


def check_model_name(name: str) -> str:
    """``name`` if it is a model name (1-64 of ``a-z 0-9 . _ -``, starting with a letter or digit)."""
    if isinstance(name, str):
        check_plain_text(name, "model name")
    if not isinstance(name, str) or not re.fullmatch(MODEL_NAME_PATTERN, name):  # fullmatch: `$` lets a final \n by
        raise InvalidInput(
            f"{name!r:.80} is not a model name: use 1 to 64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. drugban-human)"
        )
    return name


def parse_version_ref(ref: str | int) -> int | str:
    """What a version reference names: a number (``3`` or ``v3``), ``latest`` or a stage name.

    InvalidInput for anything else; the registry grain's ``resolve`` turns it into a number."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        if ref < 1:
            raise InvalidInput(f"model versions are numbered from 1, not {ref}")
        return ref
    text = ref.strip().lower() if isinstance(ref, str) else ""
    if text == "latest" or text in MODEL_STAGES:
        return text
    digits = text[1:] if text.startswith("v") else text
    if digits.isdecimal() and len(digits) <= 9:
        return parse_version_ref(int(digits))
    raise InvalidInput(
        f"{ref!r:.80} is not a model version: give a number (e.g. 3), latest, or a stage ({', '.join(MODEL_STAGES)})"
    )


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _serialize_json_safe(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    return _json_safe(handler(value))


def _metrics_from_json(value: Any) -> Any:
    """A metrics document read back from JSON: null is the NaN it was written for."""
    if isinstance(value, dict):
        return {k: math.nan if v is None else v for k, v in value.items()}
    return value


def _manifest_from_json(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("val_metrics"), dict):
        return {**value, "val_metrics": _metrics_from_json(value["val_metrics"])}
    return value


Metrics = Annotated[
    BinaryMetrics,
    BeforeValidator(_metrics_from_json),
    WrapSerializer(_serialize_json_safe, when_used="json"),
]
"""``BinaryMetrics`` whose NaN values travel through JSON as null."""

StoredManifest = Annotated[
    Manifest,
    BeforeValidator(_manifest_from_json),
    WrapSerializer(_serialize_json_safe, when_used="json"),
]
"""A model directory's ``Manifest`` whose NaN metrics travel through JSON as null."""


class ModelLineage(Contract):
    """Where a version comes from: enough to retrain it."""

    source: str = Field(
        min_length=1, max_length=500, description='What made it: "bundled:<name>" or "run:<training run id>".'
    )
    run_id: str | None = Field(default=None, max_length=200, description="The training run that produced it.")
    dataset_id: str | None = Field(default=None, max_length=64, description="The dataset version it was trained on.")
    split_id: str | None = Field(default=None, max_length=100, description="The split of that dataset version.")
    code_version: str = Field(min_length=1, max_length=200, description="The repurpose version that trained it.")
    training: TrainingConfig


class StageChange(Contract):
    stage: ModelStage
    at: dt.datetime
    reason: str | None = None


class ModelEvaluation(Contract):
    """The version's metrics, at its stored threshold, on a registered dataset version (or a part of a split)."""

    dataset_id: str
    split_id: str | None = Field(description="None: every row of the dataset version.")
    part: EvaluationPart
    metrics: Metrics
    evaluated_at: dt.datetime
    training_overlap: int | None = Field(
        default=None,
        ge=0,
        description="Evaluated rows that are training rows of the version (same SMILES and protein as a row of "
        "the train part of its lineage's split); an evaluation with any is refused unless allowed, and then "
        "recorded with the count. None: its lineage names no training rows (e.g. the bundled model).",
    )


class ModelVersionSummary(Contract):
    """One version in a few fields (what `models show NAME` lists)."""

    name: str
    version: int = Field(ge=1)
    stage: ModelStage
    model_type: str
    created_at: dt.datetime
    threshold: float = Field(description="The decision threshold chosen on validation data.")
    val_metrics: Metrics = Field(description="The metrics on the validation pairs of its training.")
    artifact_path: str = Field(description="The published model directory (content-addressed) in the artifact store.")


class ModelVersionDetail(ModelVersionSummary):
    """Everything the registry keeps about a version."""

    lineage: ModelLineage
    stage_history: list[StageChange] = Field(description="Every stage it has been in, oldest first.")
    evaluations: list[ModelEvaluation] = Field(description="Latest per dataset, split and part; oldest first.")
    retrieval: list[RetrievalResult] = Field(
        default_factory=list,
        description="Retrieval evaluations (held-out actives ranked among decoys): the latest per held-out set and "
        "decoy library; oldest first.",
    )
    manifest: StoredManifest


class ModelSummary(Contract):
    """One registered model name (what `models list` shows)."""

    name: str
    versions: int = Field(description="How many versions are registered.")
    production: int | None = Field(description="The version in production, if any.")
    latest: int = Field(description="The highest version number.")


class ModelOverview(Contract):
    summary: ModelSummary
    versions: list[ModelVersionSummary] = Field(description="Every version, oldest first.")
