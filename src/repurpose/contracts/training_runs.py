"""Training runs at the boundaries: what a run is asked to do, and what it reports back."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from repurpose.contracts.base import Contract
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.ids import DATASET_ID_PATTERN, MODEL_NAME_PATTERN, SPLIT_ID_PATTERN
from repurpose.contracts.splits import DEFAULT_SPLIT_ID, parse_split_id
from repurpose.contracts.training import (
    DEFAULT_SEED,
    DRUGBAN_DEFAULTS,
    EpochRecord,
    MemberType,
    ModelType,
    TrainingConfig,
    drugban_config,
    parse_members,
    training_config,
    unused_reason,
    used_settings,
)
from repurpose.errors import InvalidInput

RunStatus = Literal["running", "succeeded", "failed", "cancelled"]
FINISHED: tuple[RunStatus, ...] = ("succeeded", "failed", "cancelled")
MAX_SEED = 2**32 - 1  # what NumPy, scikit-learn and XGBoost take as a seed
# The settings some model types do not use (contracts.training.used_settings says which use what):
# left out (None) they take the type's default; a request giving one its type does not use is refused.
# The values every request carried before they were optional: a stored request holding one for a
# type that never used it reads as if it had left it out.
TYPE_SETTINGS = ("members", "epochs", "batch_size", "lr", "seed", "num_gpus")
_LEGACY_DEFAULTS: dict[str, Any] = {**DRUGBAN_DEFAULTS, "seed": DEFAULT_SEED, "num_gpus": 0}


class RunRequest(Contract):
    """What to train: a registered dataset version's split, a model type and its settings.

    Everything but the resources and the model name goes into the run's signature.
    """

    # strict: a JSON "5" is not the number 5 (ints still pass as floats); forbid: a misspelt setting
    # ("epoch") is refused, not silently left at its default.
    model_config = ConfigDict(strict=True, extra="forbid")

    dataset_id: str = Field(pattern=DATASET_ID_PATTERN, description="The dataset version (a sha256).")
    split_id: str = Field(
        default=DEFAULT_SPLIT_ID,
        json_schema_extra={"pattern": SPLIT_ID_PATTERN},  # checked by _split_id, with a readable message
        description="Train on its train part, select on its val part: <kind>-<seed>[-<train>-<val>-<test>], "
        "kinds random, cold-drug, cold-target, scaffold (made on the dataset if new).",
    )
    model_type: ModelType = "drugban"
    members: list[MemberType] | None = Field(
        default=None, description="Ensemble only: the member model types (default knn and xgb)."
    )
    epochs: int | None = Field(
        default=None, ge=1, le=10_000, description="DrugBAN (or an ensemble's DrugBAN member) only; default 100."
    )
    batch_size: int | None = Field(default=None, ge=2, le=4096, description="DrugBAN only; default 64.")
    lr: float | None = Field(default=None, gt=0, lt=1, description="DrugBAN only; default 5e-05.")
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="0 to 2**32-1; default 42 (every type but knn, which draws nothing).",
    )
    model_name: str | None = Field(
        default=None,
        pattern=MODEL_NAME_PATTERN,
        description="Registry name of the trained model; default <model type>-<dataset name>.",
    )
    num_cpus: float | None = Field(default=None, gt=0, le=1024, description="CPUs the worker declares to Ray.")
    num_gpus: float = Field(default=0, ge=0, le=64, description="GPUs the worker declares (0: train on the CPU).")

    @field_validator("split_id", mode="after")
    @classmethod
    def _split_id(cls, value: str) -> str:
        if not re.fullmatch(SPLIT_ID_PATTERN, value):
            raise ValueError(
                f"{value!r:.80} is not a split id: those are lower-case letters, digits, '.' and '-' "
                "(e.g. random-42, cold-drug-1), never a path"
            )
        try:
            parse_split_id(value)
        except InvalidInput as error:
            raise ValueError(error.message) from None
        return value

    @field_validator("members", mode="after")
    @classmethod
    def _members(cls, value: list[MemberType] | None) -> list[MemberType] | None:
        if value is None:
            return None
        try:
            return parse_members(value)
        except InvalidInput as error:
            raise ValueError(error.message) from None

    @field_validator(*TYPE_SETTINGS, mode="after")
    @classmethod
    def _used_by_the_type(cls, value: Any, info: ValidationInfo) -> Any:
        model_type = info.data.get("model_type", "drugban")
        name = info.field_name or ""
        unset = cls.model_fields[name].default
        if value == unset or name in used_settings(model_type, info.data.get("members")):
            return value
        if name in _LEGACY_DEFAULTS and value == _LEGACY_DEFAULTS[name]:
            return unset  # an echoed or stored request from before these settings were optional
        raise ValueError(unused_reason(model_type, name))

    def training_config(self) -> TrainingConfig:
        """What the worker trains with: the settings given, the type's defaults for the others."""
        return training_config(
            self.model_type,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            members=self.members,
        )

    def drugban_epochs(self) -> int | None:
        """The epochs a DrugBAN (or an ensemble's DrugBAN member) trains; None: no DrugBAN."""
        try:
            found = drugban_config(self.training_config())
        except (InvalidInput, ValidationError):  # a request stored under older rules
            return self.epochs
        return found.epochs if found is not None else None


def _stored_request(value: Any, handler: ValidatorFunctionWrapHandler) -> RunRequest:
    try:
        request: RunRequest = handler(value)
        return request
    except ValidationError:
        if not isinstance(value, dict):
            raise
        # Stored before the request checks tightened (an rf run with epochs, a seed of 2**70, a path as
        # split id): such a run stays readable as it was, so listing and showing runs still works.
        return RunRequest.model_construct(**value)


StoredRunRequest = Annotated[RunRequest, WrapValidator(_stored_request)]
"""A request read back (from the store, or in an answer): checked, but kept as it was if older rules let it in."""


class RunProgress(Contract):
    """Where a running run is; reported by its worker after batches and epochs."""

    epoch: int = Field(description="The epoch being trained (1-based); epochs when done.")
    epochs: int
    batch: int = 0
    batches: int = 0
    loss: float | None = None
    val_auroc: float | None = Field(default=None, description="The last finished epoch's validation AUROC.")
    best_val_auroc: float | None = None
    eta_seconds: float | None = None
    updated_at: dt.datetime


class RunModelRef(Contract):
    name: str
    version: int


class RunDetail(Contract):
    run_id: str = Field(description="The run's signature: sha256 of dataset, split, model type, config, code.")
    status: RunStatus
    request: StoredRunRequest
    model_name: str
    code_version: str
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = Field(description="Workers started so far (a crashed worker is replaced, resuming its checkpoint).")
    resumed_from_epoch: int | None = Field(
        default=None, description="The epoch the latest worker resumed after (None: it started from scratch)."
    )
    progress: RunProgress | None = None
    history: list[EpochRecord] = Field(default_factory=list, description="Per-epoch curves (DrugBAN).")
    val_metrics: BinaryMetrics | None = None
    model: RunModelRef | None = Field(default=None, description="The model version the run created.")
    mlflow_run_id: str | None = None
    error: str | None = None
    created: bool = Field(default=False, description="In a start's answer: True if this call started the run.")


class RunSummary(Contract):
    run_id: str
    status: RunStatus
    model_type: ModelType
    model_name: str
    dataset_id: str
    split_id: str
    epochs: int | None = Field(default=None, description="DrugBAN epochs (None: the model type has none).")
    created_at: dt.datetime
    model: RunModelRef | None = None
    val_auroc: float | None = None
