"""``/v1/keys``: make, list and revoke API keys (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from repurpose.contracts.ids import API_KEY_ID_PATTERN
from repurpose.contracts.keys import ApiKeySummary, IssuedKey
from repurpose.gateway.bodies import KeyBody, KeyList
from repurpose.gateway.deps import Manager, ServicesDep
from repurpose.gateway.errors import responses
from repurpose.services import keys as service

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=responses(401, 403, 422, 429, 503))

KeyId = Annotated[str, Path(pattern=API_KEY_ID_PATTERN, description="The key's public id (12 hex digits).")]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(413))
async def create_key(services: ServicesDep, _: Manager, body: KeyBody) -> IssuedKey:
    """Make a key: the answer holds its secret, which is never shown again (only its hash is stored)."""
    return await service.create_key(services, role=body.role, name=body.name)


@router.get("")
async def keys(services: ServicesDep, _: Manager) -> KeyList:
    """Every key made, revoked ones too (never their secrets)."""
    return KeyList(items=await service.list_keys(services))


@router.delete("/{key_id}", responses=responses(404))
async def revoke_key(services: ServicesDep, _: Manager, key_id: KeyId) -> ApiKeySummary:
    """Revoke a key for good; every gateway replica refuses it within ``gateway_key_cache_seconds``."""
    return await service.revoke_key(services, key_id=key_id)
