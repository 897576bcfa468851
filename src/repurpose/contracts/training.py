"""What each model type is trained with: its own parameters, and only those; and what a DrugBAN
training reports per epoch (``EpochRecord``).

A model directory's manifest, a registered version's lineage and an MLflow run record the
``TrainingConfig`` of their model type, one pydantic class per type (``model_type`` tells which):

    drugban   epochs, batch_size, lr, seed        Adam on BCE, best epoch by validation AUROC
    rf        seed, n_estimators, min_samples_leaf, max_features
    xgb       seed, n_estimators (rounds at most), learning_rate, max_depth, subsample,
              colsample_bytree, early_stopping_rounds (on the validation log-loss)
    knn       aggregates: the ones tried on validation (the chosen one is the manifest's ``knn``)
    ensemble  members (each with its own config above) and the stack

Manifests written before each type kept its own parameters gave every type DrugBAN's
(``epochs``, ``batch_size``, ``lr``, ``seed``). A type reading one drops those it never used,
so the manifests of the bundled models (content-hashed: never rewritten) load as they are; any
other unknown field is refused. (Their retrieval figures are no manifest field: they are a
separate file beside it, ``retrieval.json``, see ``cluster.bundled_models``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from repurpose.contracts.base import Contract
from repurpose.errors import InvalidInput

ModelType = Literal["drugban", "rf", "xgb", "knn", "ensemble"]
MemberType = Literal["drugban", "rf", "xgb", "knn"]
MODEL_TYPES: tuple[ModelType, ...] = get_args(ModelType)
MEMBER_TYPES: tuple[MemberType, ...] = get_args(MemberType)
DEFAULT_MEMBERS: tuple[MemberType, ...] = ("knn", "xgb")
LEGACY_KEYS = ("epochs", "batch_size", "lr", "seed")  # what every manifest recorded before
DRUGBAN_DEFAULTS: dict[str, Any] = {"epochs": 100, "batch_size": 64, "lr": 5e-5}
DEFAULT_SEED = 42
AGGREGATE_PATTERN = r"^(max|top([2-9]|[1-9][0-9]+))$"


class EpochRecord(Contract):
    # one epoch of a DrugBAN training: its curves (history.json, a run's history)
    epoch: int  # 1-based
    train_loss: float
    val_auroc: float
    val_auprc: float
    seconds: float


class _Config(Contract):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k in cls.model_fields or k not in LEGACY_KEYS}
        return value

    def params(self) -> dict[str, str | int | float]:
        """The parameters as flat name → value pairs (MLflow params)."""
        return {k: v for k, v in self.model_dump(exclude={"model_type"}).items()}


class DrugBANTraining(_Config):
    model_type: Literal["drugban"] = "drugban"
    epochs: int = Field(DRUGBAN_DEFAULTS["epochs"], ge=1, le=10_000)
    batch_size: int = Field(DRUGBAN_DEFAULTS["batch_size"], ge=2, le=4096)
    lr: float = Field(DRUGBAN_DEFAULTS["lr"], gt=0, lt=1)
    seed: int = DEFAULT_SEED

    def describe(self) -> str:
        return f"{self.epochs} epochs, batch {self.batch_size}, Adam lr {self.lr:g}, seed {self.seed}"


class ForestTraining(_Config):
    model_type: Literal["rf"] = "rf"
    seed: int = DEFAULT_SEED
    n_estimators: int = Field(500, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt"] = "sqrt"

    def describe(self) -> str:
        return (
            f"{self.n_estimators} trees, min {self.min_samples_leaf} per leaf, "
            f"{self.max_features} features per split, seed {self.seed}"
        )


class XGBTraining(_Config):
    model_type: Literal["xgb"] = "xgb"
    seed: int = DEFAULT_SEED
    n_estimators: int = Field(2000, ge=1, description="Boosting rounds at most: early stopping ends sooner.")
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(8, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.3, gt=0, le=1)
    early_stopping_rounds: int = Field(100, ge=1, description="Rounds without a better validation log-loss.")

    def describe(self) -> str:
        return (
            f"up to {self.n_estimators} rounds (early stopping after {self.early_stopping_rounds}), "
            f"eta {self.learning_rate:g}, depth {self.max_depth}, subsample {self.subsample:g}, "
            f"colsample {self.colsample_bytree:g}, seed {self.seed}"
        )


class KnnTraining(_Config):
    model_type: Literal["knn"] = "knn"
    aggregates: tuple[Annotated[str, Field(pattern=AGGREGATE_PATTERN)], ...] = Field(
        default=("max", "top3", "top5"),
        min_length=1,
        description="The scores tried on validation: the nearest binder's Tanimoto ('max') or the mean of the k "
        "nearest ('topk'); the manifest's knn settings name the one chosen.",
    )

    def params(self) -> dict[str, str | int | float]:
        return {"aggregates": ",".join(self.aggregates)}

    def describe(self) -> str:
        return f"the best of {', '.join(self.aggregates)} on validation"


MemberConfig = Annotated[
    DrugBANTraining | ForestTraining | XGBTraining | KnnTraining, Field(discriminator="model_type")
]


class EnsembleTraining(_Config):
    model_type: Literal["ensemble"] = "ensemble"
    members: tuple[MemberConfig, ...] = Field(min_length=2, description="Each member's own training config.")
    stack: Literal["logistic"] = Field(
        default="logistic", description="Logistic regression on the members' validation scores."
    )

    @model_validator(mode="after")
    def _distinct_members(self) -> EnsembleTraining:
        types = [m.model_type for m in self.members]
        if len(set(types)) != len(types):
            raise ValueError(f"the members {', '.join(types)} repeat a model type; give each type once")
        return self

    @property
    def member_types(self) -> list[MemberType]:
        return [m.model_type for m in self.members]

    def params(self) -> dict[str, str | int | float]:
        flat: dict[str, str | int | float] = {"members": ",".join(self.member_types), "stack": self.stack}
        for member in self.members:
            flat |= {f"{member.model_type}.{k}": v for k, v in member.params().items()}
        return flat

    def describe(self) -> str:
        inner = "; ".join(f"{m.model_type}: {m.describe()}" for m in self.members)
        return f"{self.stack} stack of {', '.join(self.member_types)} ({inner})"


TrainingConfig = Annotated[
    DrugBANTraining | ForestTraining | XGBTraining | KnnTraining | EnsembleTraining, Field(discriminator="model_type")
]
"""One model type's training parameters (see the module docs)."""


