"""``/v1/models``: the registry's names and versions; promotion, rollback, evaluation, model cards."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Path, UploadFile
from fastapi.responses import PlainTextResponse

from repurpose.actors.compound_library import resolve_library
from repurpose.actors.dataset_version import resolve_dataset
from repurpose.actors.model_registry import ModelRegistry, list_models
from repurpose.actors.version_retrieval import aevaluate_version_retrieval
from repurpose.contracts.ids import MODEL_NAME_PATTERN, MODEL_VERSION_REFERENCE_PATTERN
from repurpose.contracts.models import ModelEvaluation, ModelOverview, ModelVersionDetail
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.gateway.bodies import EvaluateBody, ModelList, PromoteBody, RollbackBody
from repurpose.gateway.deps import Manager, Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.gateway.services import Services

RETRIEVAL_PATH = "/v1/models/{name}/versions/{version}/retrieval"
"""Takes a file (the held-out set): the upload body limit applies (``UPLOAD_PATHS``)."""

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
        pattern=MODEL_VERSION_REFERENCE_PATTERN,
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


@router.post(RETRIEVAL_PATH.removeprefix("/v1/models"), responses=responses(413))
async def evaluate_retrieval(
    services: ServicesDep,
    _: Writer,
    name: Name,
    version: Version,
    file: Annotated[
        UploadFile,
        File(description="The held-out set: CSV with target_id, protein, compound_id, smiles (and optionally novel)."),
    ],
    decoys: Annotated[
        str | None,
        Form(
            min_length=1,
            max_length=200,
            description="A registered library (id, unique prefix or name) as the decoys. Default: the DrugBank "
            "compounds of the bundled library.",
        ),
    ] = None,
) -> RetrievalResult:
    """Rank each target's held-out actives among the decoys with the version (per target AUROC, EF 1 % and
    5 %, BEDROC; their means, novel chemotypes apart) and store the result with the version."""
    number = await _number(services, name, version)
    library_id = None
    if decoys is not None:
        with blame("decoys"):
            library_id = await asyncio.to_thread(resolve_library, services.engine, decoys)
    data = await file.read()
    with blame("file"):
        result = await aevaluate_version_retrieval(
            services.grains, name, number, data, filename=file.filename, decoys=library_id
        )
    return result


@router.get(
    "/{name}/versions/{version}/card",
    # no response_class: it would document the JSON error answers as text too
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}, "description": "The model card (Markdown)."}
    },
)
async def card(services: ServicesDep, _: Reader, name: Name, version: Version) -> PlainTextResponse:
    """A version's model card: its directory's card, then its stage, evaluations and retrieval results."""
    number = await _number(services, name, version)
    text: str = await services.grains.acall(ModelRegistry, name, "card", number)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


async def _number(services: Services, name: str, version: str) -> int:
    with blame("version"):
        number: int = await services.grains.acall(ModelRegistry, name, "resolve", version)
    return number
