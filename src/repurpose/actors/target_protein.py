"""The TargetProtein grain (kind ``"target"``, key = the target id).

A target id is a UniProt accession (``P00533``, ``P00533-2`` for an isoform), a gene symbol
(``EGFR``, ``HLA-A``, ``C1orf112``) or, for a sequence with neither, ``sequence_target_id``'s
``seq-`` plus 16 hex digits of the sequence's sha256. Ids are kept exactly as given: gene
symbols differ in case between organisms (human ``EGFR``, mouse ``Egfr``).

The sequence is validated as a dataset's proteins are (``normalize_protein``: stripped,
upper-cased, every other character refused with its position). Registering an id again with
the same sequence changes nothing (a name or organism given is updated); with another
sequence it is a ``TargetConflict``.

The state is kept small, because a host holds thousands of targets: the sequence, two short
labels and a bounded screening history (the last ``MAX_HISTORY`` screenings, each with its
best ``MAX_HITS_PER_SCREENING`` hits; a job's full results are the job's own artifact).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from repurpose.contracts.targets import (
    MAX_HITS_PER_SCREENING,
    ScreeningHit,
    ScreeningRecord,
    TargetDetail,
    TargetIdKind,
    TargetRegistration,
    TargetSummary,
)
from repurpose.errors import InvalidInput, InvalidProtein, TargetConflict, TargetNotFound
from repurpose.grains import Grain, grain
from repurpose.protein_encoding import normalize_protein
from repurpose.store import list_states

KIND = "target"
MAX_SEQUENCE_LENGTH = 50_000  # titin, the longest human protein, has 34,350 residues
MAX_HISTORY = 100
MAX_LABEL_LENGTH = 200
MAX_ID_LENGTH = 32

_TARGET_ID = re.compile(rf"^[A-Za-z][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}$")
_UNIPROT = re.compile(r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?$")
_SEQUENCE_ID = re.compile(r"^seq-[0-9a-f]{16}$")


def check_target_id(target_id: str) -> TargetIdKind:
    """What kind of id ``target_id`` is; InvalidInput saying what a target id looks like if none."""
    if isinstance(target_id, str) and _SEQUENCE_ID.match(target_id):
        return "sequence"
    if isinstance(target_id, str) and _TARGET_ID.match(target_id) and target_id[-1] not in "._-":
        return "uniprot" if _UNIPROT.match(target_id) else "gene"
    raise InvalidInput(
        f"{target_id!r:.80} is not a target id: use a gene symbol (e.g. EGFR) or a UniProt accession "
        f"(e.g. P00533): 1 to {MAX_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a letter"
    )


def normalize_target_sequence(sequence: str) -> str:
    """The sequence as stored: stripped, upper-cased, validated as a dataset's proteins are."""
    if isinstance(sequence, str) and len(sequence.strip()) > MAX_SEQUENCE_LENGTH:
        raise InvalidProtein(
            f"protein sequence has {len(sequence.strip()):,} residues; at most {MAX_SEQUENCE_LENGTH:,} are accepted"
        )
    return normalize_protein(sequence)


def sequence_target_id(sequence: str) -> str:
    """The id of a target known only by its sequence: ``seq-`` and 16 hex digits of its sha256."""
    return f"seq-{_sha256(normalize_target_sequence(sequence))[:16]}"


class TargetState(BaseModel):
    sequence: str = ""  # empty: never registered
    name: str | None = None
    organism: str | None = None
    registered_at: dt.datetime | None = None
    history: list[ScreeningRecord] = Field(default_factory=list)  # most recent first


