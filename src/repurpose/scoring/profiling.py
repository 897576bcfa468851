"""Target profiling: one compound (or a few) against every registered target, ranked.

The caller reads the registered targets' sequences from the store in one query
(``actors.target_protein.registered_targets``) and passes them; each compound
goes to the scorer as one request: with every target's tensors in the replica's profile slab
(``scoring.target_slab``), scoring a compound against all of them is one pass over it
(``FastScorer.profile_rows``).

Every row carries its evidence: the target's nearest binder in the model's training data and
the compound's applicability domain (from the scorer, which holds the model's training data),
and whether the compound is a drug-like hit at all (``data.drug_likeness``; the same on every row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repurpose.contracts.scoring import CompoundProfile, ProfileHit, ProfileRequest, ResolvedModel
from repurpose.data.drug_graph import canonical_smiles
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.errors import InvalidInput, RepurposeError
from repurpose.scoring.client import ScorerClient

MAX_COMPOUNDS = 20


async def aprofile_compounds(
    scorer: ScorerClient,
    targets: Sequence[tuple[str, str, str | None]],
    smiles: list[str],
    model: ResolvedModel,
    top: int = 20,
) -> list[CompoundProfile]:
    """Each compound's ``top`` targets by probability (InvalidInput for a bad SMILES or no targets).
    ``targets``: (target id, sequence, name) of every registered target (``registered_targets``)."""
    if not 1 <= len(smiles) <= MAX_COMPOUNDS:
        raise InvalidInput(f"profile 1 to {MAX_COMPOUNDS} compounds at a time, not {len(smiles)}")
    if not 1 <= top <= 10_000:
        raise InvalidInput(f"top must be 1 to 10000, not {top}")
    canonical = []
    for i, text in enumerate(smiles):
        try:
            canonical.append(canonical_smiles(text))
        except RepurposeError as error:
            raise InvalidInput(f"compound {i + 1}: {error.message}") from None
    if not targets:
        raise InvalidInput("no targets are registered: add some with `repurpose targets add` first")
    results = []
    for text in canonical:
        answer = await scorer.profile(
            ProfileRequest(model=model, smiles=text, targets=[(tid, seq) for tid, seq, _ in targets])
        )
        scores = np.asarray(answer.scores)
        order = np.argsort(-scores, kind="stable")[:top]
        issue = drug_like_issue(text)
        evidence = answer.evidence
        results.append(
            CompoundProfile(
                smiles=text,
                model=model.ref,
                targets=len(targets),
                interacting=int((scores >= model.threshold).sum()),
                hits=[
                    ProfileHit(
                        target_id=targets[i][0],
                        name=targets[i][2],
                        probability=float(scores[i]),
                        interacts=bool(scores[i] >= model.threshold),
                        drug_like=issue is None,
                        drug_like_issue=issue,
                        **(evidence[i].model_dump() if evidence is not None else {}),
                    )
                    for i in order
                ],
                seconds=answer.seconds,
            )
        )
    return results
