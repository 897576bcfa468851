"""What live traffic looked like, kept small and mergeable: the unit a Monitor grain is fed.

The scorer sketches the pairs it scores (``TrafficSketch.add``, batch by batch) and flushes the
sketches to the model's Monitor grain, which merges them into its windows. A sketch holds:

- per feature of ``PROFILE_FEATURES`` (the compound descriptors and the protein's length): the
  counts on the reference's fixed edges (the bins of the training dataset's descriptor
  profile, binned by the same rule: ``data.descriptors.bin_counts``) and the exact count and
  sum (so the mean);
- the scores: counts on 20 equal bins of [0, 1], count and sum;
- a uniform sample of the pairs (``Reservoir``, at most ``RESERVOIR_SIZE``): each kept pair's
  feature values and score, for the two-sample statistics;
- the applicability domain: how many pairs had an in-domain flag, how many of those were out of
  the domain (no training compound within the model's Tanimoto threshold), and the histogram of
  the maximum Tanimoto to the training compounds on 20 equal bins of [0, 1].

Non-finite values (a descriptor RDKit could not compute, a missing Tanimoto) are left out of a
feature's figures, and a pair holding one out of the sample; ``n`` counts the pairs. Sketches
merge when they were binned on the same edges. The sample draws its keys from a generator
seeded by ``seed`` and the sketch's position in its stream: the same seed and batches give the
same sketch, and sketches of different seeds draw independent keys, as merging needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, model_validator

from repurpose.data.descriptors import COMPOUND_DESCRIPTORS, PROFILE_FEATURES, bin_counts
from repurpose.errors import InvalidInput
from repurpose.monitoring.reservoir import Reservoir

if TYPE_CHECKING:
    import pandas as pd

RESERVOIR_SIZE = 1_000
SCORE = "score"
SAMPLE_COLUMNS = (*PROFILE_FEATURES, SCORE)
UNIT_BINS = 20
UNIT_EDGES: tuple[float, ...] = tuple(i / UNIT_BINS for i in range(1, UNIT_BINS))
"""The 19 inner edges of 20 equal bins on [0, 1] (scores, Tanimoto): right-closed, open outer ends."""


class Binned(BaseModel):
    """One stream of numbers on fixed edges: counts per bin, and the exact count and sum."""

    edges: list[float]
    counts: list[int]
    total: float = Field(default=0.0, description="The sum of the values: their mean is total / n.")

    @model_validator(mode="after")
    def _a_count_per_bin(self) -> Binned:
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges make {len(self.edges) + 1} bins, not {len(self.counts)}")
        return self

    @classmethod
    def empty(cls, edges: Sequence[float]) -> Binned:
        return cls(edges=list(edges), counts=[0] * (len(edges) + 1))

    @property
    def n(self) -> int:
        return sum(self.counts)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def add(self, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        self.counts = [a + b for a, b in zip(self.counts, bin_counts(finite, self.edges), strict=True)]
        self.total += float(finite.sum())

    @classmethod
    def combine(cls, parts: Sequence[Binned]) -> Binned:
        edges = parts[0].edges
        if any(p.edges != edges for p in parts):
            raise InvalidInput("sketches binned on different edges cannot be merged: sketch with the monitor's edges")
        return cls(
            edges=list(edges),
            counts=[sum(column) for column in zip(*(p.counts for p in parts), strict=True)],
            total=sum(p.total for p in parts),
        )


class TrafficSketch(BaseModel):
    """Scored pairs in summary: per-feature histograms, scores, a sample of pairs, the domain."""

    n: int = Field(default=0, ge=0, description="Pairs added.")
    seed: int = Field(default=0, ge=0)
    features: dict[str, Binned]
    scores: Binned
    sample: Reservoir = Field(description="A uniform sample of the pairs: their feature values and score.")
    max_training_tanimoto: Binned = Field(description="The pairs whose maximum Tanimoto was known.")
    domain_known: int = Field(default=0, ge=0, description="Pairs with an in-domain flag.")
    out_of_domain: int = Field(default=0, ge=0, description="Pairs flagged out of the model's domain.")

    @model_validator(mode="after")
    def _every_feature_and_column(self) -> TrafficSketch:
        if set(self.features) != set(PROFILE_FEATURES) or set(self.sample.columns) != set(SAMPLE_COLUMNS):
            raise ValueError(
                f"a sketch has the features {', '.join(PROFILE_FEATURES)} and a sample of them and the score"
            )
        # in their own order again: a store may keep JSON objects' keys in another (PostgreSQL's JSONB does)
        self.features = {name: self.features[name] for name in PROFILE_FEATURES}
        self.sample.columns = {name: self.sample.columns[name] for name in SAMPLE_COLUMNS}
        return self

    @classmethod
    def empty(
        cls, edges: Mapping[str, Sequence[float]], *, capacity: int = RESERVOIR_SIZE, seed: int | None = None
    ) -> TrafficSketch:
        """A sketch with nothing in it, binning each feature on ``edges[feature]`` (the reference's
        edges; a feature left out gets one bin, as with no reference). Without a ``seed`` it draws
        one: sketches merged later must not share their samples' keys."""
        unknown = sorted(set(edges) - set(PROFILE_FEATURES))
        if unknown:
            raise InvalidInput(f"no feature {', '.join(unknown)}: the features are {', '.join(PROFILE_FEATURES)}")
        for name, feature_edges in edges.items():
            array = np.asarray(feature_edges, dtype=np.float64)
            if not (np.isfinite(array).all() and (np.diff(array) > 0).all()):
                raise InvalidInput(f"the edges of {name} must be finite and increasing")
        return cls(
            seed=secrets.randbits(63) if seed is None else seed,
            features={name: Binned.empty(edges.get(name, ())) for name in PROFILE_FEATURES},
            scores=Binned.empty(UNIT_EDGES),
            sample=Reservoir.empty(SAMPLE_COLUMNS, capacity),
            max_training_tanimoto=Binned.empty(UNIT_EDGES),
        )

    def edges(self) -> dict[str, list[float]]:
        """The edges each feature is binned on."""
        return {name: list(binned.edges) for name, binned in self.features.items()}

    def add(
        self,
        descriptors: pd.DataFrame,
        protein_lengths: Sequence[int],
        scores: Sequence[float],
        max_training_tanimoto: Sequence[float | None],
        in_domain: Sequence[bool | None],
    ) -> None:
        """Add a batch of scored pairs: one row of ``COMPOUND_DESCRIPTORS`` per pair (as
        ``data.descriptors.describe_compounds`` gives), and per pair the protein's length, the score,
        the compound's maximum Tanimoto to the training compounds and its in-domain flag (None:
        unknown, e.g. a model without training evidence)."""
        count = len(scores)
        lengths = {
            "descriptors": len(descriptors),
            "protein_lengths": len(protein_lengths),
            "max_training_tanimoto": len(max_training_tanimoto),
            "in_domain": len(in_domain),
        }
        uneven = [f"{name} has {length}" for name, length in lengths.items() if length != count]
        if uneven:
            raise InvalidInput(f"a batch has one entry per pair: {count} scores, but {'; '.join(uneven)}")
        missing = [c for c in COMPOUND_DESCRIPTORS if c not in descriptors.columns]
        if missing:
            raise InvalidInput(f"the descriptors lack the column(s) {', '.join(missing)}")
        if count == 0:
            return
        rows = {name: descriptors[name].to_numpy(dtype=np.float64) for name in COMPOUND_DESCRIPTORS}
        rows["protein_length"] = np.asarray(protein_lengths, dtype=np.float64)
        rows[SCORE] = np.asarray(scores, dtype=np.float64)
        for name in PROFILE_FEATURES:
            self.features[name].add(rows[name])
        self.scores.add(rows[SCORE])
        self.sample.add(rows, np.random.default_rng([self.seed, self.n]))
        self.max_training_tanimoto.add(
            np.asarray([np.nan if t is None else t for t in max_training_tanimoto], dtype=np.float64)
        )
        self.domain_known += sum(flag is not None for flag in in_domain)
        self.out_of_domain += sum(flag is False for flag in in_domain)
        self.n += count

    def merge(self, other: TrafficSketch, *, capacity: int | None = None) -> TrafficSketch:
        """A new sketch of both (a sample of at most ``capacity`` pairs: default, the larger capacity)."""
        if capacity is None:
            capacity = max(self.sample.capacity, other.sample.capacity)
        return TrafficSketch.combine([self, other], capacity=capacity)

    def resized(self, capacity: int) -> TrafficSketch:
        """The same sketch with a sample of at most ``capacity`` pairs."""
        return TrafficSketch.combine([self], capacity=capacity)

    @classmethod
    def combine(cls, sketches: Sequence[TrafficSketch], *, capacity: int) -> TrafficSketch:
        """One sketch of all of them (binned on the same edges), with a sample of at most ``capacity`` pairs."""
        if not sketches:
            raise InvalidInput("no sketches to merge")
        first = sketches[0]
        return cls(
            n=sum(s.n for s in sketches),
            seed=first.seed,
            features={name: Binned.combine([s.features[name] for s in sketches]) for name in first.features},
            scores=Binned.combine([s.scores for s in sketches]),
            sample=Reservoir.combine([s.sample for s in sketches], capacity),
            max_training_tanimoto=Binned.combine([s.max_training_tanimoto for s in sketches]),
            domain_known=sum(s.domain_known for s in sketches),
            out_of_domain=sum(s.out_of_domain for s in sketches),
        )
