"""The routes' dependencies, as ``Annotated`` aliases: the replica's services and the caller's rights."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from repurpose.gateway.auth import Permission, Principal, allow
from repurpose.gateway.services import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency on its thread pool, a thread hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
"""Grains, scorer, store engine, lookups, metrics."""

Reader = Annotated[Principal, Depends(allow(Permission.READ))]
"""Any valid key (reader, scientist, admin)."""
Scoring = Annotated[Principal, Depends(allow(Permission.SCORE))]
"""Any valid key: every role may score."""
Writer = Annotated[Principal, Depends(allow(Permission.WRITE))]
"""Scientists and admins: datasets, training, targets, screens, evaluations, feedback."""
Manager = Annotated[Principal, Depends(allow(Permission.MANAGE))]
"""Admins: promotion, rollback, API keys and alert rules (their webhooks call out, they may start training)."""
