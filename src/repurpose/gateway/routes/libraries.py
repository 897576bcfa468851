"""``/v1/libraries``: register (upload), list and show compound libraries, what screens take."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status

from repurpose.contracts.screening import LibraryDetail, LibraryRegistration
from repurpose.gateway.bodies import LibraryList
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.services import libraries as service

UPLOAD_PATH = "/v1/libraries"

router = APIRouter(prefix="/v1/libraries", tags=["screening"], responses=responses(401, 403, 422, 429, 503))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        413, also={200: {"model": LibraryRegistration, "description": "Already registered (a new name is an alias)"}}
    ),
)
async def register_library(
    services: ServicesDep,
    _: Writer,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV/TSV with compound_id and smiles columns, or a .smi file.")],
    name: Annotated[str | None, Form(max_length=200, description="A name (default: the file's stem).")] = None,
) -> LibraryRegistration:
    """Store a compound library named by its content (201; 200 if it was registered already)."""
    data = await file.read()
    with blame("file"):
        registration = await service.register_library(services, data=data, filename=file.filename, name=name)
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return registration


@router.get("")
async def libraries(services: ServicesDep, _: Reader) -> LibraryList:
    """Every registered library, oldest first."""
    return LibraryList(items=await service.list_libraries(services))


@router.get("/{library}", responses=responses(404))
async def library(
    services: ServicesDep,
    _: Reader,
    library: Annotated[str, Path(min_length=1, max_length=200, description="A library id, unique prefix or name.")],
) -> LibraryDetail:
    """A library: its size, format and first compounds."""
    with blame("library"):
        return await service.show_library(services, reference=library)
