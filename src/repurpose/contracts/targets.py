"""Target proteins at the boundaries: registration, details, screening history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

TargetIdKind = Literal["uniprot", "gene", "sequence"]

MAX_HITS_PER_SCREENING = 20
"""Best hits kept per screening in a target's history (a job's full results are its own artifact)."""


class ScreeningHit(BaseModel):
    smiles: str
    score: float = Field(description="The model's interaction probability, 0 to 1.")
    compound_id: str | None = Field(default=None, description="The library's id of the compound, if it has one.")


class ScreeningRecord(BaseModel):
    """One screening of a library against a target, as its history keeps it."""

    job_id: str = Field(min_length=1, max_length=200)
    model_name: str = Field(min_length=1, max_length=200)
    model_version: int | None = Field(default=None, ge=1)
    screened_at: dt.datetime
    library: str | None = Field(default=None, max_length=500, description="The library's name or source.")
    compounds_scored: int = Field(default=0, ge=0)
    best_hits: list[ScreeningHit] = Field(
        default_factory=list, description=f"Highest scores first, at most {MAX_HITS_PER_SCREENING} kept."
    )

    @property
    def model_ref(self) -> str:
        return self.model_name if self.model_version is None else f"{self.model_name}@{self.model_version}"


class TargetSummary(BaseModel):
    target_id: str
    id_kind: TargetIdKind
    name: str | None
    organism: str | None
    length: int = Field(description="Residues.")
    registered_at: dt.datetime
    screenings: int = Field(description="Screenings in the history.")
    aliases: list[str] = Field(
        default_factory=list, description="Ids registered later with the same sequence; each names this target."
    )


class TargetDetail(TargetSummary):
    sequence: str
    sequence_sha256: str
    history: list[ScreeningRecord] = Field(description="Screenings, most recent first.")
    best_hits: list[ScreeningHit] = Field(description="The best hit per compound over the whole history, best first.")


class TargetRegistration(TargetDetail):
    created: bool = Field(description="True if this call registered the target; False if it was already there.")
    alias: str | None = Field(
        default=None,
        description="The id this call sent, when its sequence is registered already under target_id: "
        "that id is an alias of target_id (nothing new is registered).",
    )
