"""Request bodies and the envelopes of lists (every answer itself is a ``contracts`` model).

Bodies refuse unknown fields and check what the domain would refuse anyway (SMILES parse with
RDKit, sequences use the amino-acid alphabet, ids have their shape), so a refused body is a 422
naming the field, e.g. ``pairs[3].smiles: invalid SMILES 'C1CC': unclosed ring``, with the
domain's code (``invalid_smiles``, ``invalid_protein``) as the error code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from repurpose.contracts.alerts import AlertRule
from repurpose.contracts.datasets import DatasetSummary
from repurpose.contracts.ids import TARGET_ID_PATTERN
from repurpose.contracts.keys import MAX_KEY_NAME_LENGTH, ApiKeySummary, Role
from repurpose.contracts.models import EvaluationPart, ModelStage, ModelSummary
from repurpose.contracts.scoring import MAX_PREDICT_PAIRS
from repurpose.contracts.screening import LibrarySummary, ScreenSummary
from repurpose.contracts.splits import DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED, SplitKind
from repurpose.contracts.targets import MAX_SEQUENCE_LENGTH, TargetSummary, check_target_id, normalize_target_sequence
from repurpose.contracts.training_runs import RunSummary
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.libraries import MAX_COMPOUND_ID_LENGTH
from repurpose.errors import RepurposeError
from repurpose.plain_text import hidden_character

MAX_SMILES_LENGTH = 5_000
MAX_REFERENCE_LENGTH = 200
MAX_REASON_LENGTH = 500

_PLAIN_SEQUENCE = re.compile(r"[A-IK-Za-ik-z]+")


@lru_cache(maxsize=50_000)
def _smiles_problem(smiles: str) -> tuple[str, str] | None:
    try:
        parse_smiles(smiles)
    except RepurposeError as error:
        return error.code, error.message
    return None


def _checked_smiles(smiles: str) -> str:
    problem = _smiles_problem(smiles)
    if problem is not None:
        raise PydanticCustomError(problem[0], problem[1])
    return smiles


def _checked_sequence(sequence: str) -> str:
    text = sequence.strip()
    if _PLAIN_SEQUENCE.fullmatch(text) and len(text) <= MAX_SEQUENCE_LENGTH:
        return text.upper()
    try:
        return normalize_target_sequence(sequence)
    except RepurposeError as error:
        raise PydanticCustomError(error.code, error.message) from None


def _plain(value: object) -> object:
    # Runs before a field's pattern: "holds U+202E at position 1" says more than "should match".
    if isinstance(value, str):
        problem = hidden_character(value)
        if problem is not None:
            message = f"{value!r:.80} holds {problem}: ids and names may not hold control or format characters"
            raise PydanticCustomError("invalid_input", message)
    return value


def checked_idempotency_key(key: str | None) -> str | None:
    """An ``Idempotency-Key`` header's value: an empty one would make every empty-keyed submit one."""
    if key is not None and not key.strip():
        raise PydanticCustomError(
            "invalid_input",
            "an empty Idempotency-Key is no key: send 1 to 100 characters (a UUID, say) or leave the header out",
        )
    return key


def _checked_target(target_id: str) -> str:
    try:
        check_target_id(target_id)
    except RepurposeError as error:
        raise PydanticCustomError(error.code, error.message) from None
    return target_id


Smiles = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SMILES_LENGTH, examples=["CC(=O)Oc1ccccc1C(=O)O"]),
    AfterValidator(_checked_smiles),
]
Sequence = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SEQUENCE_LENGTH,
        description="Amino acids: the letters A-Z except J.",
        examples=["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"],
    ),
    AfterValidator(_checked_sequence),
]
TargetId = Annotated[
    str,
    Field(
        pattern=TARGET_ID_PATTERN,
        description="A registered target: gene symbol (EGFR) or UniProt id (P00533).",
        examples=["EGFR"],
    ),
    AfterValidator(_checked_target),
    BeforeValidator(_plain),  # last: it keeps the pattern in the schema and runs first
]
ModelReference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REFERENCE_LENGTH,
        description="A model name (its production version), name@version or name@stage.",
        examples=["drugban-human", "drugban-human@production"],
    ),
    BeforeValidator(_plain),
]
DEFAULT_MODEL_NOTE = (
    "A model name (its production version), name@version or name@stage. Default: the production version of "
    "the cluster's default model: the bundled model that `up` puts in production for its retrieval merit (best "
    "mean BEDROC on the held-out set), or the setting default_model (env REPURPOSE_DEFAULT_MODEL) where set."
)
CompoundId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_COMPOUND_ID_LENGTH,
        description="A compound id of a registered library.",
        examples=["DB00317"],
    ),
    BeforeValidator(_plain),
]
Label = Annotated[str, BeforeValidator(_plain)]
"""A name or other free text: anything printable."""


