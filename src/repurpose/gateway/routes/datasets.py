"""``/v1/datasets``: register (upload), list, show and split dataset versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status

from repurpose.contracts.datasets import DatasetDetail, DatasetRegistration, SplitSummary
from repurpose.gateway.bodies import DatasetList, SplitBody
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.services import datasets as service

UPLOAD_PATH = "/v1/datasets"

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=responses(401, 403, 422, 429, 503))

DatasetRef = Annotated[
    str, Path(min_length=1, max_length=200, description="A dataset id, a unique prefix of it (4+ digits) or its name.")
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        413, also={200: {"model": DatasetRegistration, "description": "Already registered (a new name is an alias)"}}
    ),
)
async def register_dataset(
    services: ServicesDep,
    _: Writer,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV or Parquet with the columns SMILES,Protein,Y.")],
    name: Annotated[str | None, Form(max_length=200, description="A name (default: the file's stem).")] = None,
) -> DatasetRegistration:
    """Validate a pair table and store it as a dataset version named by its content (201; 200 if known)."""
    data = await file.read()
    with blame("file"):
        registration = await service.register_dataset(services, data=data, filename=file.filename, name=name)
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return registration


@router.get("")
async def datasets(services: ServicesDep, _: Reader) -> DatasetList:
    """Every registered dataset version, oldest first."""
    return DatasetList(items=await service.list_datasets(services))


@router.get("/{dataset}", responses=responses(404))
async def dataset(services: ServicesDep, _: Reader, dataset: DatasetRef) -> DatasetDetail:
    """The version with its validation report, class balance, lengths, descriptor profile and splits."""
    with blame("dataset"):
        return await service.show_dataset(services, reference=dataset)


@router.post("/{dataset}/splits", responses=responses(404, 413))
async def split_dataset(services: ServicesDep, _: Writer, dataset: DatasetRef, body: SplitBody) -> SplitSummary:
    """Split the version (random, cold-drug, cold-target or scaffold); the same request gives the same split."""
    with blame("dataset"):  # an error of the split itself names "fractions" already
        return await service.split_dataset(
            services, reference=dataset, kind=body.kind, seed=body.seed, fractions=body.fractions
        )
