"""``/v1/predict``, ``/v1/explain``, ``/v1/profile``: questions to the scorer (every role may ask)."""

from __future__ import annotations

from fastapi import APIRouter

from repurpose.contracts.scoring import CompoundProfile, ExplanationOut, Prediction
from repurpose.gateway.bodies import ExplainBody, PredictBody, ProfileBody
from repurpose.gateway.deps import Scoring, ServicesDep
from repurpose.gateway.errors import responses
from repurpose.services import scoring as service

router = APIRouter(prefix="/v1", tags=["scoring"], responses=responses(401, 403, 404, 413, 422, 429, 503))


@router.post("/predict")
async def predict(services: ServicesDep, _: Scoring, body: PredictBody) -> Prediction:
    """Interaction probabilities of 1 to 1,000 (compound, protein) pairs; a protein is a registered
    target id or a sequence. Single pairs are batched with other callers' in the scorer."""
    metrics = services.metrics
    pairs = [pair.model_dump(exclude_none=True) for pair in body.pairs]
    with metrics.scorer_in_flight.track_inprogress():
        prediction = await service.predict(services, pairs=pairs, model=body.model)
    metrics.predict_pairs.observe(len(prediction.scores))  # answered requests only, as before
    metrics.pairs_scored.labels("predict").inc(len(prediction.scores))
    return prediction


@router.post("/explain")
async def explain(services: ServicesDep, _: Scoring, body: ExplainBody) -> ExplanationOut:
    """The atoms and residue windows DrugBAN's attention weighs most for one pair; the compound is a
    SMILES or a compound id of a registered library (404 if no library holds it)."""
    with services.metrics.scorer_in_flight.track_inprogress():
        explanation = await service.explain(
            services,
            smiles=body.smiles,
            compound=body.compound,
            target=body.target,
            sequence=body.sequence,
            model=body.model,
            top=body.top,
        )
    services.metrics.pairs_scored.labels("explain").inc()
    return explanation


@router.post("/profile")
async def profile(services: ServicesDep, _: Scoring, body: ProfileBody) -> CompoundProfile:
    """One compound against every registered target, best first: which proteins might it act on?
    The compound is a SMILES or a compound id of a registered library (404 if no library holds it)."""
    with services.metrics.scorer_in_flight.track_inprogress():
        result = await service.profile(
            services, smiles=body.smiles, compound=body.compound, model=body.model, top=body.top
        )
    services.metrics.pairs_scored.labels("profile").inc(result.targets)
    return result