class Body(BaseModel):
    # strict: a JSON "5" is not the number 5, nor "true" a boolean (ints still pass as floats)
    model_config = ConfigDict(extra="forbid", strict=True)


class _TargetOrSequence(Body):
    target: TargetId | None = Field(default=None, description="A registered target id; or give `sequence`.")
    sequence: Sequence | None = Field(default=None, description="The protein's sequence; or give `target`.")

    @model_validator(mode="after")
    def _one_protein(self) -> _TargetOrSequence:
        if (self.target is None) == (self.sequence is None):
            raise PydanticCustomError(
                "invalid_input", "give the protein as `target` (a registered id) or `sequence`, one of them"
            )
        return self


# --- scoring -------------------------------------------------------------------------------------


class PairIn(_TargetOrSequence):
    smiles: Smiles


class PredictBody(Body):
    model: ModelReference | None = Field(default=None, description=DEFAULT_MODEL_NOTE)
    pairs: list[PairIn] = Field(min_length=1, max_length=MAX_PREDICT_PAIRS, description="1 to 1,000 pairs.")


class _SmilesOrCompound(Body):
    smiles: Smiles | None = Field(default=None, description="The compound's SMILES; or give `compound`.")
    compound: CompoundId | None = Field(
        default=None,
        description="A compound id of a registered library (e.g. DB00317), looked up for its SMILES; or give `smiles`.",
    )

    @model_validator(mode="after")
    def _one_compound(self) -> _SmilesOrCompound:
        if (self.smiles is None) == (self.compound is None):
            raise PydanticCustomError(
                "invalid_input", "give the compound as `smiles` or `compound` (a library compound id), one of them"
            )
        return self


class ExplainBody(_TargetOrSequence, _SmilesOrCompound):
    model: ModelReference | None = Field(
        default=None,
        description="A DrugBAN model: a name (its production version), name@version or name@stage. Default: the "
        "cluster's default model if it is a DrugBAN, else the production (or staging) version of the setting "
        "explain_model (env REPURPOSE_EXPLAIN_MODEL; drugban-human unless set).",
    )
    top: int = Field(default=10, ge=1, le=100, description="Atoms and residue windows returned.")


class ProfileBody(_SmilesOrCompound):
    model: ModelReference | None = Field(default=None, description=DEFAULT_MODEL_NOTE)
    top: int = Field(default=20, ge=1, le=10_000, description="Targets returned, best first.")


# --- datasets, training, models, targets ---------------------------------------------------------


class SplitBody(Body):
    kind: SplitKind = DEFAULT_SPLIT_KIND
    seed: int = Field(default=DEFAULT_SPLIT_SEED, ge=0, le=2**31 - 1, description="Same seed, same split.")
    fractions: list[Annotated[float, Field(gt=0, lt=1)]] | None = Field(
        default=None, min_length=3, max_length=3, description="train, val, test (default 0.8, 0.1, 0.1)."
    )


class PromoteBody(Body):
    stage: ModelStage
    reason: str | None = Field(default=None, max_length=MAX_REASON_LENGTH)
    force: bool = Field(default=False, description="Skip the metric gates of production (never the stage rules).")


class RollbackBody(Body):
    reason: str | None = Field(default=None, max_length=MAX_REASON_LENGTH)


class EvaluateBody(Body):
    dataset: Label = Field(
        min_length=1, max_length=MAX_REFERENCE_LENGTH, description="A dataset id, a unique prefix (4+) or its name."
    )
    split: Label | None = Field(
        default=None,
        max_length=100,
        description="Evaluate on a part of this split. Default: on the dataset the version was trained on, its "
        "own split (the test part); elsewhere every row.",
    )
    part: EvaluationPart | None = Field(default=None, description="Default: test with a split, else all.")
    allow_overlap: bool = Field(
        default=False,
        description="Evaluate even on rows that were training rows of the version (by lineage), recording how "
        "many (training_overlap); without it such an evaluation is refused with 422.",
    )


class TargetBody(Body):
    sequence: Sequence
    name: Label | None = Field(default=None, max_length=200)
    organism: Label | None = Field(default=None, max_length=200)


class KeyBody(Body):
    role: Role = Field(description="admin (everything), scientist (datasets, training, screening) or reader.")
    name: Label | None = Field(default=None, max_length=MAX_KEY_NAME_LENGTH, description="Whose or what for.")


# --- lists and operations ------------------------------------------------------------------------


class DatasetList(BaseModel):
    items: list[DatasetSummary]


class AlertRuleList(BaseModel):
    items: list[AlertRule]


class RunList(BaseModel):
    items: list[RunSummary]


class ModelList(BaseModel):
    items: list[ModelSummary]


class KeyList(BaseModel):
    items: list[ApiKeySummary]


class TargetList(BaseModel):
    items: list[TargetSummary]


class ScreenList(BaseModel):
    items: list[ScreenSummary]


class LibraryList(BaseModel):
    items: list[LibrarySummary]
