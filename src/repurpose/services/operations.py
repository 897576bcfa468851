"""Readiness: whether the store, the grain hosts and the scorer (for a production model) answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sqlalchemy import text

from repurpose.actors.model_registry import list_models
from repurpose.contracts.operations import Readiness, ReadinessCheck
from repurpose.services.context import Context

CHECK_SECONDS = 10.0


async def readiness(ctx: Context) -> Readiness:
    """Ready when the store answers, the grain hosts answer and the scorer answers for a production model."""
    checks = [
        await _check("store", _store(ctx)),
        await _check("ray", _ray(ctx)),
        await _check("model", _model(ctx)),
    ]
    return Readiness(ready=all(c.ok for c in checks), checks=checks)


async def production_model_name(ctx: Context) -> str:
    """A model name with a production version: the default model's if it has one."""
    models = await asyncio.to_thread(list_models, ctx.engine)
    names = sorted((m.name for m in models if m.production is not None), key=lambda n: n != ctx.settings.default_model)
    if not names:
        raise LookupError(
            "no model version is in production: promote one (POST /v1/models/{name}/versions/{v}/promote)"
        )
    return names[0]


async def _check(name: str, work: Awaitable[str]) -> ReadinessCheck:
    try:
        detail = await asyncio.wait_for(work, CHECK_SECONDS)
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        return ReadinessCheck(name=name, ok=False, detail=f"{type(error).__name__}: {first}")  # type: ignore[arg-type]
    return ReadinessCheck(name=name, ok=True, detail=detail)  # type: ignore[arg-type]


async def _store(ctx: Context) -> str:
    def ping() -> None:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    await asyncio.to_thread(ping)
    return f"{ctx.engine.url.get_backend_name()} answers"


async def _ray(ctx: Context) -> str:
    hosts = await asyncio.to_thread(ctx.grains.stats)
    return f"{len(hosts)} grain host(s) answer"


async def _model(ctx: Context) -> str:
    model = await ctx.lookups.model(await production_model_name(ctx))
    await ctx.scorer.stats(model)
    return f"{model.ref} in production; the scorer answers"
