"""API keys: make one (its secret shown once), list them, revoke one."""

from __future__ import annotations

import asyncio

from repurpose.actors.api_key import PREFIX, ApiKey, check_role_and_name, draw_key, hash_secret
from repurpose.actors.api_key import list_keys as stored_keys
from repurpose.contracts.keys import ApiKeySummary, IssuedKey, check_key_id
from repurpose.errors import ConflictError
from repurpose.services.context import Context

# 48 random bits name a key: a collision is rare, and two in a row would mean a broken generator.
CREATE_ATTEMPTS = 3


async def create_key(ctx: Context, *, role: str, name: str | None = None) -> IssuedKey:
    """Make a key with ``role``; the returned ``key`` is the only copy of its secret."""
    checked_name = check_role_and_name(role, name)
    for _ in range(CREATE_ATTEMPTS):
        key_id, secret = draw_key()
        try:
            summary: ApiKeySummary = await ctx.grains.acall(
                ApiKey, key_id, "create", role, hash_secret(secret), checked_name, idempotent=False
            )
        except ConflictError:  # the id was taken: draw again
            continue
        return IssuedKey(key=f"{PREFIX}_{key_id}_{secret}", summary=summary)
    raise ConflictError("could not draw a free API key id; try again")


async def list_keys(ctx: Context) -> list[ApiKeySummary]:
    """Every key ever made (revoked ones too), oldest first; never their secrets."""
    return await asyncio.to_thread(stored_keys, ctx.engine)


async def revoke_key(ctx: Context, *, key_id: str) -> ApiKeySummary:
    """Revoke a key for good; gateway replicas refuse it within ``gateway_key_cache_seconds``."""
    summary: ApiKeySummary = await ctx.grains.acall(ApiKey, check_key_id(key_id), "revoke")
    return summary
