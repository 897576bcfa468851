"""What travels between a screening job's grain and its attempts in the screening runner.

The grain starts an attempt with a ``ScreeningTask`` (everything the attempt needs, the target
sequences included: the runner asks no grain for them); the attempt reports each stored chunk
to the grain it names (``job_kind``, ``job_id``) as a ``ChunkReport`` and ends with a
``ScreenOutcome``.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from repurpose.contracts.scoring import ResolvedModel
from repurpose.contracts.screening import RankedHit, ScreenFailure
from repurpose.grains import KindRef
from repurpose.settings import Settings


def chunk_count(compounds: int, chunk_size: int) -> int:
    return math.ceil(compounds / chunk_size)


class ScreeningTask(BaseModel):
    """Everything an attempt needs; it travels to the runner when the grain starts the attempt."""

    job_kind: KindRef = Field(description="The grain kind of the job: chunks are reported to (job_kind, job_id).")
    job_id: str
    attempt: int
    compounds_path: str
    compounds: int
    targets: list[str]
    sequences: dict[str, str] = Field(description="Each target's protein sequence.")
    model: ResolvedModel
    chunk_size: int
    kept_top: int = Field(description="Best hits per chunk sent to the grain.")
    drug_like_only: bool = Field(default=False, description="Hits are drug-like compounds only.")
    skip: dict[str, list[int]] = Field(default_factory=dict, description="Chunks recorded already, per target.")
    settings: Settings
    trace: dict[str, str] = Field(
        default_factory=dict, description="The trace context (W3C) of the turn that started the attempt."
    )

    @property
    def chunks(self) -> int:
        return chunk_count(self.compounds, self.chunk_size)


class ChunkReport(BaseModel):
    """One finished (and stored) chunk, as the runner reports it to the grain."""

    target_id: str
    chunk: int
    compounds: int
    hits: list[RankedHit] = Field(description="The chunk's best ``kept_top`` (ranks within the chunk).")
    failures: list[ScreenFailure] = Field(default_factory=list)
    scorer_seconds: float


class ScreenOutcome(BaseModel):
    """What an attempt hands back when it ends without an error."""

    stopped: bool = Field(default=False, description="Told to stop (stale attempt, cancelled job) or cancelled.")
    chunks_scored: int = 0
    results_path: str | None = None
    rows: int = 0
