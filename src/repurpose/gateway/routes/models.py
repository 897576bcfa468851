"""``/v1/models``: the registry's names and versions; promotion, rollback and evaluation."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Path

from repurpose.actors.dataset_version import resolve_dataset
from repurpose.actors.model_registry import ModelRegistry, list_models
from repurpose.contracts.models import ModelEvaluation, ModelVersionDetail
from repurpose.gateway.bodies import (
    MODEL_NAME_PATTERN,
    VERSION_PATTERN,
    EvaluateBody,
    ModelList,
    ModelOverview,
    PromoteBody,
    RollbackBody,
)
from repurpose.gateway.deps import Manager, Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.gateway.services import Services

router = APIRouter(prefix="/v1/models", tags=["models"], responses=responses(401, 403, 404, 422, 429, 503))

Name = Annotated[
    str,
    Path(
        pattern=MODEL_NAME_PATTERN,
        description="A registered model name, e.g. drugban-human.",
        examples=["drugban-human"],
    ),
]
Version = Annotated[
    str,
    Path(
        pattern=VERSION_PATTERN,
        description="A version number (3 or v3), latest, or a stage (its latest version).",
        examples=["1", "production"],
    ),
]


@router.get("")
async def models(services: ServicesDep, _: Reader) -> ModelList:
    """Every registered model name with its version count and production version."""
    return ModelList(items=await asyncio.to_thread(list_models, services.engine))


@router.get("/{name}")
async def model(services: ServicesDep, _: Reader, name: Name) -> ModelOverview:
    """A model name: its version count and production version, and every version in a few fields."""
    summary, versions = await asyncio.gather(
        services.grains.acall(ModelRegistry, name, "summary"), services.grains.acall(ModelRegistry, name, "versions")
    )
    return ModelOverview(summary=summary, versions=versions)


@router.get("/{name}/versions/{version}")
async def model_version(services: ServicesDep, _: Reader, name: Name, version: Version) -> ModelVersionDetail:
    """A version: stage and its history, metrics, lineage, evaluations and manifest."""
    number = await _number(services, name, version)
    detail: ModelVersionDetail = await services.grains.acall(ModelRegistry, name, "show", number)
    return detail


@router.post("/{name}/versions/{version}/promote", responses=responses(409, 413))
async def promote(
    services: ServicesDep, _: Manager, name: Name, version: Version, body: PromoteBody
) -> ModelVersionDetail:
    """Move a version to a stage through the registry's gates; a refused move is a 409 naming the rule."""
    number = await _number(services, name, version)
    detail: ModelVersionDetail = await services.grains.acall(
        ModelRegistry, name, "promote", number, body.stage, body.reason, body.force, idempotent=False
    )
    services.lookups.forget_model(name)
    return detail


@router.post("/{name}/rollback", responses=responses(409, 413))
async def rollback(
    services: ServicesDep, _: Manager, name: Name, body: Annotated[RollbackBody | None, Body()] = None
) -> ModelVersionDetail:
    """Archive the production version and put the previous production version back (409 if there is none)."""
    reason = body.reason if body is not None else None
    detail: ModelVersionDetail = await services.grains.acall(ModelRegistry, name, "rollback", reason, idempotent=False)
    services.lookups.forget_model(name)
    return detail


@router.post("/{name}/versions/{version}/evaluate", responses=responses(413))
async def evaluate(
    services: ServicesDep, _: Writer, name: Name, version: Version, body: EvaluateBody
) -> ModelEvaluation:
    """Metrics of a version, at its threshold, on a registered dataset version (or a part of a split).
    With no split, on the dataset it was trained on: the test part of its own split. Rows it was
    trained on (by lineage) are refused with 422 unless `allow_overlap`."""
    with blame("dataset"):
        dataset_id = await asyncio.to_thread(resolve_dataset, services.engine, body.dataset)
    number = await _number(services, name, version)
    with blame("split"):
        evaluation: ModelEvaluation = await services.grains.acall(
            ModelRegistry, name, "evaluate", number, dataset_id, body.split, body.part, body.allow_overlap
        )
    return evaluation


async def _number(services: Services, name: str, version: str) -> int:
    with blame("version"):
        number: int = await services.grains.acall(ModelRegistry, name, "resolve", version)
    return number
