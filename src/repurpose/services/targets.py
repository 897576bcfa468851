"""Target proteins: register one under its id, list them, show one with its screening history."""

from __future__ import annotations

import asyncio
import logging

from repurpose.actors.model_registry import serving_model_paths
from repurpose.actors.target_protein import TargetProtein, TargetSequence, sequence_sha256
from repurpose.actors.target_protein import list_targets as stored_targets
from repurpose.contracts.targets import (
    TargetDetail,
    TargetRegistration,
    TargetSummary,
    check_target_id,
    normalize_target_sequence,
)
from repurpose.scoring.target_store import schedule_target_tensors
from repurpose.services.context import Context

logger = logging.getLogger(__name__)


async def register_target(
    ctx: Context, *, target_id: str, sequence: str, name: str | None = None, organism: str | None = None
) -> TargetRegistration:
    """Register a target (``TargetSequence.register``: a sequence known under another id makes
    ``target_id`` its alias); bad input is refused before any grain call."""
    check_target_id(target_id)
    clean = normalize_target_sequence(sequence)
    registration: TargetRegistration = await ctx.grains.acall(
        TargetSequence, sequence_sha256(clean), "register", target_id, clean, name, organism, idempotent=False
    )
    if registration.created:  # a new sequence: its tensors for the serving models, in the background
        await asyncio.to_thread(_schedule_target_tensors, ctx, clean)
    return registration


def _schedule_target_tensors(ctx: Context, sequence: str) -> None:
    try:
        schedule_target_tensors(ctx.settings, serving_model_paths(ctx.engine), [sequence])
    except Exception:  # the registration stands: the scorer computes what the worker did not
        logger.exception("could not schedule the target tensors of a new target")


async def list_targets(ctx: Context) -> list[TargetSummary]:
    """Every registered target, by id."""
    return await asyncio.to_thread(stored_targets, ctx.engine)


async def show_target(ctx: Context, *, target_id: str) -> TargetDetail:
    """The target's sequence, its screening history (most recent first) and its best hits."""
    check_target_id(target_id)
    detail: TargetDetail = await ctx.grains.acall(TargetProtein, target_id, "show")
    return detail
