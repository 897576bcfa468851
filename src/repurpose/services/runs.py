"""Training runs: start one (or find the one with the same signature), list them, show one, cancel one."""

from __future__ import annotations

import asyncio
import re

from repurpose.actors.dataset_version import DatasetVersion
from repurpose.actors.training_run import TrainingRun, resolve_run, run_signature
from repurpose.actors.training_run import list_runs as stored_runs
from repurpose.contracts.datasets import DatasetSummary, SplitSummary
from repurpose.contracts.splits import parse_split_id
from repurpose.contracts.training_runs import RunDetail, RunRequest, RunSummary
from repurpose.errors import InvalidInput
from repurpose.services.context import Context


async def start_run(ctx: Context, *, request: RunRequest) -> RunDetail:
    """Start (or find) the run for ``request`` on its dataset version's split; the model name
    defaults to ``<type>-<dataset name>``. The same request reaches the same run (``created``
    False: it runs or succeeded already)."""
    summary: DatasetSummary = await ctx.grains.acall(DatasetVersion, request.dataset_id, "summary")
    spec = parse_split_id(request.split_id)
    split: SplitSummary = await ctx.grains.acall(
        DatasetVersion, request.dataset_id, "split", spec.kind, spec.seed, list(spec.fractions)
    )
    _check_split(split, summary.dataset_id)
    name = request.model_name or default_model_name(request.model_type, summary.name)
    detail: RunDetail = await ctx.grains.acall(TrainingRun, run_signature(request), "start", request, name)
    return detail


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


def default_model_name(model_type: str, dataset_name: str) -> str:
    """``<model type>-<dataset name>``, lower-cased, other characters as one '-', at most 64."""
    cleaned = re.sub(r"[^a-z0-9._]+", "-", dataset_name.lower()).strip("-._")
    return f"{model_type}-{cleaned or 'dataset'}"[:64].rstrip("-._")


def _check_split(split: SplitSummary, dataset_id: str) -> None:
    """A run trains on the split's train part and picks its epoch and threshold on the val part."""
    for part, size in (("train", split.train.size), ("val", split.val.size)):
        if size == 0:
            raise InvalidInput(
                f"split {split.split_id} of dataset {dataset_id[:12]} has no {part} rows: a run trains on its "
                "train part and picks its epoch and threshold on its val part; choose other fractions"
            )
