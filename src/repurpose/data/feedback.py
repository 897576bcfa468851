"""Feedback tables: measured outcomes of pairs (``SMILES``, ``Protein`` or ``Target``, ``Y``), all checked.

A file is read as a dataset upload is (``data.datasets.read_table_rows``: the same limits and the
same messages for a missing column or a label that is not 0 or 1), but refused as a whole at its
first bad row: an outcome dropped silently would bias the live figures. The protein is a
sequence (column ``Protein``) or a registered target id (column ``Target``).

Each outcome gets keys for the store: the sha256 of its canonical SMILES, and its target id or
``sha256:`` and the sha256 of its sequence. A batch's id, unless the caller gives one, is the
sha256 of its model, version and outcomes: the same file sent twice is one batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from repurpose.contracts.feedback import MAX_FEEDBACK_PAIRS, Outcome
from repurpose.contracts.targets import check_target_id, normalize_protein
from repurpose.data.datasets import check_compound, check_label, check_protein, read_table_rows
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.upload_limits import UploadLimits
from repurpose.errors import InvalidInput, InvalidTable, TableTooLarge

FEEDBACK_COLUMNS = ("SMILES", "Protein|Target", "Y")


@dataclass(frozen=True)
class FeedbackTable:
    """Checked outcomes: per pair its canonical SMILES, its target id or its sequence, its label."""

    smiles: list[str]
    targets: list[str | None]
    sequences: list[str | None]
    labels: np.ndarray  # (n,) int64 in {0, 1}

    def __len__(self) -> int:
        return len(self.smiles)

    def compound_keys(self) -> list[str]:
        return [hashlib.sha256(s.encode()).hexdigest() for s in self.smiles]

    def target_keys(self) -> list[str]:
        return [
            t if t is not None else "sha256:" + hashlib.sha256((q or "").encode()).hexdigest()
            for t, q in zip(self.targets, self.sequences, strict=True)
        ]

    def pairs(self) -> list[dict[str, str]]:
        """The pairs as the scoring service takes them."""
        return [
            {"smiles": s, "target": t} if t is not None else {"smiles": s, "sequence": q or ""}
            for s, t, q in zip(self.smiles, self.targets, self.sequences, strict=True)
        ]

    def batch_id(self, model: str, version: int) -> str:
        digest = hashlib.sha256(f"{model}\n{version}\n".encode())
        for c, t, y in zip(self.compound_keys(), self.target_keys(), self.labels.tolist(), strict=True):
            digest.update(f"{c}\t{t}\t{y}\n".encode())
        return digest.hexdigest()


def read_feedback_table(
    data: bytes, *, filename: str | None, max_bytes: int, limits: UploadLimits | None = None
) -> FeedbackTable:
    """A CSV or Parquet of outcomes, every row checked; InvalidTable names the first bad row and why,
    TableTooLarge more than ``MAX_FEEDBACK_PAIRS`` rows (or the upload limits)."""
    limits = limits or UploadLimits()
    limits = limits.model_copy(update={"max_rows": min(limits.max_rows, MAX_FEEDBACK_PAIRS)})
    table = read_table_rows(data, filename=filename, columns=FEEDBACK_COLUMNS, max_bytes=max_bytes, limits=limits)
    by_target = table.columns[1].casefold() == "target"
    smiles: list[str] = []
    targets: list[str | None] = []
    sequences: list[str | None] = []
    labels: list[int] = []
    canonical: dict[str, str] = {}  # libraries of outcomes repeat compounds: parse each once
    for row, s, p, y in table.rows:
        try:
            known = canonical.get(s) if isinstance(s, str) else None
            if known is None:
                known = check_compound(s)
                if isinstance(s, str):
                    canonical[s] = known
            smiles.append(known)
            if by_target:
                targets.append(_target_id(p))
                sequences.append(None)
            else:
                targets.append(None)
                sequences.append(check_protein(p))
            labels.append(check_label(y))
        except InvalidInput as error:
            raise InvalidTable(f"{table.label}: row {row}: {error.message}", row=row) from None
    return FeedbackTable(smiles, targets, sequences, np.asarray(labels, dtype=np.int64))


def feedback_from_outcomes(outcomes: Sequence[Outcome]) -> FeedbackTable:
    """Outcomes of a JSON body, every one checked; InvalidInput names the field (``pairs[3].smiles``)."""
    if not 1 <= len(outcomes) <= MAX_FEEDBACK_PAIRS:
        error: InvalidInput = (
            TableTooLarge(f"{len(outcomes):,} outcomes is more than the {MAX_FEEDBACK_PAIRS:,} accepted; split them")
            if outcomes
            else InvalidInput("give at least one outcome")
        )
        error.field = "pairs"  # type: ignore[attr-defined]
        raise error
    smiles: list[str] = []
    targets: list[str | None] = []
    sequences: list[str | None] = []
    for index, outcome in enumerate(outcomes):
        where = f"pairs[{index}]"
        if (outcome.target is None) == (outcome.sequence is None):
            raise _at(f"{where}", InvalidInput(f"{where}: give the protein as `target` or `sequence`, one of them"))
        try:
            smiles.append(str(Chem.MolToSmiles(parse_smiles(outcome.smiles))))  # InvalidSmiles keeps its code
        except InvalidInput as problem:
            raise _at(f"{where}.smiles", problem) from None
        try:
            targets.append(_target_id(outcome.target) if outcome.target is not None else None)
            sequences.append(normalize_protein(outcome.sequence) if outcome.sequence is not None else None)
        except InvalidInput as problem:
            raise _at(f"{where}.target" if outcome.target is not None else f"{where}.sequence", problem) from None
    labels = np.asarray([o.label for o in outcomes], dtype=np.int64)
    return FeedbackTable(smiles, targets, sequences, labels)


def _target_id(value: object) -> str:
    target_id = value.strip() if isinstance(value, str) else value
    check_target_id(target_id)  # type: ignore[arg-type]  # InvalidInput for anything but an id
    assert isinstance(target_id, str)
    return target_id


def _at(field: str, error: InvalidInput) -> InvalidInput:
    error.field = field  # type: ignore[attr-defined]
    return error
