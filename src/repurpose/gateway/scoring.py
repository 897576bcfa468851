"""Scoring for the gateway's callers: pairs named by target id or sequence, through the scorer.

Service functions (no HTTP here): a model reference is resolved (``Lookups.model``), registered
targets become their sequences with the target id as the scorer's cache key (so every pair with
a target reuses that target's tensors in the scorer replica), and the scorer does the rest.
"""

from __future__ import annotations

from repurpose.contracts.scoring import CompoundProfile, PairToScore
from repurpose.errors import NotFound
from repurpose.gateway.bodies import ExplainBody, ExplanationOut, PredictBody, Prediction, ProfileBody
from repurpose.gateway.errors import blame
from repurpose.gateway.services import Services
from repurpose.target_profiling import aprofile_compounds


async def predict(*, services: Services, body: PredictBody) -> Prediction:
    with blame("model"):
        model = await services.lookups.model(body.model)
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
    with blame("model"):
        model = await services.lookups.model(body.model)
    sequence = await services.lookups.sequence(body.target) if body.target is not None else body.sequence or ""
    with services.metrics.scorer_in_flight.track_inprogress():
        explanation = await services.scorer.explain(model, body.smiles, sequence, body.top)
    services.metrics.pairs_scored.labels("explain").inc()
    return ExplanationOut(**explanation.model_dump(), model=model.ref, target=body.target)


async def profile(*, services: Services, body: ProfileBody) -> CompoundProfile:
    with blame("model"):
        model = await services.lookups.model(body.model)
    with services.metrics.scorer_in_flight.track_inprogress(), blame("smiles"):
        (result,) = await aprofile_compounds(services.scorer, services.engine, [body.smiles], model, body.top)
    services.metrics.pairs_scored.labels("profile").inc(result.targets)
    return result