@grain(KIND)
class TargetProtein(Grain[TargetState]):
    """A target protein: its validated sequence and its screening history."""

    def register(self, sequence: str, name: str | None = None, organism: str | None = None) -> TargetRegistration:
        """Register the target; again with the same sequence is a no-op, with another a TargetConflict."""
        id_kind = check_target_id(self.key)
        clean = normalize_target_sequence(sequence)
        label, species = _label(name, "name"), _label(organism, "organism")
        if id_kind == "sequence" and sequence_target_id(clean) != self.key:
            raise InvalidInput(
                f"target id {self.key} names another sequence: this one's id is {sequence_target_id(clean)}"
            )
        if self.state.registered_at is not None:
            if clean != self.state.sequence:
                raise TargetConflict(_conflict_message(self.key, self.state.sequence, clean), target_id=self.key)
            self.state.name = label or self.state.name
            self.state.organism = species or self.state.organism
            return TargetRegistration(**self._detail().model_dump(), created=False)
        self.state = TargetState(
            sequence=clean, name=label, organism=species, registered_at=dt.datetime.now(dt.UTC), history=[]
        )
        return TargetRegistration(**self._detail().model_dump(), created=True)

    def show(self) -> TargetDetail:
        return self._detail()

    def summary(self) -> TargetSummary:
        self._registered()
        return _summary_of(self.key, self.state)

    def sequence(self) -> str:
        """The validated sequence (for scoring against this target)."""
        return self._registered().sequence

    def add_screening(self, record: ScreeningRecord) -> TargetSummary:
        """Add a screening to the history (the screening job calls this when it has results).

        A record with a job id already in the history replaces it (a job reports its best hits
        as they improve, and a retried call adds nothing twice). Hits are kept best first, at
        most ``MAX_HITS_PER_SCREENING``; the history keeps the ``MAX_HISTORY`` latest screenings.
        """
        state = self._registered()
        entry = ScreeningRecord.model_validate(record)
        hits = sorted(entry.best_hits, key=lambda h: (-h.score, h.smiles))[:MAX_HITS_PER_SCREENING]
        entry = entry.model_copy(update={"best_hits": hits})
        history = [e for e in state.history if e.job_id != entry.job_id]
        history.append(entry)
        history.sort(key=lambda e: (e.screened_at, e.job_id), reverse=True)
        state.history = history[:MAX_HISTORY]
        return _summary_of(self.key, state)

    def _registered(self) -> TargetState:
        if self.state.registered_at is None:
            raise TargetNotFound(f"no target {self.key!r} is registered", target_id=self.key)
        return self.state

    def _detail(self) -> TargetDetail:
        state = self._registered()
        return TargetDetail(
            **_summary_of(self.key, state).model_dump(),
            sequence=state.sequence,
            sequence_sha256=_sha256(state.sequence),
            history=list(state.history),
            best_hits=_best_hits(state.history),
        )


def list_targets(engine: Engine) -> list[TargetSummary]:
    """Every registered target, by id."""
    summaries = []
    for stored in list_states(engine, KIND):
        state = TargetState.model_validate(stored.state)
        if state.registered_at is not None:
            summaries.append(_summary_of(stored.key, state))
    return summaries


def _summary_of(target_id: str, state: TargetState) -> TargetSummary:
    assert state.registered_at is not None
    return TargetSummary(
        target_id=target_id,
        id_kind=check_target_id(target_id),
        name=state.name,
        organism=state.organism,
        length=len(state.sequence),
        registered_at=state.registered_at,
        screenings=len(state.history),
    )


def _best_hits(history: list[ScreeningRecord]) -> list[ScreeningHit]:
    best: dict[str, ScreeningHit] = {}
    for entry in history:
        for hit in entry.best_hits:
            if hit.smiles not in best or hit.score > best[hit.smiles].score:
                best[hit.smiles] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.smiles))[:MAX_HITS_PER_SCREENING]


def _label(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"a target's {what} is text, not {type(value).__name__}")
    text = value.strip()
    if len(text) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"a target's {what} is at most {MAX_LABEL_LENGTH} characters")
    return text or None


def _conflict_message(target_id: str, stored: str, new: str) -> str:
    differs = next((i for i, (a, b) in enumerate(zip(stored, new, strict=False), start=1) if a != b), None)
    where = f"first differs at position {differs}" if differs is not None else "one is a prefix of the other"
    return (
        f"target {target_id} is already registered with another sequence ({len(stored)} residues; "
        f"the new one has {len(new)}, {where}); register the new sequence under another id"
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()
