"""``/v1/feedback``: measured outcomes of pairs, as JSON or as a file, for a model version's live quality."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from pydantic import Field

from repurpose.contracts.feedback import BATCH_ID_PATTERN, MAX_FEEDBACK_PAIRS, FeedbackReceipt, Outcome
from repurpose.contracts.ids import MODEL_NAME_PATTERN, MODEL_VERSION_REFERENCE_PATTERN
from repurpose.gateway.bodies import Body
from repurpose.gateway.deps import ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.services import feedback as service

UPLOAD_PATH = "/v1/feedback/upload"

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], responses=responses(401, 403, 404, 409, 422, 429, 503))

_RECORDED: dict[int | str, dict[str, Any]] = {
    200: {"model": FeedbackReceipt, "description": "This batch was recorded before: nothing counted again"}
}
ModelField = Field(
    default=None, pattern=MODEL_NAME_PATTERN, description="A registered model name (default: the default model)."
)
VersionField = Field(
    default=None,
    pattern=MODEL_VERSION_REFERENCE_PATTERN,
    description="A version number, latest or a stage (default: production, else the latest).",
)
BatchField = Field(
    default=None,
    pattern=BATCH_ID_PATTERN,
    description="Names the batch: sent again, it is counted once (default: the sha256 of model, version and rows).",
)


class FeedbackBody(Body):
    pairs: list[Outcome] = Field(min_length=1, max_length=MAX_FEEDBACK_PAIRS)
    model: str | None = ModelField
    version: str | None = VersionField
    batch_id: str | None = BatchField


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(413, also=_RECORDED))
async def feedback(services: ServicesDep, _: Writer, response: Response, body: FeedbackBody) -> FeedbackReceipt:
    """Outcomes (``smiles``, ``target`` or ``sequence``, ``label`` 0/1), scored by the model version and
    kept (201; 200 when the batch was recorded before); the version's live quality with them."""
    receipt = await service.record_feedback(
        services, pairs=body.pairs, model=body.model, version=body.version, batch_id=body.batch_id
    )
    _observe(services, receipt, response)
    return receipt


@router.post("/upload", status_code=status.HTTP_201_CREATED, responses=responses(413, also=_RECORDED))
async def feedback_file(
    services: ServicesDep,
    _: Writer,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV or Parquet with the columns SMILES, Protein (or Target), Y.")],
    model: Annotated[str | None, Form(pattern=MODEL_NAME_PATTERN, description="A registered model name.")] = None,
    version: Annotated[str | None, Form(pattern=MODEL_VERSION_REFERENCE_PATTERN)] = None,
    batch_id: Annotated[str | None, Form(pattern=BATCH_ID_PATTERN)] = None,
) -> FeedbackReceipt:
    """The same for a file of outcomes: refused whole (naming the row) if any row is bad."""
    data = await file.read()
    with blame("file"):
        receipt = await service.record_feedback_file(
            services, data=data, filename=file.filename, model=model, version=version, batch_id=batch_id
        )
    _observe(services, receipt, response)
    return receipt


def _observe(services: ServicesDep, receipt: FeedbackReceipt, response: Response) -> None:
    services.metrics.quality.observe(receipt.quality)
    if not receipt.recorded:
        response.status_code = status.HTTP_200_OK
