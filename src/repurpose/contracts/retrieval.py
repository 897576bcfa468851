"""Retrieval figures at the boundaries: how a target's known actives rank among a library.

Computed by ``evaluation.retrieval_metrics`` and ``evaluation.retrieval``; stored with a model version,
shown in its card, compared by the retrieval promotion gate.
"""

from __future__ import annotations

from pydantic import Field

from repurpose.contracts.base import Contract

MAX_HELDOUT_BYTES = 64 * 2**20
"""The largest held-out set a retrieval evaluation reads."""


class TargetRetrieval(Contract):
    """How one target's actives rank among the library."""

    target: str
    actives: int
    decoys: int
    auroc: float
    ef1: float
    ef5: float
    bedroc: float


class RetrievalSummary(Contract):
    """Per-target figures and their unweighted means (each target counts once)."""

    targets: list[TargetRetrieval]
    mean_auroc: float
    mean_ef1: float
    mean_ef5: float
    mean_bedroc: float


class RetrievalResult(Contract):
    """A model's retrieval figures on one held-out set and decoy library (stored with a version)."""

    heldout: str = Field(description="The held-out set's name (its file name).")
    decoys: str = Field(description="The decoy library's name.")
    heldout_sha256: str | None = Field(
        None, description="The held-out set's content (its pairs, in any order); two results compare when it is equal."
    )
    decoys_sha256: str | None = Field(None, description="The decoys ranked (their ids and SMILES, in any order).")
    decoy_count: int
    decoys_dropped: int = Field(0, description="Decoy compounds no model can read, left out.")
    actives: int
    summary: RetrievalSummary
    novel: RetrievalSummary | None = Field(
        None, description="The same with only the novel-chemotype actives (targets with at least one)."
    )
    novel_actives: int = 0
    unscored: int = Field(0, description="Compounds the model could not score (ranked last).")

    @property
    def evaluation_set(self) -> tuple[str, str, str]:
        """What the figures were measured on: the held-out set and decoys by content where the result
        records it, else by name. Results with equal keys compare (the retrieval gate) and replace
        each other (a version keeps one per set); two different files both named heldout.csv do not."""
        if self.heldout_sha256 is not None and self.decoys_sha256 is not None:
            return ("content", self.heldout_sha256, self.decoys_sha256)
        return ("name", self.heldout, self.decoys)
