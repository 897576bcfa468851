"""The TargetProtein grain (kind ``"target"``, key = the target id).

A target id is a UniProt accession (``P00533``, ``P00533-2`` for an isoform), a gene symbol
(``EGFR``, ``HLA-A``, ``C1orf112``) or, for a sequence with neither, ``sequence_target_id``'s
``seq-`` plus 16 hex digits of the sequence's sha256. Ids are kept exactly as given: gene
symbols differ in case between organisms (human ``EGFR``, mouse ``Egfr``).

The sequence is validated as a dataset's proteins are (``normalize_protein``: stripped,
upper-cased, every other character refused with its position). Registering an id again with
the same sequence changes nothing (a name or organism given is updated); with another
sequence it is a ``TargetConflict``.

One sequence is one target: registering a sequence already registered under another id makes
the new id an alias of that target (``services.targets.register_target``). The ``TargetSequence`` grain (kind
``"target-sequence"``, key = the sequence's sha256) records the first id each sequence was
registered under; registrations of one sequence pass through it one at a time, so two ids sent
at once cannot both become targets. An alias grain keeps only the sequence and the target it
names; every other call on it is answered by that target, so ``targets show EGFR`` works.

The state is kept small, because a host holds thousands of targets: the sequence, two short
labels and a bounded screening history (the last ``MAX_HISTORY`` screenings, each with its
best ``MAX_HITS_PER_SCREENING`` hits; a job's full results are the job's own artifact).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from repurpose.contracts.targets import (
    MAX_HITS_PER_SCREENING,
    HistoryHit,
    ScreeningRecord,
    TargetDetail,
    TargetIdKind,
    TargetRegistration,
    TargetSummary,
    check_target_id,
    normalize_target_sequence,
)
from repurpose.errors import InvalidInput, TargetConflict, TargetNotFound
from repurpose.grains import Grain, GrainClient, grain
from repurpose.plain_text import check_plain_text
from repurpose.store import list_states

KIND = "target"
SEQUENCE_KIND = "target-sequence"
MAX_ALIASES = 50
MAX_HISTORY = 100
MAX_LABEL_LENGTH = 200


def sequence_target_id(sequence: str) -> str:
    """The id of a target known only by its sequence: ``seq-`` and 16 hex digits of its sha256."""
    return f"seq-{sequence_sha256(normalize_target_sequence(sequence))[:16]}"


class TargetState(BaseModel):
    sequence: str = ""  # empty: never registered
    name: str | None = None
    organism: str | None = None
    registered_at: dt.datetime | None = None
    history: list[ScreeningRecord] = Field(default_factory=list)  # most recent first
    alias_of: str | None = None  # set: this id is an alias of that target (same sequence, registered first)
    aliases: list[str] = Field(default_factory=list)  # ids that are aliases of this target


@grain(KIND)
class TargetProtein(Grain[TargetState]):
    """A target protein: its validated sequence and its screening history (or an alias of one)."""

    async def register(
        self, sequence: str, name: str | None = None, organism: str | None = None, alias_of: str | None = None
    ) -> TargetRegistration:
        """Register the target; again with the same sequence is a no-op, with another a TargetConflict.

        With ``alias_of`` (the target that holds this sequence already; ``register_target`` finds
        it) a new id becomes an alias of that target, which answers."""
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
            if self.state.alias_of is not None:
                return await self._adopted_by(self.state.alias_of, clean, label, species)
            self.state.name = label or self.state.name
            self.state.organism = species or self.state.organism
            return TargetRegistration(**self._detail().model_dump(), created=False)
        if alias_of is not None and alias_of != self.key:
            registration = await self._adopted_by(alias_of, clean, label, species)
            self.state = TargetState(sequence=clean, registered_at=dt.datetime.now(dt.UTC), alias_of=alias_of)
            return registration
        self.state = TargetState(
            sequence=clean, name=label, organism=species, registered_at=dt.datetime.now(dt.UTC), history=[]
        )
        return TargetRegistration(**self._detail().model_dump(), created=True)

    def adopt(
        self, alias: str, sequence: str, name: str | None = None, organism: str | None = None
    ) -> TargetRegistration:
        """Take ``alias`` (an id sent with this target's sequence) as another name of this target.

        A name or organism given fills in only what this target lacks (its own labels stay)."""
        state = self._registered()
        if state.alias_of is not None or normalize_target_sequence(sequence) != state.sequence:
            raise InvalidInput(f"target {self.key} cannot take {alias} as an alias: it holds another sequence")
        if alias not in state.aliases and len(state.aliases) < MAX_ALIASES:  # beyond that, ids are not listed
            state.aliases.append(alias)
        state.name = state.name or _label(name, "name")
        state.organism = state.organism or _label(organism, "organism")
        return TargetRegistration(**self._detail().model_dump(), created=False, alias=alias)

    async def show(self) -> TargetDetail:
        if self.state.alias_of is not None:
            detail: TargetDetail = await self.context.grains.acall(TargetProtein, self.state.alias_of, "show")
            return detail
        return self._detail()

    async def summary(self) -> TargetSummary:
        if self.state.alias_of is not None:
            summary: TargetSummary = await self.context.grains.acall(TargetProtein, self.state.alias_of, "summary")
            return summary
        self._registered()
        return _summary_of(self.key, self.state)

    def sequence(self) -> str:
        """The validated sequence (for scoring against this target; an alias holds it too)."""
        return self._registered().sequence

    async def add_screening(self, record: ScreeningRecord) -> TargetSummary:
        """Add a screening to the history (on an alias: to its target's); see ``_add_screening``."""
        alias_of = self._registered().alias_of
        if alias_of is not None:
            summary: TargetSummary = await self.context.grains.acall(
                TargetProtein, alias_of, "add_screening", record, idempotent=False
            )
            return summary
        return self._add_screening(record)

    async def _adopted_by(
        self, target_id: str, sequence: str, name: str | None, organism: str | None
    ) -> TargetRegistration:
        registration: TargetRegistration = await self.context.grains.acall(
            TargetProtein, target_id, "adopt", self.key, sequence, name, organism, idempotent=False
        )
        return registration

    def _add_screening(self, record: ScreeningRecord) -> TargetSummary:
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
            sequence_sha256=sequence_sha256(state.sequence),
            history=list(state.history),
            best_hits=_best_hits(state.history),
        )


class SequenceOwner(BaseModel):
    target_id: str | None = None  # the first id the sequence was registered under


@grain(SEQUENCE_KIND)
class TargetSequence(Grain[SequenceOwner]):
    """One sequence (key: its sha256): which target holds it. Its registrations run one at a time."""

    async def register(
        self, target_id: str, sequence: str, name: str | None = None, organism: str | None = None
    ) -> TargetRegistration:
        """Register ``target_id`` with this sequence: as the target, or as an alias of the target
        that holds the sequence already."""
        clean = normalize_target_sequence(sequence)
        if sequence_sha256(clean) != self.key:
            raise InvalidInput(f"the sequence's sha256 is {sequence_sha256(clean)[:16]}…, not {self.key[:16]}…")
        owner = self.state.target_id
        alias_of = owner if owner is not None and owner != target_id else None
        registration: TargetRegistration = await self.context.grains.acall(
            TargetProtein, target_id, "register", clean, name, organism, alias_of=alias_of, idempotent=False
        )
        if owner is None:
            self.state.target_id = registration.target_id
        return registration

    def claim(self, target_id: str) -> str:
        """Record ``target_id`` as the sequence's target unless one is recorded; the one recorded."""
        if self.state.target_id is None:
            self.state.target_id = target_id
        return self.state.target_id


def index_target_sequences(client: GrainClient) -> list[str]:
    """A step of ``up`` (``cluster.up``): record the target of every sequence registered before
    ``TargetSequence`` existed (the first registered id holds it), so that such a sequence, sent
    again under another id, becomes an alias. Idempotent: with every sequence recorded it costs
    two reads."""
    from repurpose.store import make_engine

    engine = make_engine(client.settings.database_url)
    try:
        recorded = {stored.key for stored in list_states(engine, SEQUENCE_KIND)}
        first: dict[str, tuple[dt.datetime, str]] = {}
        for stored in list_states(engine, KIND):
            state = TargetState.model_validate(stored.state)
            if state.registered_at is None or state.alias_of is not None:
                continue
            sha = sequence_sha256(state.sequence)
            if sha not in recorded and (sha not in first or (state.registered_at, stored.key) < first[sha]):
                first[sha] = (state.registered_at, stored.key)
    finally:
        engine.dispose()
    for sha, (_, target_id) in first.items():
        client.call(TargetSequence, sha, "claim", target_id, idempotent=True)
    return []


def list_targets(engine: Engine) -> list[TargetSummary]:
    """Every registered target, by id (aliases are listed with their target)."""
    summaries = []
    for stored in list_states(engine, KIND):
        state = TargetState.model_validate(stored.state)
        if state.registered_at is not None and state.alias_of is None:
            summaries.append(_summary_of(stored.key, state))
    return summaries


def registered_targets(engine: Engine) -> list[tuple[str, str, str | None]]:
    """(target id, sequence, name) of every registered target, by id: what a profile scores against."""
    out = []
    for stored in list_states(engine, KIND):
        state = TargetState.model_validate(stored.state)
        if state.registered_at is not None and state.alias_of is None:  # an alias is its target's other id
            out.append((stored.key, state.sequence, state.name))
    return out


def _summary_of(target_id: str, state: TargetState) -> TargetSummary:
    assert state.registered_at is not None
    return TargetSummary(
        target_id=target_id,
        id_kind=_stored_id_kind(target_id),
        name=state.name,
        organism=state.organism,
        length=len(state.sequence),
        registered_at=state.registered_at,
        screenings=len(state.history),
        aliases=list(state.aliases),
    )


def _best_hits(history: list[ScreeningRecord]) -> list[HistoryHit]:
    best: dict[str, HistoryHit] = {}
    for entry in history:
        for hit in entry.best_hits:
            if hit.smiles not in best or hit.score > best[hit.smiles].score:
                best[hit.smiles] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.smiles))[:MAX_HITS_PER_SCREENING]


def _stored_id_kind(target_id: str) -> TargetIdKind:
    """A stored id's kind, never refused: an id an older version let in (``EGFR\\n``) must not make
    listing every target fail."""
    try:
        return check_target_id(target_id)
    except InvalidInput:
        return "sequence" if target_id.startswith("seq-") else "gene"


def _label(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"a target's {what} is text, not {type(value).__name__}")
    text = check_plain_text(value.strip(), f"target {what}")
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


def sequence_sha256(text: str) -> str:
    """The key of a normalised sequence's ``TargetSequence`` grain."""
    return hashlib.sha256(text.encode("ascii")).hexdigest()