def drugban_config(config: TrainingConfig) -> DrugBANTraining | None:
    """The DrugBAN settings a training runs with: its own, or its DrugBAN member's."""
    if isinstance(config, DrugBANTraining):
        return config
    if isinstance(config, EnsembleTraining):
        return next((m for m in config.members if isinstance(m, DrugBANTraining)), None)
    return None


# --- the settings a request or a command line may give --------------------------------------------

SETTINGS = ("epochs", "batch_size", "lr", "seed", "members", "num_gpus")
_DRUGBAN_SETTINGS = frozenset({"epochs", "batch_size", "lr", "seed", "num_gpus"})
_USED: dict[MemberType, frozenset[str]] = {
    "drugban": _DRUGBAN_SETTINGS,
    "rf": frozenset({"seed"}),
    "xgb": frozenset({"seed"}),
    "knn": frozenset(),
}


def used_settings(model_type: ModelType, members: Sequence[str] | None = None) -> frozenset[str]:
    """The settings of ``SETTINGS`` that ``model_type`` uses (``num_gpus``: the worker's GPUs,
    which only DrugBAN trains on)."""
    if model_type != "ensemble":
        return _USED[model_type]
    chosen = members or DEFAULT_MEMBERS
    return frozenset({"members"}).union(*(_USED.get(m, frozenset()) for m in chosen))  # type: ignore[call-overload]


def unused_reason(model_type: ModelType, setting: str) -> str:
    """Why ``model_type`` refuses ``setting`` (not in its ``used_settings``)."""
    if setting == "members":
        return f"{model_type} models have no members (only ensemble models do): leave it out"
    if model_type == "ensemble":
        return (
            f"ensemble models without a drugban member do not use {setting} (only DrugBAN does): "
            "leave it out or add drugban to the members"
        )
    if model_type == "knn" and setting == "seed":
        return "knn models do not use seed (a nearest-binder search draws nothing at random): leave it out"
    return f"{model_type} models do not use {setting} (only DrugBAN does): leave it out"


def parse_members(text: str | Sequence[str]) -> list[MemberType]:
    """Member types from ``knn,xgb`` (or a list); InvalidInput says what is wrong."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else [str(n).strip() for n in text]
    unknown = [n for n in names if n not in MEMBER_TYPES]
    if unknown:
        raise InvalidInput(f"{unknown[0]!r:.40} is not a member type: an ensemble combines {', '.join(MEMBER_TYPES)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidInput(f"an ensemble needs two or more different member types, not {','.join(names)!r:.80}")
    return names  # type: ignore[return-value]


def training_config(
    model_type: ModelType,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    members: Sequence[str] | None = None,
) -> TrainingConfig:
    """The config of ``model_type`` from the settings given (None: the default). InvalidInput
    names a setting the type does not use; pydantic's ValidationError a value out of range."""
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "members": members}
    used = used_settings(model_type, members)
    for name, value in given.items():
        if value is not None and name not in used:
            raise InvalidInput(unused_reason(model_type, name))
    drugban = {k: v for k, v in given.items() if k in ("epochs", "batch_size", "lr", "seed") and v is not None}
    seeded = {"seed": seed} if seed is not None else {}

    def member(kind: MemberType) -> DrugBANTraining | ForestTraining | XGBTraining | KnnTraining:
        if kind == "drugban":
            return DrugBANTraining.model_validate(drugban)
        if kind == "rf":
            return ForestTraining.model_validate(seeded)
        if kind == "xgb":
            return XGBTraining.model_validate(seeded)
        return KnnTraining()

    if model_type == "ensemble":
        chosen = parse_members(members or DEFAULT_MEMBERS)
        return EnsembleTraining.model_validate({"members": tuple(member(m) for m in chosen)})
    return member(model_type)
