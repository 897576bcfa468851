"""The CompoundLibrary grain (kind ``"library"``, key = the content id): a registered library's
summary, and the store reads of every library (list, resolve a reference, find a compound).

What a library file holds and what registration refuses: ``data.libraries``. Registering
(``services.libraries.register_library``) is two steps, as for datasets: a Ray task parses and
validates the bytes and writes ``compounds_path(id)`` (content-addressed: writing again changes
nothing); then the grain's ``record`` stores the summary. A later registration of the same
content stores nothing new but its name, as an alias.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pyarrow.parquet as pq
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from repurpose.contracts.ids import LIBRARY_ID_PATTERN
from repurpose.contracts.screening import LibraryCompound, LibraryDetail, LibraryFormat, LibrarySummary
from repurpose.data.libraries import MAX_COMPOUND_ID_LENGTH, LibraryBuild
from repurpose.errors import CompoundNotFound, InvalidInput, LibraryNotFound
from repurpose.grains import Grain, grain
from repurpose.plain_text import check_plain_text
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.store import list_states

KIND = "library"
LIBRARIES_PREFIX = "libraries"
MAX_ALIASES = 50
MIN_PREFIX = 4


def compounds_path(library_id: str) -> str:
    """Artifact path of a library's compounds (Parquet: compound_id, smiles; sorted by id)."""
    return f"{LIBRARIES_PREFIX}/{library_id}/compounds.parquet"


def check_library_id(library_id: str) -> str:
    if not isinstance(library_id, str) or not re.match(LIBRARY_ID_PATTERN, library_id):
        raise InvalidInput(f"{library_id!r:.80} is not a library id (64 lower-case hex digits)")
    return library_id


# --- the grain -----------------------------------------------------------------------------------


class RecordedLibrary(BaseModel):
    """What the first registration established (never changed afterwards)."""

    name: str
    source: str
    format: LibraryFormat
    compounds: int
    created_at: dt.datetime
    extra_columns: list[str] = Field(default_factory=list)
    sample: list[LibraryCompound] = Field(default_factory=list)


class LibraryState(BaseModel):
    recorded: RecordedLibrary | None = None  # None: never registered
    aliases: list[str] = Field(default_factory=list)


class LibraryRecordOutcome(BaseModel):
    detail: LibraryDetail
    created: bool


@grain(KIND)
class CompoundLibrary(Grain[LibraryState]):
    """One compound library: its summary (the compounds are an artifact)."""

    async def record(self, build: LibraryBuild, alias: str | None = None) -> LibraryRecordOutcome:
        """Record the library whose compounds are stored already (registration calls this).

        The first call stores it; later ones only add ``alias`` (a name given at registration)."""
        check_library_id(self.key)
        build = LibraryBuild.model_validate(build)
        if build.library_id != self.key:
            raise InvalidInput(f"the build is of library {build.library_id}, not of {self.key}")
        recorded = self.state.recorded
        if recorded is not None:
            name = alias.strip() if alias is not None else ""
            known = name == recorded.name or name in self.state.aliases
            if name and not known and len(self.state.aliases) < MAX_ALIASES:
                self.state.aliases.append(name)
            return LibraryRecordOutcome(detail=self._detail(), created=False)
        if not await asyncio.to_thread(self.context.artifacts.exists, compounds_path(self.key)):
            raise InvalidInput(f"library {self.key} has no stored compounds: store them before recording it")
        self.state.recorded = RecordedLibrary(
            name=build.name,
            source=build.source,
            format=build.format,
            compounds=build.compounds,
            created_at=dt.datetime.now(dt.UTC),
            extra_columns=build.extra_columns,
            sample=build.sample,
        )
        return LibraryRecordOutcome(detail=self._detail(), created=True)

    def summary(self) -> LibrarySummary:
        return _summary_of(self.key, self.state)

    def show(self) -> LibraryDetail:
        return self._detail()

    def _detail(self) -> LibraryDetail:
        summary = _summary_of(self.key, self.state)
        recorded = self.state.recorded
        assert recorded is not None
        return LibraryDetail(**summary.model_dump(), extra_columns=recorded.extra_columns, sample=recorded.sample)


