"""Live quality at the boundaries: measured outcomes (feedback) in, a model version's live figures out.

A scientist who measured some pairs (an assay said 0 or 1) sends them as feedback; each pair is
scored with the model version named (default: the name's production version, else its latest),
and the label with the score is kept. From the outcomes of a version come its live AUROC, its
Brier score and reliability bins (``LiveQuality``), beside the AUROC the registry holds for it
(its validation AUROC) and the drop from it.

A batch is kept once: its id (given, or the sha256 of its model, version and rows) makes the same
outcomes sent twice count once.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from repurpose.contracts.base import Contract

MAX_FEEDBACK_PAIRS = 100_000
"""Outcomes one request may carry (a file is refused beyond, as too large)."""
BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
RELIABILITY_BINS = 10


class Outcome(Contract):
    """One measured pair: a compound, its protein (a registered target id or a sequence), the label."""

    model_config = ConfigDict(extra="forbid")

    smiles: str = Field(min_length=1, max_length=5_000)
    target: str | None = Field(default=None, description="A registered target id (or give `sequence`).")
    sequence: str | None = Field(default=None, description="The protein's sequence (or give `target`).")
    label: Literal[0, 1] = Field(description="The measured outcome: 1 interacts, 0 does not.")


class ReliabilityBin(Contract):
    """Outcomes whose score fell in ``[lower, upper)`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None = Field(description="The bin's mean score (None: an empty bin).")
    observed_rate: float | None = Field(description="The bin's share of positive outcomes (None: an empty bin).")


class LiveQuality(Contract):
    """A model version's quality on the outcomes measured after it scored them."""

    model: str
    version: int
    outcomes: int
    positives: int
    auroc: float | None = Field(description="None: the outcomes hold one class only.")
    brier: float | None = Field(description="Mean squared difference of score and outcome (None: no outcomes).")
    bins: list[ReliabilityBin] = Field(description=f"{RELIABILITY_BINS} equal-width score bins on [0, 1].")
    reference_auroc: float | None = Field(description="The registry's AUROC of the version (its validation pairs).")
    auroc_drop: float | None = Field(description="reference_auroc - auroc (positive: worse live than on validation).")
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None


class ModelQuality(Contract):
    """Every version of a model name that has outcomes, oldest first."""

    model: str
    versions: list[LiveQuality]


class FeedbackReceipt(Contract):
    """What a feedback batch did."""

    model: str
    version: int
    batch_id: str
    outcomes: int = Field(description="Outcomes in the batch.")
    positives: int
    recorded: bool = Field(description="False: this batch was recorded before; nothing was counted again.")
    quality: LiveQuality = Field(description="The version's live quality with the batch.")
