"""Compound library files: an upload read, validated, normalised and named by its content.

A library is a table of compounds to screen: an id and a SMILES per row. Uploads are

- CSV (or TSV) with a header naming a compound id column (``compound_id``, else ``id``, else
  ``name``) and a ``smiles`` column, case-insensitively; other columns are ignored (and listed);
- ``.smi`` files: ``SMILES<whitespace>id`` per line (the id may contain spaces), an optional
  ``smiles id`` header line, ``#`` comment lines and blank lines skipped.

Normalisation strips whitespace around ids and SMILES and sorts the rows by id; the library id
is the sha256 of those rows, so the same compounds in any order are the same library. SMILES are
*not* parsed here: a screen featurises them and reports the ones that fail (id and reason)
without stopping. What ``build_library`` refuses (``InvalidTable``): a file over
``MAX_LIBRARY_BYTES``, one over ``max_rows`` compounds or ``max_columns`` columns
(``TableTooLarge``, HTTP 413: rows are counted while the file is read, and reading stops there),
one that is not UTF-8, missing or ambiguous columns, no rows, rows with an empty id or SMILES,
ids over ``MAX_COMPOUND_ID_LENGTH`` characters or with control characters, and duplicate ids
(the first ones are named). ``check_upload`` refuses what can be refused before the bytes
travel to a task (their size, the file and library names). Pure (no store, no Ray):
registration (``services.libraries``) runs ``build_library`` in a Ray task and stores the
compounds as Parquet (``library_to_parquet``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from repurpose.contracts.screening import MAX_LIBRARY_BYTES, LibraryCompound, LibraryFormat
from repurpose.data.upload_limits import UploadLimits, check_columns, counted
from repurpose.errors import InvalidInput, InvalidTable, TableTooLarge
from repurpose.plain_text import check_plain_text, hidden_character

NORMALISATION = "repurpose-library-v1"
MAX_COMPOUND_ID_LENGTH = 200
MAX_NAME_LENGTH = 200
SAMPLE_SIZE = 5
NAMED_PROBLEMS = 5  # rows or ids a refusal names before "and N more"

ID_COLUMNS = ("compound_id", "id", "name")
SMILES_COLUMN = "smiles"
_SMI_SUFFIXES = (".smi", ".smiles", ".ism", ".can")
_TSV_SUFFIXES = (".tsv", ".tab")
_SCHEMA = pa.schema(
    [pa.field("compound_id", pa.string(), nullable=False), pa.field("smiles", pa.string(), nullable=False)]
)


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


def check_upload(data: bytes, filename: str | None, name: str | None) -> None:
    """What can be refused before the bytes travel to a task: their type and size, the file name
    and the library name."""
    if not isinstance(data, bytes):
        raise InvalidInput(f"a library upload is the file's bytes, not {type(data).__name__}")
    if len(data) > MAX_LIBRARY_BYTES:
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
