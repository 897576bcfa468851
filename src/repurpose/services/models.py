"""Models: the registry's names and versions, promotion and rollback, evaluation (pair metrics on a
registered dataset, or retrieval of held-out actives among decoys) and model cards.

A version is named by a reference (``3``, ``v3``, ``latest`` or a stage): the name's registry
grain resolves it first, so a refusal names the version. A promotion or rollback clears the
context's cached resolutions of that name (``Lookups.forget_model``): scoring through the same
context sees the new production version at once.
"""

from __future__ import annotations

import asyncio

from ray.exceptions import RayTaskError

from repurpose.actors.compound_library import CompoundLibrary, resolve_library
from repurpose.actors.dataset_version import resolve_dataset
from repurpose.actors.model_registry import ModelRegistry
from repurpose.actors.model_registry import list_models as stored_models
from repurpose.actors.version_retrieval import check_heldout_upload, retrieval_task
from repurpose.contracts.models import (
    ModelEvaluation,
    ModelOverview,
    ModelSummary,
    ModelVersionDetail,
    ModelVersionSummary,
    check_model_name,
)
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.contracts.screening import LibrarySummary
from repurpose.errors import blame
from repurpose.runtime.tasks import await_task, task_domain_error
from repurpose.services.context import Context


async def list_models(ctx: Context) -> list[ModelSummary]:
    """Every registered model name with its version count and production version, by name."""
    return await asyncio.to_thread(stored_models, ctx.engine)


async def show_model(ctx: Context, *, name: str) -> ModelOverview:
    """A model name: its version count and production version, and every version in a few fields."""
    check_model_name(name)
    summary: ModelSummary
    versions: list[ModelVersionSummary]
    summary, versions = await asyncio.gather(
        ctx.grains.acall(ModelRegistry, name, "summary"), ctx.grains.acall(ModelRegistry, name, "versions")
    )
    return ModelOverview(summary=summary, versions=versions)


async def show_version(ctx: Context, *, name: str, version: str) -> ModelVersionDetail:
    """A version: its stage and their history, metrics, lineage, evaluations and manifest."""
    number = await _number(ctx, name, version)
    detail: ModelVersionDetail = await ctx.grains.acall(ModelRegistry, name, "show", number)
    return detail


async def promote(
    ctx: Context, *, name: str, version: str, stage: str, reason: str | None = None, force: bool = False
) -> ModelVersionDetail:
    """Move a version to ``stage`` through the registry's gates (PromotionRefused names the rule)."""
    number = await _number(ctx, name, version)
    detail: ModelVersionDetail = await ctx.grains.acall(
        ModelRegistry, name, "promote", number, stage, reason, force, idempotent=False
    )
    ctx.lookups.forget_model(name)
    return detail


async def rollback(ctx: Context, *, name: str, reason: str | None = None) -> ModelVersionDetail:
    """Archive the production version and put the previous production version back."""
    check_model_name(name)
    detail: ModelVersionDetail = await ctx.grains.acall(ModelRegistry, name, "rollback", reason, idempotent=False)
    ctx.lookups.forget_model(name)
    return detail


async def evaluate(
    ctx: Context,
    *,
    name: str,
    version: str,
    dataset: str,
    split: str | None = None,
    part: str | None = None,
    allow_overlap: bool = False,
) -> ModelEvaluation:
    """Metrics of a version at its threshold on a registered dataset version (an id, a unique
    prefix or a name), or on a part of a split; recorded with the version (``ModelRegistry.evaluate``)."""
    with blame("dataset"):
        dataset_id = await asyncio.to_thread(resolve_dataset, ctx.engine, dataset)
    number = await _number(ctx, name, version)
    with blame("split"):
        evaluation: ModelEvaluation = await ctx.grains.acall(
            ModelRegistry, name, "evaluate", number, dataset_id, split, part, allow_overlap
        )
    return evaluation


async def evaluate_retrieval(
    ctx: Context, *, name: str, version: str, data: bytes, filename: str | None, decoys: str | None = None
) -> RetrievalResult:
    """Rank each target's held-out actives (a CSV file's bytes) among ``decoys`` (a registered
    library: id, unique prefix or name; None: the DrugBank compounds of the bundled library) with
    the version, and record the result on it. The registry grain is not held while the task runs."""
    number = await _number(ctx, name, version)
    library_id = None
    if decoys is not None:
        with blame("decoys"):
            library_id = await asyncio.to_thread(resolve_library, ctx.engine, decoys)
    with blame("file"):
        check_heldout_upload(data, filename)
        detail: ModelVersionDetail = await ctx.grains.acall(ModelRegistry, name, "show", number)
        library: LibrarySummary | None = (
            None if library_id is None else await ctx.grains.acall(CompoundLibrary, library_id, "summary")
        )
        task = retrieval_task.remote(ctx.settings, detail.artifact_path, data, filename, library)
        what = f"ranking {filename or 'the held-out set'} with {name} v{number}"
        try:
            result: RetrievalResult = await await_task(task, what, ctx.settings)
        except RayTaskError as error:
            raise task_domain_error(error) from None
        await ctx.grains.acall(ModelRegistry, name, "record_retrieval", number, result)
    return result


async def model_card(ctx: Context, *, name: str, version: str) -> str:
    """A version's model card (Markdown): its directory's card, then its stage, evaluations and retrieval."""
    number = await _number(ctx, name, version)
    card: str = await ctx.grains.acall(ModelRegistry, name, "card", number)
    return card


async def _number(ctx: Context, name: str, version: str) -> int:
    """The version number ``version`` names (a number, v3, latest or a stage)."""
    check_model_name(name)
    with blame("version"):
        number: int = await ctx.grains.acall(ModelRegistry, name, "resolve", version)
    return number
