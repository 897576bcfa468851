"""The CompoundLibrary grain (kind ``"library"``, key = the content id) and how to register one.

A library is a table of compounds to screen: an id and a SMILES per row. Uploads are

- CSV (or TSV) with a header naming a compound id column (``compound_id``, else ``id``, else
  ``name``) and a ``smiles`` column, case-insensitively; other columns are ignored (and listed);
- ``.smi`` files: ``SMILES<whitespace>id`` per line (the id may contain spaces), an optional
  ``smiles id`` header line, ``#`` comment lines and blank lines skipped.

Normalisation strips whitespace around ids and SMILES and sorts the rows by id; the library id
is the sha256 of those rows, so the same compounds in any order are the same library. SMILES are
*not* parsed here: a screen featurises them and reports the ones that fail (id and reason)
without stopping. What registration refuses (``InvalidTable``, nothing stored): a file over
``MAX_LIBRARY_BYTES``, one over ``settings.max_upload_rows`` compounds or ``max_upload_columns``
columns (``TableTooLarge``, HTTP 413: rows are counted while the file is read, and reading stops
there), one that is not UTF-8, missing or ambiguous
columns, no rows, rows with an empty id or SMILES, ids over ``MAX_COMPOUND_ID_LENGTH`` characters
or with control characters, and duplicate ids (the first ones are named).

Registering is two steps, as for datasets: a Ray task (``num_cpus=1``) parses and validates the
bytes and writes ``libraries/<id>/compounds.parquet`` (content-addressed: writing again changes
nothing); then the grain's ``record`` stores the summary. A later registration of the same
content stores nothing new but its name, as an alias.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from pydantic import BaseModel, Field
from ray.exceptions import RayTaskError
from sqlalchemy import Engine

from repurpose.contracts.ids import LIBRARY_ID_PATTERN
from repurpose.contracts.screening import (
    MAX_LIBRARY_BYTES,
    LibraryCompound,
    LibraryDetail,
    LibraryFormat,
    LibraryRegistration,
    LibrarySummary,
)
from repurpose.data.upload_limits import UploadLimits, check_columns, counted
from repurpose.errors import (
    CompoundNotFound,
    InvalidInput,
    InvalidTable,
    LibraryNotFound,
    RepurposeError,
    TableTooLarge,
)
from repurpose.grains import Grain, GrainClient, grain
from repurpose.plain_text import check_plain_text, hidden_character
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import await_task, get_task, reports_start
from repurpose.store import list_states

KIND = "library"
LIBRARIES_PREFIX = "libraries"
NORMALISATION = "repurpose-library-v1"
MAX_COMPOUND_ID_LENGTH = 200
MAX_NAME_LENGTH = 200
MAX_ALIASES = 50
MIN_PREFIX = 4
SAMPLE_SIZE = 5
NAMED_PROBLEMS = 5  # rows or ids a refusal names before "and N more"

ID_COLUMNS = ("compound_id", "id", "name")
SMILES_COLUMN = "smiles"
_SMI_SUFFIXES = (".smi", ".smiles", ".ism", ".can")
_TSV_SUFFIXES = (".tsv", ".tab")
_SCHEMA = pa.schema(
    [pa.field("compound_id", pa.string(), nullable=False), pa.field("smiles", pa.string(), nullable=False)]
)


def compounds_path(library_id: str) -> str:
    """Artifact path of a library's compounds (Parquet: compound_id, smiles; sorted by id)."""
    return f"{LIBRARIES_PREFIX}/{library_id}/compounds.parquet"


def check_library_id(library_id: str) -> str:
    if not isinstance(library_id, str) or not re.match(LIBRARY_ID_PATTERN, library_id):
        raise InvalidInput(f"{library_id!r:.80} is not a library id (64 lower-case hex digits)")
    return library_id


# --- parsing and validating (pure: no store, no Ray) ---------------------------------------------


