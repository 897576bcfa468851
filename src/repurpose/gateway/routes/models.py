"""``/v1/models``: the registry's names and versions; promotion, rollback, evaluation, model cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Path, UploadFile
from fastapi.responses import PlainTextResponse

from repurpose.contracts.ids import MODEL_NAME_PATTERN, MODEL_VERSION_REFERENCE_PATTERN
from repurpose.contracts.models import ModelEvaluation, ModelOverview, ModelVersionDetail
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.gateway.bodies import EvaluateBody, ModelList, PromoteBody, RollbackBody
from repurpose.gateway.deps import Manager, Reader, ServicesDep, Writer
from repurpose.gateway.errors import responses
from repurpose.services import models as service

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
    return ModelList(items=await service.list_models(services))


@router.get("/{name}")
async def model(services: ServicesDep, _: Reader, name: Name) -> ModelOverview:
    """A model name: its version count and production version, and every version in a few fields."""
    return await service.show_model(services, name=name)


@router.get("/{name}/versions/{version}")
async def model_version(services: ServicesDep, _: Reader, name: Name, version: Version) -> ModelVersionDetail:
    """A version: stage and its history, metrics, lineage, evaluations and manifest."""
    return await service.show_version(services, name=name, version=version)


@router.post("/{name}/versions/{version}/promote", responses=responses(409, 413))
async def promote(
    services: ServicesDep, _: Manager, name: Name, version: Version, body: PromoteBody
) -> ModelVersionDetail:
    """Move a version to a stage through the registry's gates; a refused move is a 409 naming the rule."""
    return await service.promote(
        services, name=name, version=version, stage=body.stage, reason=body.reason, force=body.force
    )


@router.post("/{name}/rollback", responses=responses(409, 413))
async def rollback(
    services: ServicesDep, _: Manager, name: Name, body: Annotated[RollbackBody | None, Body()] = None
) -> ModelVersionDetail:
    """Archive the production version and put the previous production version back (409 if there is none)."""
    return await service.rollback(services, name=name, reason=body.reason if body is not None else None)


@router.post("/{name}/versions/{version}/evaluate", responses=responses(413))
async def evaluate(
    services: ServicesDep, _: Writer, name: Name, version: Version, body: EvaluateBody
) -> ModelEvaluation:
    """Metrics of a version, at its threshold, on a registered dataset version (or a part of a split).
    With no split, on the dataset it was trained on: the test part of its own split. Rows it was
    trained on (by lineage) are refused with 422 unless `allow_overlap`."""
    return await service.evaluate(
        services,
        name=name,
        version=version,
        dataset=body.dataset,
        split=body.split,
        part=body.part,
        allow_overlap=body.allow_overlap,
    )


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
    data = await file.read()
    return await service.evaluate_retrieval(
        services, name=name, version=version, data=data, filename=file.filename, decoys=decoys
    )


@router.get(
    "/{name}/versions/{version}/card",
    # no response_class: it would document the JSON error answers as text too
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}, "description": "The model card (Markdown)."}
    },
)
async def card(services: ServicesDep, _: Reader, name: Name, version: Version) -> PlainTextResponse:
    """A version's model card: its directory's card, then its stage, evaluations and retrieval results."""
    text = await service.model_card(services, name=name, version=version)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
