"""The scorer's bulk lane: what a screening chunk asks it (``ChunkRequest``).

A chunk may arrive featurised: the screening runner turns the SMILES into ``DrugGraph``s
(RDKit's work) while the scorer computes the previous chunk, and sends the graphs with the
SMILES (``graphs``). Serve pickles the request: the graphs are plain dataclasses of numpy
arrays, so they travel as out-of-band buffers. The answer, ``ChunkScores``, is in
``repurpose.contracts.scoring``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from repurpose.contracts.scoring import MAX_CHUNK, ResolvedModel


class ChunkRequest(BaseModel):
    """A chunk of a library against one target (the bulk lane).

    ``graphs``, when given, holds per compound its ``repurpose.data.drug_graph.DrugGraph`` (or None
    where the caller could not featurise it: its score is None and the caller reports why); a
    DrugBAN model then scores the graphs without featurising. Baseline models read the SMILES."""

    model: ResolvedModel
    target_key: str = Field(description="Caches the target's tensors: a target id, or the sequence's hash.")
    sequence: str
    smiles: list[str] = Field(max_length=MAX_CHUNK, description="The compounds, in order (featurised or not).")
    graphs: list[Any] | None = Field(
        default=None, description="Per compound a DrugGraph, or None where featurisation failed; None: not featurised."
    )
    job_id: str | None = Field(
        default=None, description="The screening job the chunk is part of: its pairs are monitored under it."
    )
    reuse_states: bool = Field(
        default=False,
        description="Keep the compounds' GCN states for the same chunk against the job's next target "
        "(a screen of several targets: the GCN runs once per compound, not once per target).",
    )

    @model_validator(mode="after")
    def _graphs_match(self) -> ChunkRequest:
        if self.graphs is not None:
            from repurpose.data.drug_graph import DrugGraph  # RDKit: only where graphs are made or read

            if len(self.graphs) != len(self.smiles):
                raise ValueError(f"{len(self.graphs)} graphs for {len(self.smiles)} SMILES")
            if not all(g is None or isinstance(g, DrugGraph) for g in self.graphs):
                raise ValueError("graphs holds a DrugGraph or None per compound")
        return self