class LibraryBuild(BaseModel):
    """What parsing an upload established (the compounds themselves go to Parquet)."""

    library_id: str
    name: str
    source: str
    format: LibraryFormat
    compounds: int
    extra_columns: list[str] = Field(default_factory=list)
    sample: list[LibraryCompound] = Field(default_factory=list)


@dataclass(frozen=True)
class ParsedLibrary:
    build: LibraryBuild
    compound_ids: list[str]  # sorted
    smiles: list[str]


def build_library(
    data: bytes,
    *,
    filename: str | None = None,
    name: str | None = None,
    max_bytes: int = MAX_LIBRARY_BYTES,
    limits: UploadLimits | None = None,
) -> ParsedLibrary:
    """Parse and validate an upload (see the module docs); InvalidTable says what is wrong."""
    limits = limits or UploadLimits()
    label = filename or "uploaded library"
    if len(data) > max_bytes:
        raise InvalidTable(f"{label}: {len(data):,} bytes is more than the {max_bytes:,} accepted; split the library")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidTable(f"{label}: not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start})") from None
    if not text.strip():
        raise InvalidTable(
            f"{label}: the file is empty; a library is a CSV with compound_id,smiles columns or a .smi file"
        )
    fmt = _guess_format(text, filename)
    if fmt == "smi":
        rows, extra = _read_smi(text, label, limits), list[str]()
    else:
        rows, extra = _read_table(text, label, "\t" if fmt == "tsv" else ",", limits)
    if not rows:
        raise InvalidTable(f"{label}: no compounds: the file has no rows")
    _check_rows(rows, label, "line" if fmt == "smi" else "row")
    rows.sort(key=lambda r: r[1])
    ids = [r[1] for r in rows]
    smiles = [r[2] for r in rows]
    build = LibraryBuild(
        library_id=library_content_id(ids, smiles),
        name=_display_name(name, filename),
        source=label,
        format=fmt,
        compounds=len(rows),
        extra_columns=extra,
        sample=[LibraryCompound(compound_id=i, smiles=s) for i, s in zip(ids[:SAMPLE_SIZE], smiles, strict=False)],
    )
    return ParsedLibrary(build=build, compound_ids=ids, smiles=smiles)