def _summary_of(library_id: str, state: LibraryState) -> LibrarySummary:
    recorded = state.recorded
    if recorded is None:
        raise LibraryNotFound(f"no compound library {library_id[:12]} is registered", library_id=library_id)
    return LibrarySummary(
        library_id=library_id,
        name=recorded.name,
        aliases=list(state.aliases),
        source=recorded.source,
        format=recorded.format,
        compounds=recorded.compounds,
        created_at=recorded.created_at,
        compounds_path=compounds_path(library_id),
    )


# --- reading the store ---------------------------------------------------------------------------


def list_libraries(engine: Engine) -> list[LibrarySummary]:
    """Every registered library, oldest first."""
    summaries = []
    for stored in list_states(engine, KIND):
        state = LibraryState.model_validate(stored.state)
        if state.recorded is not None:
            summaries.append(_summary_of(stored.key, state))
    return sorted(summaries, key=lambda s: (s.created_at, s.library_id))


def resolve_library(engine: Engine, reference: str) -> str:
    """The library id ``reference`` names: a full id, a unique id prefix (4+ hex digits), or a
    unique name or alias. LibraryNotFound if none matches, InvalidInput if several do."""
    reference = reference.strip() if isinstance(reference, str) else ""
    if not reference:
        raise InvalidInput("give a library id (or a unique prefix of it, or its name)")
    if re.match(LIBRARY_ID_PATTERN, reference):
        return reference
    libraries = list_libraries(engine)
    by_name = [v for v in libraries if reference == v.name or reference in v.aliases]
    by_prefix = (
        [v for v in libraries if v.library_id.startswith(reference.lower())] if len(reference) >= MIN_PREFIX else []
    )
    matches = {v.library_id: v for v in by_name or by_prefix}
    if not matches:
        raise LibraryNotFound(f"no compound library matches {reference!r}", library_id=reference)
    if len(matches) > 1:
        shown = ", ".join(f"{v.library_id[:12]} ({v.name})" for v in list(matches.values())[:5])
        raise InvalidInput(f"{reference!r} matches {len(matches)} libraries: {shown}; give more of the id")
    return next(iter(matches))


def find_compound(engine: Engine, artifacts: ArtifactStore, compound_id: str) -> LibraryCompound:
    """A compound of the registered libraries by its id (e.g. DB00317), with its SMILES.

    No index is kept: each library's Parquet is read with a filter on ``compound_id`` (its rows
    are sorted by id, so row-group statistics skip most of the file), oldest library first.
    CompoundNotFound if no library holds the id; InvalidInput if libraries give it different SMILES."""
    wanted = compound_id.strip() if isinstance(compound_id, str) else ""
    if not wanted or len(wanted) > MAX_COMPOUND_ID_LENGTH:
        raise InvalidInput(f"a compound id is 1 to {MAX_COMPOUND_ID_LENGTH} characters (e.g. DB00317)")
    check_plain_text(wanted, "compound id")
    libraries = list_libraries(engine)
    found: dict[str, list[str]] = {}  # SMILES -> the libraries giving it
    for library in libraries:
        with artifacts.open_read(compounds_path(library.library_id)) as f:
            table = pq.read_table(f, columns=["smiles"], filters=[("compound_id", "==", wanted)])
        for smiles in table.column("smiles").to_pylist():
            found.setdefault(smiles, []).append(library.name)
    if not found:
        registered = f"the {len(libraries)} registered libraries" if libraries else "any library: none is registered"
        raise CompoundNotFound(
            f"no compound {wanted!r:.80} in {registered}; register the library that holds it "
            "(`repurpose libraries register FILE`) or give the SMILES",
            compound_id=wanted,
        )
    if len(found) > 1:
        shown = "; ".join(f"{s!r:.60} in {', '.join(names)}" for s, names in found.items())
        raise InvalidInput(
            f"compound {wanted!r:.80} has different SMILES in the registered libraries ({shown}): give the SMILES"
        )
    return LibraryCompound(compound_id=wanted, smiles=next(iter(found)))


__all__ = [
    "KIND",
    "CompoundLibrary",
    "LibraryNotFound",
    "LibraryRecordOutcome",
    "LibraryState",
    "check_library_id",
    "compounds_path",
    "find_compound",
    "list_libraries",
    "resolve_library",
]
