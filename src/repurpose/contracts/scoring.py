"""Scoring at the boundaries: what the scorer is asked and what it answers.

A model reference names a registered model version: ``drugban-human`` (its production
version), ``drugban-human@3`` or ``drugban-human@staging`` (any stage, or ``latest``).

A screening chunk (``ChunkRequest``) may arrive featurised: the screening runner turns the SMILES
into ``DrugGraph``s (RDKit's work) while the scorer computes the previous chunk, and sends the
graphs with the SMILES (``graphs``). Serve pickles the request: the graphs are plain dataclasses
of numpy arrays, so they travel as out-of-band buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, model_validator

MAX_CHUNK = 10_000
MAX_PREDICT_PAIRS = 1_000


class ResolvedModel(BaseModel):
    """A model reference resolved by the registry: what the scorer loads."""

    name: str
    version: int
    model_type: str
    artifact_path: str
    threshold: float

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class CompoundError(BaseModel):
    """A compound the scorer could not featurise: its position in the request and why."""

    index: int
    smiles: str
    reason: str


class ChunkRequest(BaseModel):
    """A chunk of a library against one target (the bulk lane).

    ``graphs``, when given, holds per compound its ``repurpose.drug_graph.DrugGraph`` (or None
    where the caller could not featurise it: its score is None and the caller reports why); a
    DrugBAN model then scores the graphs without featurising. Baseline models read the SMILES."""

    model: ResolvedModel
    target_key: str = Field(description="Caches the target's tensors: a target id, or the sequence's hash.")
    sequence: str
    smiles: list[str] = Field(max_length=MAX_CHUNK, description="The compounds, in order (featurised or not).")
    graphs: list[Any] | None = Field(
        default=None, description="Per compound a DrugGraph, or None where featurisation failed; None: not featurised."
    )

    @model_validator(mode="after")
    def _graphs_match(self) -> ChunkRequest:
        if self.graphs is not None:
            from repurpose.drug_graph import DrugGraph  # RDKit: only where graphs are made or read

            if len(self.graphs) != len(self.smiles):
                raise ValueError(f"{len(self.graphs)} graphs for {len(self.smiles)} SMILES")
            if not all(g is None or isinstance(g, DrugGraph) for g in self.graphs):
                raise ValueError("graphs holds a DrugGraph or None per compound")
        return self


class ChunkScores(BaseModel):
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


class PairToScore(BaseModel):
    smiles: str
    sequence: str
    target_key: str | None = Field(default=None, description="Set when the protein is a registered target.")


class PairScore(BaseModel):
    probability: float
    interacts: bool = Field(description="probability >= the model's threshold.")


class ProfileRequest(BaseModel):
    """One compound against many targets (the repurposing question)."""

    model: ResolvedModel
    smiles: str
    targets: list[tuple[str, str]] = Field(description="(target key, sequence) pairs.")


class ProfileScores(BaseModel):
    scores: list[float] = Field(description="Per target, in the request's order.")
    seconds: float
    targets_computed: int = Field(description="Targets whose tensors were not cached and were computed now.")


class ProfileHit(BaseModel):
    target_id: str
    name: str | None = None
    probability: float
    interacts: bool = Field(description="probability >= the model's threshold.")


class CompoundProfile(BaseModel):
    """One compound against every registered target, ranked: the repurposing question."""

    smiles: str
    compound_id: str | None = Field(default=None, description="Its library compound id, when it was named by one.")
    model: str = Field(description="The model version that scored: name@version.")
    targets: int = Field(description="Targets scored.")
    interacting: int = Field(description="Targets at or above the model's threshold.")
    hits: list[ProfileHit] = Field(description="The best targets, highest probability first.")
    seconds: float