def library_content_id(compound_ids: list[str], smiles: list[str]) -> str:
    """sha256 of the normalised rows, in id order (one JSON array per row: unambiguous)."""
    digest = hashlib.sha256(f"{NORMALISATION}\n".encode())
    for row in sorted(zip(compound_ids, smiles, strict=True)):
        digest.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def library_to_parquet(compound_ids: list[str], smiles: list[str]) -> bytes:
    table = pa.Table.from_arrays(
        [pa.array(compound_ids, type=pa.string()), pa.array(smiles, type=pa.string())], schema=_SCHEMA
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


_Row = tuple[int, str, str]  # (row or line number, compound id, SMILES)


def _guess_format(text: str, filename: str | None) -> LibraryFormat:
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix in _SMI_SUFFIXES:
        return "smi"
    if suffix in _TSV_SUFFIXES:
        return "tsv"
    if suffix == ".csv":
        return "csv"
    first = next(line for line in text.splitlines() if line.strip())
    for separator, fmt in ((",", "csv"), ("\t", "tsv")):
        if SMILES_COLUMN in (field.strip().casefold() for field in first.split(separator)) and separator in first:
            return cast(LibraryFormat, fmt)
    return "smi"


def _read_table(text: str, label: str, delimiter: str, limits: UploadLimits) -> tuple[list[_Row], list[str]]:
    lines = (fields for fields in csv.reader(io.StringIO(text), delimiter=delimiter) if any(f.strip() for f in fields))
    try:
        first = next(lines, None)
        if first is None:  # every line is blank or blank fields (",,,")
            raise InvalidTable(
                f"{label}: no header: the file holds only blank lines; a library needs compound_id,smiles"
            )
        check_columns(len(first), label, limits)
        header = [name.strip() for name in first]
        id_index, smiles_index = _resolve_columns(header, label)
        data_lines = list(counted(lines, label, limits, unit="compounds"))  # refused as soon as it passes the limit
    except csv.Error as error:
        raise InvalidTable(f"{label}: cannot read it as CSV: {error}") from None
    extra = [name for i, name in enumerate(header) if i not in (id_index, smiles_index)]
    rows: list[_Row] = []
    for number, fields in enumerate(data_lines, start=1):
        if len(fields) != len(header):
            raise InvalidTable(
                f"{label}: row {number} has {len(fields)} fields, the header has {len(header)}", row=number
            )
        rows.append((number, fields[id_index].strip(), fields[smiles_index].strip()))
    return rows, extra


def _resolve_columns(header: list[str], label: str) -> tuple[int, int]:
    folded = [name.casefold() for name in header]

    def find(wanted: str) -> int | None:
        matches = [i for i, name in enumerate(folded) if name == wanted]
        if len(matches) > 1:
            names = ", ".join(header[i] for i in matches)
            raise InvalidTable(f"{label}: ambiguous columns {names}: which one is {wanted}?")
        return matches[0] if matches else None

    smiles_index = find(SMILES_COLUMN)
    id_index = next((i for i in (find(c) for c in ID_COLUMNS) if i is not None), None)
    missing = [what for what, i in (("a compound id", id_index), ("smiles", smiles_index)) if i is None]
    if id_index is None or smiles_index is None:
        raise InvalidTable(
            f"{label}: missing column(s): {' and '.join(missing)}; a library needs a compound id column "
            f"({', '.join(ID_COLUMNS)}) and a smiles column (found: {','.join(header) or 'none'})"
        )
    return id_index, smiles_index


def _read_smi(text: str, label: str, limits: UploadLimits) -> list[_Row]:
    rows: list[_Row] = []
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):  # \r, \r\n or \n
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if not rows and parts[0].casefold() == SMILES_COLUMN:  # a header line
            continue
        if len(parts) < 2:
            raise InvalidTable(
                f"{label}: line {number} has no compound id: a .smi line is SMILES, whitespace, then the id",
                row=number,
            )
        rows.append((number, parts[1].strip(), parts[0]))
        if len(rows) > limits.max_rows:
            raise TableTooLarge(
                f"{label}: more than the {limits.max_rows:,} compounds accepted (max_upload_rows, counted while "
                "reading); split the library"
            )
    return rows


def _check_rows(rows: list[_Row], label: str, unit: str) -> None:
    problems = [
        ("an empty compound id", [n for n, i, _ in rows if not i]),
        ("an empty SMILES", [n for n, _, s in rows if not s]),
        (
            f"a compound id over {MAX_COMPOUND_ID_LENGTH} characters",
            [n for n, i, _ in rows if len(i) > MAX_COMPOUND_ID_LENGTH],
        ),
        ("control or format characters in the compound id", [n for n, i, _ in rows if hidden_character(i)]),
    ]
    for what, numbers in problems:
        if numbers:
            raise InvalidTable(
                f"{label}: {len(numbers)} {unit}(s) with {what}: {unit} {_listed(numbers)}", row=numbers[0]
            )
    seen: dict[str, list[int]] = {}
    for number, compound_id, _ in rows:
        seen.setdefault(compound_id, []).append(number)
    duplicates = [(i, numbers) for i, numbers in seen.items() if len(numbers) > 1]
    if duplicates:
        duplicates.sort(key=lambda d: d[1][0])
        shown = ", ".join(f"{i} ({unit}s {', '.join(map(str, n[:3]))})" for i, n in duplicates[:NAMED_PROBLEMS])
        more = f" and {len(duplicates) - NAMED_PROBLEMS} more" if len(duplicates) > NAMED_PROBLEMS else ""
        raise InvalidTable(
            f"{label}: {len(duplicates)} duplicate compound id(s): {shown}{more}; every compound needs its own id",
            row=duplicates[0][1][1],
        )


def _listed(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:NAMED_PROBLEMS]))
    return shown + (f" and {len(numbers) - NAMED_PROBLEMS} more" if len(numbers) > NAMED_PROBLEMS else "")


