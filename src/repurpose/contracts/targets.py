"""Target proteins at the boundaries: their ids and sequences, registration, details, screening history.

A target id is a UniProt accession (``P00533``, ``P00533-2`` for an isoform), a gene symbol
(``EGFR``, ``HLA-A``, ``C1orf112``) or, for a sequence with neither, ``seq-`` plus 16 hex digits
of the sequence's sha256 (``contracts.ids``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field

from repurpose.contracts.base import Contract
from repurpose.contracts.ids import (
    MAX_TARGET_ID_LENGTH,
    SEQUENCE_TARGET_ID_PATTERN,
    TARGET_ID_PATTERN,
    UNIPROT_ACCESSION_PATTERN,
)
from repurpose.errors import InvalidInput, InvalidProtein
from repurpose.plain_text import check_plain_text

TargetIdKind = Literal["uniprot", "gene", "sequence"]

MAX_HITS_PER_SCREENING = 20
"""Best hits kept per screening in a target's history (a job's full results are its own artifact)."""
MAX_PROTEIN_LENGTH = 1200
"""Residues DrugBAN reads: a longer sequence is scored on its first 1200 (the rest changes no score)."""
MAX_SEQUENCE_LENGTH = 50_000
"""A target's longest sequence; titin, the longest human protein, has 34,350 residues."""
AMINO_ACIDS = frozenset("ABCDEFGHIKLMNOPQRSTUVWXYZ")
"""The one-letter codes a sequence may hold: A-Z except J (DrugBAN's alphabet)."""
_AMINO_ACID_TEXT = re.compile("[A-IK-Za-ik-z]+")  # AMINO_ACIDS in either case, ASCII only


def check_target_id(target_id: str) -> TargetIdKind:
    """What kind of id ``target_id`` is; InvalidInput saying what a target id looks like if none."""
    if isinstance(target_id, str):
        check_plain_text(target_id, "target id")
    # fullmatch: `$` lets a final \n by
    if isinstance(target_id, str) and re.fullmatch(SEQUENCE_TARGET_ID_PATTERN, target_id):
        return "sequence"
    if isinstance(target_id, str) and re.fullmatch(TARGET_ID_PATTERN, target_id):
        return "uniprot" if re.match(UNIPROT_ACCESSION_PATTERN, target_id) else "gene"
    raise InvalidInput(
        f"{target_id!r:.80} is not a target id: use a gene symbol (e.g. EGFR) or a UniProt accession "
        f"(e.g. P00533): 1 to {MAX_TARGET_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a letter"
    )


class HistoryHit(Contract):
    """One of a screening's best hits as the target's history keeps it (``ScreeningRecord``)."""

    smiles: str
    score: float = Field(description="The model's interaction probability, 0 to 1.")
    compound_id: str | None = Field(default=None, description="The library's id of the compound, if it has one.")


class ScreeningRecord(Contract):
    """One screening of a library against a target, as its history keeps it."""

    job_id: str = Field(min_length=1, max_length=200)
    model_name: str = Field(min_length=1, max_length=200)
    model_version: int | None = Field(default=None, ge=1)
    screened_at: dt.datetime
    library: str | None = Field(default=None, max_length=500, description="The library's name or source.")
    compounds_scored: int = Field(default=0, ge=0)
    best_hits: list[HistoryHit] = Field(
        default_factory=list, description=f"Highest scores first, at most {MAX_HITS_PER_SCREENING} kept."
    )

    @property
    def model_ref(self) -> str:
        return self.model_name if self.model_version is None else f"{self.model_name}@{self.model_version}"


class TargetSummary(Contract):
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
    best_hits: list[HistoryHit] = Field(description="The best hit per compound over the whole history, best first.")


class TargetRegistration(TargetDetail):
    created: bool = Field(description="True if this call registered the target; False if it was already there.")
    alias: str | None = Field(
        default=None,
        description="The id this call sent, when its sequence is registered already under target_id: "
        "that id is an alias of target_id (nothing new is registered).",
    )


def normalize_protein(sequence: str) -> str:
    """The upper-cased, stripped sequence, or InvalidProtein naming the first bad character."""
    if not isinstance(sequence, str) or not sequence.strip():
        raise InvalidProtein("empty protein sequence: a target needs its amino-acid sequence")
    text = sequence.strip()
    if _AMINO_ACID_TEXT.fullmatch(text):  # the common case, in C: a request may name hundreds of proteins
        return text.upper()
    for position, character in enumerate(text, start=1):
        # checked before upper-casing: str.upper maps e.g. 'ß' to 'SS' and 'ı' to 'I'
        if not character.isascii() or character.upper() not in AMINO_ACIDS:
            raise InvalidProtein(
                f"protein sequence has {character!r} at position {position}; "
                "only the letters A-Z except J are amino-acid codes",
                position=position,
                character=character,
            )
    return text.upper()


def normalize_target_sequence(sequence: str) -> str:
    """A target's sequence as stored: ``normalize_protein``'s, refused beyond ``MAX_SEQUENCE_LENGTH``."""
    if isinstance(sequence, str) and len(sequence.strip()) > MAX_SEQUENCE_LENGTH:
        raise InvalidProtein(
            f"protein sequence has {len(sequence.strip()):,} residues; at most {MAX_SEQUENCE_LENGTH:,} are accepted"
        )
    return normalize_protein(sequence)
