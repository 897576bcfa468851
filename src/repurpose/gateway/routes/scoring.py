"""``/v1/predict``, ``/v1/explain``, ``/v1/profile``: questions to the scorer (every role may ask)."""

from __future__ import annotations

from fastapi import APIRouter

import repurpose.gateway.scoring as scoring
from repurpose.contracts.scoring import CompoundProfile, ExplanationOut, Prediction
from repurpose.gateway.bodies import ExplainBody, PredictBody, ProfileBody
from repurpose.gateway.deps import Scoring, ServicesDep
from repurpose.gateway.errors import responses

router = APIRouter(prefix="/v1", tags=["scoring"], responses=responses(401, 403, 404, 413, 422, 429, 503))


@router.post("/predict")
async def predict(services: ServicesDep, _: Scoring, body: PredictBody) -> Prediction:
    """Interaction probabilities of 1 to 1,000 (compound, protein) pairs; a protein is a registered
    target id or a sequence. Single pairs are batched with other callers' in the scorer."""
    return await scoring.predict(services=services, body=body)


@router.post("/explain")
async def explain(services: ServicesDep, _: Scoring, body: ExplainBody) -> ExplanationOut:
    """The atoms and residue windows DrugBAN's attention weighs most for one pair; the compound is a
    SMILES or a compound id of a registered library (404 if no library holds it)."""
    return await scoring.explain(services=services, body=body)


@router.post("/profile")
async def profile(services: ServicesDep, _: Scoring, body: ProfileBody) -> CompoundProfile:
    """One compound against every registered target, best first: which proteins might it act on?
    The compound is a SMILES or a compound id of a registered library (404 if no library holds it)."""
    return await scoring.profile(services=services, body=body)