def _display_name(name: str | None, filename: str | None) -> str:
    if name is not None and name.strip():
        return name.strip()
    return Path(filename).stem if filename else "library"


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
        """Record the library whose compounds are stored already (``register_library`` calls this).

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


# --- registration --------------------------------------------------------------------------------


@ray.remote(num_cpus=1)
@reports_start
def _build_task(
    data: bytes, filename: str | None, name: str | None, artifact_url: str, limits: UploadLimits
) -> LibraryBuild:
    """Parse and validate the upload, store its compounds; the build goes back."""
    parsed = build_library(data, filename=filename, name=name, limits=limits)
    artifacts = ArtifactStore(artifact_url)
    path = compounds_path(parsed.build.library_id)
    if not artifacts.exists(path):  # content-addressed: compounds already there are these compounds
        artifacts.put_bytes(path, library_to_parquet(parsed.compound_ids, parsed.smiles))
    return parsed.build


def register_library(
    client: GrainClient, data: bytes, *, filename: str | None = None, name: str | None = None
) -> LibraryRegistration:
    """Register a compound library (a CSV/TSV or .smi file's bytes); see the module docs.

    The same compounds (in any order) give the same id; registering them again stores nothing
    new but the name, as an alias. A refused file raises InvalidTable with the reason and stores
    nothing. Blocks; ``aregister_library`` is the same for async code.
    """
    _check_upload(data, filename, name)
    try:
        build = get_task(
            _build_task.remote(data, filename, name, client.settings.artifact_url, _limits(client)),
            "building the library",
            client.settings,
        )
    except RayTaskError as error:
        raise _domain_error(error) from None
    outcome = client.call(CompoundLibrary, build.library_id, "record", build, alias=name, idempotent=False)
    return _registration(outcome)


async def aregister_library(
    client: GrainClient, data: bytes, *, filename: str | None = None, name: str | None = None
) -> LibraryRegistration:
    """``register_library`` for async code (the gateway)."""
    _check_upload(data, filename, name)
    try:
        build = await await_task(
            _build_task.remote(data, filename, name, client.settings.artifact_url, _limits(client)),
            "building the library",
            client.settings,
        )
    except RayTaskError as error:
        raise _domain_error(error) from None
    outcome = await client.acall(CompoundLibrary, build.library_id, "record", build, alias=name, idempotent=False)
    return _registration(outcome)


def _check_upload(data: bytes, filename: str | None, name: str | None) -> None:
    if not isinstance(data, bytes):
        raise InvalidInput(f"a library upload is the file's bytes, not {type(data).__name__}")
    if len(data) > MAX_LIBRARY_BYTES:  # refuse before shipping it to a task
        label = filename or "uploaded library"
        raise InvalidTable(
            f"{label}: {len(data):,} bytes is more than the {MAX_LIBRARY_BYTES:,} accepted; split the library"
        )
    if filename is not None and (not isinstance(filename, str) or len(filename) > 500):
        raise InvalidInput("a library's file name is text of at most 500 characters")
    if name is not None and (not isinstance(name, str) or len(name.strip()) > MAX_NAME_LENGTH):
        raise InvalidInput(f"a library name is at most {MAX_NAME_LENGTH} characters")
    if name is not None:
        check_plain_text(name.strip(), "library name")


def _limits(client: GrainClient) -> UploadLimits:
    return UploadLimits.from_settings(client.settings)


def _registration(outcome: LibraryRecordOutcome) -> LibraryRegistration:
    return LibraryRegistration(**outcome.detail.model_dump(), created=outcome.created)


def _domain_error(error: RayTaskError) -> BaseException:
    cause: Any = getattr(error, "cause", None)
    return cause if isinstance(cause, RepurposeError) else error


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
    "LibraryBuild",
    "LibraryNotFound",
    "LibraryState",
    "aregister_library",
    "build_library",
    "check_library_id",
    "compounds_path",
    "find_compound",
    "library_content_id",
    "list_libraries",
    "register_library",
    "resolve_library",
]
