"""Scoring: predict (compound, protein) pairs, explain one pair, profile a compound against every
registered target.

A model reference is resolved through the context's cache (``Lookups.model``; none named: the
cluster's default model, ``settings.default_model``). Registered targets become their sequences
with the target id as the scorer's cache key, so every pair with a target reuses that target's
tensors in the scorer replica; the scorer checks SMILES and sequences and does the rest. A
compound may be named by a registered library's compound id instead of its SMILES.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from repurpose.actors.compound_library import find_compound
from repurpose.actors.target_protein import registered_targets
from repurpose.contracts.scoring import (
    MAX_PREDICT_PAIRS,
    CompoundProfile,
    ExplanationOut,
    PairToScore,
    Prediction,
)
from repurpose.contracts.targets import check_target_id
from repurpose.errors import InvalidInput, NotFound, blame
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.client import resolve_explainer
from repurpose.scoring.profiling import aprofile_compounds
from repurpose.services.context import Context


async def predict(ctx: Context, *, pairs: Sequence[Mapping[str, str]], model: str | None = None) -> Prediction:
    """Interaction probabilities of 1 to ``MAX_PREDICT_PAIRS`` pairs, each ``{"smiles", "target"}``
    (a registered target id) or ``{"smiles", "sequence"}``, in their order."""
    if not 1 <= len(pairs) <= MAX_PREDICT_PAIRS:
        raise _at("pairs", InvalidInput(f"give 1 to {MAX_PREDICT_PAIRS:,} pairs, not {len(pairs):,}"))
    for index, pair in enumerate(pairs):
        _check_pair(index, pair)
    with blame("model"):
        resolved = await ctx.lookups.model(model or ctx.settings.default_model)
    targets = [p["target"] for p in pairs if p.get("target") is not None]
    try:
        sequences = await ctx.lookups.sequences(targets) if targets else {}
    except NotFound as error:  # name the pair whose target is unknown
        missing = getattr(error, "target_id", None)
        at = next((i for i, p in enumerate(pairs) if p.get("target") == missing), None)
        if at is not None:
            error.field = f"pairs[{at}].target"  # type: ignore[attr-defined]
        raise
    to_score = [
        PairToScore(smiles=p["smiles"], sequence=sequences[p["target"]], target_key=p["target"])
        if p.get("target") is not None
        else PairToScore(smiles=p["smiles"], sequence=p.get("sequence") or "")
        for p in pairs
    ]
    with blame("pairs"):
        scores = await ctx.scorer.predict(resolved, to_score)
    return Prediction(model=resolved.ref, threshold=resolved.threshold, scores=scores)


async def explain(
    ctx: Context,
    *,
    smiles: str | None = None,
    compound: str | None = None,
    target: str | None = None,
    sequence: str | None = None,
    model: str | None = None,
    top: int = 10,
) -> ExplanationOut:
    """The atoms and residue windows DrugBAN's attention weighs most for one pair; the compound is
    a SMILES or a library compound id, the protein a registered target id or a sequence."""
    _check_one_protein(target, sequence)
    compound_smiles = await _smiles(ctx, smiles, compound)  # first: an unknown id costs no model lookup
    with blame("model"):  # without one named: a DrugBAN (explanations are its attention)
        resolved = await resolve_explainer(ctx.lookups.model, ctx.settings, model)
    protein = await ctx.lookups.sequence(target) if target is not None else sequence or ""
    with blame("smiles" if compound is None else "compound"):
        explanation = await ctx.scorer.explain(resolved, compound_smiles, protein, top)
    return ExplanationOut(
        **explanation.model_dump(), model=resolved.ref, target=target, smiles=compound_smiles, compound_id=compound
    )


async def profile(
    ctx: Context, *, smiles: str | None = None, compound: str | None = None, model: str | None = None, top: int = 20
) -> CompoundProfile:
    """One compound (a SMILES or a library compound id) against every registered target, best first."""
    compound_smiles = await _smiles(ctx, smiles, compound)  # first: an unknown id costs no model lookup
    with blame("model"):
        resolved = await ctx.lookups.model(model or ctx.settings.default_model)
    with blame("smiles" if compound is None else "compound"):
        targets = await asyncio.to_thread(registered_targets, ctx.engine)
        (result,) = await aprofile_compounds(ctx.scorer, targets, [compound_smiles], resolved, top)
    return result.model_copy(update={"compound_id": compound})


async def _smiles(ctx: Context, smiles: str | None, compound: str | None) -> str:
    """The SMILES given, or that of the library compound ``compound`` (CompoundNotFound if none holds it)."""
    if (smiles is None) == (compound is None):
        raise InvalidInput("give the compound as `smiles` or `compound` (a library compound id), one of them")
    if compound is None:
        return smiles or ""
    artifacts = ArtifactStore.from_settings(ctx.settings)
    with blame("compound"):
        found = await asyncio.to_thread(find_compound, ctx.engine, artifacts, compound)
    return found.smiles


def _check_one_protein(target: str | None, sequence: str | None, where: str | None = None) -> None:
    """One protein, a registered target id or a sequence (``where``: the pair they are in)."""
    if (target is None) == (sequence is None):
        problem = InvalidInput("give the protein as `target` (a registered id) or `sequence`, one of them")
        raise _at(where, problem) if where is not None else problem
    if target is not None:
        with blame(f"{where}.target" if where is not None else "target"):
            check_target_id(target)


def _check_pair(index: int, pair: Mapping[str, str]) -> None:
    """A pair's shape: a SMILES and one protein (the scorer checks the SMILES and the sequence)."""
    where = f"pairs[{index}]"
    if not isinstance(pair.get("smiles"), str):
        raise _at(f"{where}.smiles", InvalidInput(f"{where}: give the compound's `smiles`"))
    _check_one_protein(pair.get("target"), pair.get("sequence"), where)


def _at(field: str, error: InvalidInput) -> InvalidInput:
    error.field = field  # type: ignore[attr-defined]
    return error
