"""``/v1/targets``: register a target protein under its id, show it with its screening history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from repurpose.contracts.ids import TARGET_ID_PATTERN
from repurpose.contracts.targets import TargetDetail, TargetRegistration
from repurpose.gateway.bodies import TargetBody, TargetList
from repurpose.gateway.deps import Reader, ServicesDep, Writer
from repurpose.gateway.errors import blame, responses
from repurpose.services import targets as service

router = APIRouter(prefix="/v1/targets", tags=["targets"], responses=responses(401, 403, 422, 429, 503))

TargetId = Annotated[
    str,
    Path(
        pattern=TARGET_ID_PATTERN, description="A gene symbol (EGFR) or UniProt accession (P00533).", examples=["EGFR"]
    ),
]


@router.put(
    "/{target_id}",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        409,
        413,
        also={
            200: {
                "model": TargetRegistration,
                "description": "Registered already with this sequence: under this id, or under another (`alias`)",
            }
        },
    ),
)
async def register_target(
    services: ServicesDep, _: Writer, target_id: TargetId, body: TargetBody, response: Response
) -> TargetRegistration:
    """Register a target (201); again with the same sequence: 200; with another sequence: 409.

    A sequence registered already under another id answers 200 with that target: the id sent
    is now an alias of it (``alias``), and naming it reads that target."""
    with blame("target_id"):
        registration = await service.register_target(
            services, target_id=target_id, sequence=body.sequence, name=body.name, organism=body.organism
        )
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return registration


@router.get("")
async def targets(services: ServicesDep, _: Reader) -> TargetList:
    """Every registered target, by id."""
    return TargetList(items=await service.list_targets(services))


@router.get("/{target_id}", responses=responses(404))
async def target(services: ServicesDep, _: Reader, target_id: TargetId) -> TargetDetail:
    """The target's sequence, its screening history (most recent first) and its best hits."""
    return await service.show_target(services, target_id=target_id)
