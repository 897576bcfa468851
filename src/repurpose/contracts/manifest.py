"""A model directory's manifest: what a trained model is, recorded beside its weights.

``manifest.json`` holds the model type, the decision threshold, the training config, hashes of the
training and validation data, the validation metrics, and per type what scoring needs besides the
weights: a knn model's aggregate (``KnnSettings``), an ensemble's members and weights
(``EnsembleStack``). ``repurpose.model.directory`` writes and loads the directories;
``repurpose.model.ensemble`` fits and applies a stack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from repurpose import __version__
from repurpose.contracts.base import Contract
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.training import MemberType, ModelType, TrainingConfig

FORMAT_VERSION = 1
MEMBERS_DIR = "members"

Aggregate = Literal["max", "topk"]
"""How a knn model scores a compound: its nearest binder's Tanimoto, or the mean of the k nearest."""
Feature = Literal["logit", "score"]
"""What enters an ensemble's stack of a member: its score's logit, or the score itself (knn)."""


class KnnSettings(Contract):
    """How a knn model scores (recorded in its manifest) and what it was chosen from."""

    aggregate: Aggregate
    k: int = Field(ge=1, description="Binders averaged for 'topk' (1 for 'max').")
    proteins: int = Field(description="Proteins with at least one known binder.")
    binders: int = Field(description="(protein, compound) binder entries.")
    val_auroc: dict[str, float] = Field(
        default_factory=dict, description="Validation AUROC of every candidate aggregate ('max', 'top3', …)."
    )


def member_path(model_type: MemberType) -> str:
    """Where a member's model directory lies inside the ensemble's."""
    return f"{MEMBERS_DIR}/{model_type}"


def member_feature(model_type: MemberType) -> Feature:
    return "score" if model_type == "knn" else "logit"


class StackMember(Contract):
    model_type: MemberType
    path: str = Field(
        pattern=rf"^{MEMBERS_DIR}/(drugban|rf|xgb|knn)$", description="Its model directory, inside the ensemble's."
    )
    feature: Feature = Field(description="What enters the stack: the score's logit, or the score itself (knn).")
    weight: float
    val_auroc: float = Field(description="The member alone, on the validation pairs.")

    @model_validator(mode="after")
    def _path_names_type(self) -> StackMember:
        if self.path != member_path(self.model_type):
            raise ValueError(f"a {self.model_type} member lies in {member_path(self.model_type)}, not {self.path}")
        return self


class EnsembleStack(Contract):
    """The members and their weights (recorded in the ensemble's manifest)."""

    members: list[StackMember] = Field(min_length=2)
    intercept: float

    @property
    def member_types(self) -> list[MemberType]:
        return [m.model_type for m in self.members]


class Manifest(Contract):
    format_version: int = FORMAT_VERSION
    model_type: ModelType
    threshold: float
    training: TrainingConfig
    train_data_sha256: str
    val_data_sha256: str
    train_pairs: int
    val_pairs: int
    best_epoch: int | None = None
    val_metrics: BinaryMetrics
    knn: KnnSettings | None = None  # knn only: its aggregate, chosen on validation
    ensemble: EnsembleStack | None = None  # ensemble only: its members and their weights
    created_at: str
    repurpose_version: str = __version__
