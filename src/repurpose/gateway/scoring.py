"""Scoring for the gateway's callers: pairs named by target id or sequence, through the scorer.

Service functions (no HTTP here): a model reference is resolved (``Lookups.model``), registered
targets become their sequences with the target id as the scorer's cache key (so every pair with
a target reuses that target's tensors in the scorer replica), and the scorer does the rest.
"""

from __future__ import annotations

import asyncio

from repurpose.actors.compound_library import find_compound
from repurpose.contracts.scoring import CompoundProfile, ExplanationOut, PairToScore, Prediction
from repurpose.errors import NotFound
from repurpose.gateway.bodies import ExplainBody, PredictBody, ProfileBody
from repurpose.gateway.errors import blame
from repurpose.gateway.services import Services
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.scoring.client import resolve_explainer
from repurpose.scoring.profiling import aprofile_compounds


async def predict(*, services: Services, body: PredictBody) -> Prediction:
    with blame("model"):
        model = await services.lookups.model(body.model or services.settings.default_model)
    targets = [p.target for p in body.pairs if p.target is not None]
    try:
        sequences = await services.lookups.sequences(targets) if targets else {}
    except NotFound as error:  # name the pair whose target is unknown
        missing = getattr(error, "target_id", None)
        index = next((i for i, p in enumerate(body.pairs) if p.target == missing), None)
        if index is not None:
            error.field = f"pairs[{index}].target"  # type: ignore[attr-defined]
        raise
    pairs = [
        PairToScore(smiles=p.smiles, sequence=sequences[p.target], target_key=p.target)
        if p.target is not None
        else PairToScore(smiles=p.smiles, sequence=p.sequence or "")
        for p in body.pairs
    ]
    metrics = services.metrics
    metrics.predict_pairs.observe(len(pairs))
    with metrics.scorer_in_flight.track_inprogress(), blame("pairs"):
        scores = await services.scorer.predict(model, pairs)
    metrics.pairs_scored.labels("predict").inc(len(pairs))
    return Prediction(model=model.ref, threshold=model.threshold, scores=scores)


async def explain(*, services: Services, body: ExplainBody) -> ExplanationOut:
    smiles = await _smiles(services, body.smiles, body.compound)  # first: an unknown id costs no model lookup
    with blame("model"):  # without one named: a DrugBAN (explanations are its attention)
        model = await resolve_explainer(services.lookups.model, services.settings, body.model)
    sequence = await services.lookups.sequence(body.target) if body.target is not None else body.sequence or ""
    with services.metrics.scorer_in_flight.track_inprogress(), blame("smiles" if body.compound is None else "compound"):
        explanation = await services.scorer.explain(model, smiles, sequence, body.top)
    services.metrics.pairs_scored.labels("explain").inc()
    return ExplanationOut(
        **explanation.model_dump(), model=model.ref, target=body.target, smiles=smiles, compound_id=body.compound
    )


async def profile(*, services: Services, body: ProfileBody) -> CompoundProfile:
    smiles = await _smiles(services, body.smiles, body.compound)  # first: an unknown id costs no model lookup
    with blame("model"):
        model = await services.lookups.model(body.model or services.settings.default_model)
    with services.metrics.scorer_in_flight.track_inprogress(), blame("smiles" if body.compound is None else "compound"):
        (result,) = await aprofile_compounds(services.scorer, services.engine, [smiles], model, body.top)
    services.metrics.pairs_scored.labels("profile").inc(result.targets)
    return result.model_copy(update={"compound_id": body.compound})


async def _smiles(services: Services, smiles: str | None, compound: str | None) -> str:
    """The SMILES a body gives, or that of its library compound id (CompoundNotFound: 404)."""
    if compound is None:
        return smiles or ""
    artifacts = ArtifactStore.from_settings(services.settings)
    with blame("compound"):
        found = await asyncio.to_thread(find_compound, services.engine, artifacts, compound)
    return found.smiles
