"""Scoring at the boundaries: what the scorer is asked and what it answers.

A model reference names a registered model version: ``drugban-human`` (its production
version), ``drugban-human@3`` or ``drugban-human@staging`` (any stage, or ``latest``).

Evidence (``BinderEvidence``, ``HitEvidence``) travels with every screening hit and profile row:
what the model's training data says about the compound (the target's nearest known binder, the
applicability domain) and whether it is a drug-like hit at all (``repurpose.data.drug_likeness``).

An ``Explanation`` (``repurpose.model.explanations``) says which atoms and residues DrugBAN's attention
weighs most for one pair; a ``Prediction`` is the gateway's answer to a batch of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field

from repurpose.contracts.base import Contract

MAX_CHUNK = 10_000
MAX_PREDICT_PAIRS = 1_000
DOMAIN_THRESHOLD = 0.3
"""ECFP4 Tanimoto to the nearest training compound below which a compound is out of the model's
applicability domain. Random pairs of drugs sit below it: among the 4,318 DrugBank compounds of
data/library, the median pair has 0.09, the 99th percentile 0.24, and 99.6 % of the 9.3 million
pairs are below 0.3; a compound no closer than that to anything the model learnt from is as far
from its training data as two unrelated drugs are, and its score is an extrapolation."""


class ResolvedModel(Contract):
    """A model reference resolved by the registry: what the scorer loads."""

    name: str
    version: int
    model_type: str
    artifact_path: str
    threshold: float
    members: list[str] = Field(default_factory=list, description="An ensemble's member model types.")

    @property
    def reads_graphs(self) -> bool:
        """Whether a DrugBAN (the model or an ensemble's member) scores it: screens featurise its compounds."""
        return "drugban" in (self.model_type, *self.members)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class CompoundError(Contract):
    """A compound the scorer could not featurise: its position in the request and why."""

    index: int
    smiles: str
    reason: str


class ChunkScores(Contract):
    scores: list[float | None] = Field(description="Per compound, in order; None where featurisation failed.")
    failures: list[CompoundError] = Field(default_factory=list)
    seconds: float = Field(description="Scoring time in the scorer (featurisation included unless graphs came).")


@dataclass
class ScorerStats:
    """What a scorer replica says about itself (here, not beside the replica's code: a caller
    that unpickles it imports no PyTorch)."""

    compounds: int
    compound_hits: int
    compound_misses: int
    targets: int
    target_bytes: int
    target_hits: int
    target_misses: int
    models: list[str]
    pairs_scored: int
    rss_bytes: int
    predict_batches: int = 0  # filled in by the Serve deployment
    largest_predict_batch: int = 0
    predict_batch_sizes: dict[int, int] = field(default_factory=dict)  # dynamic batch size -> batches formed
    replica: str = ""  # the Serve replica that answered
    compound_state_bytes: int = 0  # the loaded DrugBANs' kept GCN states (``model.compound_states``)
    compound_state_hits: int = 0
    compound_state_misses: int = 0


class PairToScore(Contract):
    smiles: str
    sequence: str
    target_key: str | None = Field(default=None, description="Set when the protein is a registered target.")


class PairScore(Contract):
    probability: float
    interacts: bool = Field(description="probability >= the model's threshold.")


# --- evidence --------------------------------------------------------------------------------------


class BinderEvidence(Contract):
    """What the model's training data says about a compound scored against a target. Fingerprints
    are ECFP4 (Morgan radius 2, 2048 bits); every field is None where the model directory keeps
    no training data (one written before evidence was recorded)."""

    nearest_binder_id: str | None = Field(
        default=None,
        description="The target's most similar known binder in the training data: its compound id, "
        "where the training data names compounds (else see nearest_binder_smiles).",
    )
    nearest_binder_smiles: str | None = Field(
        default=None, description="That binder's SMILES; None where the model saw no binder of the target."
    )
    nearest_binder_tanimoto: float | None = Field(
        default=None, description="ECFP4 Tanimoto of the compound to that binder, 0 to 1."
    )
    max_training_tanimoto: float | None = Field(
        default=None, description="ECFP4 Tanimoto to the most similar training compound (any target, either label)."
    )
    in_domain: bool | None = Field(
        default=None,
        description=f"max_training_tanimoto >= {DOMAIN_THRESHOLD}: the compound is in the model's applicability "
        "domain; False: it is as far from every training compound as random drug pairs are (the score extrapolates).",
    )


class HitEvidence(BinderEvidence):
    """A hit's evidence: the training data's (``BinderEvidence``) and whether it is drug-like."""

    drug_like: bool | None = Field(
        default=None,
        description="False for what no chemist would call a drug-like hit: a parent fragment with "
        "no carbon, a metal or metalloid, or fewer than 6 heavy atoms (repurpose.data.drug_likeness).",
    )
    drug_like_issue: str | None = Field(
        default=None, description="Why it is not drug-like ('no carbon (inorganic)', 'contains As', '3 heavy atoms')."
    )


class EvidenceRequest(Contract):
    """Compounds (a screen's best hits) against one target: their ``BinderEvidence`` (bulk lane)."""

    model: ResolvedModel
    sequence: str
    smiles: list[str] = Field(max_length=MAX_CHUNK)


class EvidenceAnswer(Contract):
    evidence: list[BinderEvidence] | None = Field(
        description="Per compound, in order; None: the model keeps no training data."
    )


class ProfileRequest(Contract):
    """One compound against many targets (the repurposing question)."""

    model: ResolvedModel
    smiles: str
    targets: list[tuple[str, str]] = Field(description="(target key, sequence) pairs.")


class ProfileScores(Contract):
    scores: list[float] = Field(description="Per target, in the request's order.")
    seconds: float
    targets_computed: int = Field(
        description="Targets the replica had not profiled with this model before (not in its profile slab): read "
        "from its memory cache or the artifact store, or computed now."
    )
    evidence: list[BinderEvidence] | None = Field(
        default=None, description="Per target, what the training data says; None: the model keeps no training data."
    )


class ProfileHit(HitEvidence):
    target_id: str
    name: str | None = None
    probability: float
    interacts: bool = Field(description="probability >= the model's threshold.")


class CompoundProfile(Contract):
    """One compound against every registered target, ranked: the repurposing question."""

    smiles: str
    compound_id: str | None = Field(default=None, description="Its library compound id, when it was named by one.")
    model: str = Field(description="The model version that scored: name@version.")
    targets: int = Field(description="Targets scored.")
    interacting: int = Field(description="Targets at or above the model's threshold.")
    hits: list[ProfileHit] = Field(description="The best targets, highest probability first.")
    seconds: float


# --- explanations and predictions ----------------------------------------------------------------


class AtomWeight(Contract):
    index: int = Field(description="RDKit atom index (0-based, heavy atoms in SMILES order).")
    symbol: str
    weight: float = Field(description="Share of the real atoms' total attention, 0 to 1.")


class ResidueWindow(Contract):
    start: int = Field(description="First residue of the window (1-based).")
    end: int = Field(description="Last residue (inclusive).")
    residues: str
    weight: float = Field(description="Share of the positions' total attention, 0 to 1.")


class Explanation(Contract):
    probability: float = Field(description="The reference forward's probability for the pair.")
    atoms: list[AtomWeight] = Field(description="Heaviest first.")
    residues: list[ResidueWindow] = Field(description="Heaviest first.")
    heads: int
    protein_positions: int


class ExplanationOut(Explanation):
    model: str = Field(description="The model version that explained: name@version.")
    target: str | None = None
    smiles: str | None = Field(default=None, description="The compound explained.")
    compound_id: str | None = Field(default=None, description="Its library compound id, when it was named by one.")


class Prediction(Contract):
    model: str = Field(description="The model version that scored: name@version.")
    threshold: float = Field(description="Its decision threshold: interacts = probability >= threshold.")
    scores: list[PairScore] = Field(description="One per pair, in the request's order.")
