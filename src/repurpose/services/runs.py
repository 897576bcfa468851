"""Training runs: start one (or find the one with the same signature), list them, show one, cancel one."""

from __future__ import annotations

import asyncio

from repurpose.actors.run_launch import default_model_name, launch_run
from repurpose.actors.training_run import TrainingRun, resolve_run
from repurpose.actors.training_run import list_runs as stored_runs
from repurpose.contracts.training_runs import RunDetail, RunRequest, RunSummary
from repurpose.services.context import Context

__all__ = ["cancel_run", "default_model_name", "list_runs", "show_run", "start_run"]


async def start_run(ctx: Context, *, request: RunRequest) -> RunDetail:
    """Start (or find) the run for ``request`` on its dataset version's split; the model name
    defaults to ``<type>-<dataset name>``. The same request reaches the same run (``created``
    False: it runs or succeeded already)."""
    return await launch_run(ctx.grains, request)


async def list_runs(ctx: Context) -> list[RunSummary]:
    """Every training run, newest first."""
    return await asyncio.to_thread(stored_runs, ctx.engine)


async def show_run(ctx: Context, *, reference: str) -> RunDetail:
    """Status, progress (epoch, batch, loss, ETA), per-epoch curves and the model version it made."""
    run_id = await asyncio.to_thread(resolve_run, ctx.engine, reference)
    detail: RunDetail = await ctx.grains.acall(TrainingRun, run_id, "show")
    return detail


async def cancel_run(ctx: Context, *, reference: str) -> RunDetail:
    """Stop a running run (its checkpoint stays: starting it again resumes); RunStateConflict once
    it has succeeded."""
    run_id = await asyncio.to_thread(resolve_run, ctx.engine, reference)
    detail: RunDetail = await ctx.grains.acall(TrainingRun, run_id, "cancel")
    return detail
