"""Dataset versions: a pair table read, normalised, validated and named by its content.

``build_dataset`` turns a CSV or Parquet of ``SMILES,Protein,Y`` into a ``DatasetBuild``: the
stored rows (columns ``smiles``, ``protein``, ``y``), their content id and a ``ValidationReport``.
It is pure (no store, no Ray): the DatasetVersion grain calls it and persists the result.

Decisions, and why:

- A bad row is rejected and reported; the other rows are kept. Unlike ``data.pairs.read_pairs``
  (which refuses a whole file so that a model's numbers are never about silently dropped rows),
  a registration stores its report next to the rows, so every dropped row stays visible.
- Normalisation: RDKit canonical SMILES, upper-cased proteins, whitespace stripped from every
  value and column name. Column names match exactly, else case-insensitively (``smiles``).
- Exact duplicates (same normalised SMILES, protein and label) are stored once: copies would
  weight the pair twice and, in a random split, put the same pair in training and test.
- A pair seen with both labels is dropped entirely and reported: neither label can be trusted,
  and picking one (majority, first) would be a guess presented as data.
- Stored rows are sorted by (smiles, protein, y) and the content id is the sha256 of those rows,
  so row order does not matter: a shuffled file is the same data. This also makes a split's row
  indices a function of (content id, seed) alone, whatever order the file came in.
- The id covers the stored rows only: rejected rows, duplicates and the name do not change it.
  ``NORMALISATION`` is hashed too; change it whenever normalisation changes, because canonical
  SMILES (and so ids) may also move with the RDKit version, which the report records.
- Row numbers count data rows from 1 (header and blank lines not counted), as ``data.pairs`` does.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict
from rdkit import Chem, rdBase

from repurpose.contracts.datasets import (
    MAX_DATASET_BYTES,
    NORMALISATION,
    ClassBalance,
    ConflictGroup,
    DuplicateGroup,
    LengthStats,
    RejectedRow,
    RowCounts,
    TableFormat,
    ValidationReport,
)
from repurpose.contracts.targets import MAX_PROTEIN_LENGTH, normalize_protein
from repurpose.data.drug_graph import parse_smiles
from repurpose.data.protein_encoding import PROTEIN_CODES
from repurpose.data.upload_limits import (
    PARQUET_MAGIC,
    UploadLimits,
    check_columns,
    check_parquet_shape,
    counted,
    open_parquet,
    read_parquet_text_columns,
)
from repurpose.errors import InvalidInput, InvalidTable

_T = TypeVar("_T")
SOURCE_COLUMNS = ("SMILES", "Protein", "Y")
ROW_COLUMNS = ("smiles", "protein", "y")
DEFAULT_MAX_LISTED = 1000  # entries per report list: a report must stay small enough to store and show

_AMINO_ACIDS = "".join(PROTEIN_CODES)
_PROTEIN_LETTERS = re.compile(f"[{_AMINO_ACIDS}{_AMINO_ACIDS.lower()}]+")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ROW_SCHEMA = pa.schema(
    [
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("protein", pa.string(), nullable=False),
        pa.field("y", pa.int8(), nullable=False),
    ]
)


class DatasetBuild(BaseModel):
    """A validated dataset version, ready to store: ``rows`` sorted, ``dataset_id`` their hash."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    dataset_id: str
    name: str
    rows: pd.DataFrame  # columns smiles (str), protein (str), y (int64 in {0, 1})
    report: ValidationReport


def build_dataset(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    filename: str | None = None,
    file_format: TableFormat | None = None,
    max_bytes: int = MAX_DATASET_BYTES,
    max_listed: int = DEFAULT_MAX_LISTED,
    limits: UploadLimits | None = None,
) -> DatasetBuild:
    """Read, normalise and validate a pair table; InvalidTable if nothing usable is in it.

    ``source`` is a path or the file's bytes; ``filename`` names bytes in messages and hints
    their format, which is otherwise taken from the content (Parquet's magic number), then from
    the suffix, else CSV. Files over ``max_bytes`` are refused before they are read, tables over
    ``limits`` (rows, columns) with TableTooLarge before their values are decoded.
    """
    limits = limits or UploadLimits()
    display_name = _display_name(name, filename if isinstance(source, bytes) else str(source))
    if file_format not in (None, "csv", "parquet"):
        raise InvalidInput(f"unknown table format {file_format!r}; use csv or parquet")
    label, data = _load(source, filename=filename, max_bytes=max_bytes)
    fmt = file_format or _guess_format(data, label)
    table = _read_parquet(data, label, limits) if fmt == "parquet" else _read_csv(data, label, limits)
    checked = _check_rows(table)
    if not checked.valid:
        shown = "; ".join(f"row {r.row}: {r.reason}" for r in checked.rejected[:3])
        more = f" (and {len(checked.rejected) - 3} more)" if len(checked.rejected) > 3 else ""
        raise InvalidTable(
            f"{label}: no valid row: all {len(checked.rejected)} rows were rejected; {shown}{more}",
            row=checked.rejected[0].row,
        )

    stored, duplicates, conflicts = _deduplicate(checked.valid)
    if not stored:
        raise InvalidTable(
            f"{label}: no row left: every one of the {len(conflicts)} distinct pairs has conflicting labels (0 and 1)"
        )
    stored.sort()  # the canonical order: hash and splits do not depend on the file's order
    rows = pd.DataFrame(
        {
            "smiles": [s for s, _, _ in stored],
            "protein": [p for _, p, _ in stored],
            "y": np.asarray([y for _, _, y in stored], dtype=np.int64),
        }
    )
    dataset_id = content_id(rows)
    positives = int(rows["y"].sum())
    protein_lengths = [len(p) for _, p, _ in stored]
    lists_complete = max(len(checked.rejected), len(duplicates), len(conflicts)) <= max_listed
    report = ValidationReport(
        dataset_id=dataset_id,
        name=display_name,
        source=label,
        format=fmt,
        counts=RowCounts(
            read=table.n_rows,
            valid=len(checked.valid),
            rejected=len(checked.rejected),
            duplicates_removed=sum(g.count - 1 for g in duplicates),
            conflicts_dropped=sum(len(g.positive_rows) + len(g.negative_rows) for g in conflicts),
            stored=len(stored),
            compounds=int(rows["smiles"].nunique()),
            proteins=int(rows["protein"].nunique()),
        ),
        rejected=checked.rejected[:max_listed],
        duplicates=duplicates[:max_listed],
        conflicts=conflicts[:max_listed],
        lists_complete=lists_complete,
        class_balance=ClassBalance(
            positives=positives, negatives=len(stored) - positives, positive_fraction=positives / len(stored)
        ),
        compound_heavy_atoms=length_stats([checked.heavy_atoms[s] for s, _, _ in stored]),
        protein_length=length_stats(protein_lengths),
        long_proteins=sum(length > MAX_PROTEIN_LENGTH for length in protein_lengths),
        extra_columns=table.extra_columns,
        rdkit_version=rdBase.rdkitVersion,
    )
    return DatasetBuild(dataset_id=dataset_id, name=display_name, rows=rows, report=report)


def length_stats(values: Sequence[int]) -> LengthStats:
    array = np.asarray(values, dtype=np.int64)
    return LengthStats(
        min=int(array.min()), median=float(np.median(array)), mean=float(array.mean()), max=int(array.max())
    )


def content_id(rows: pd.DataFrame) -> str:
    """sha256 of the normalised rows, in sorted order (so independent of the rows' order)."""
    digest = hashlib.sha256(f"{NORMALISATION}\n".encode())
    triples = zip(rows["smiles"].tolist(), rows["protein"].tolist(), rows["y"].tolist(), strict=True)
    # a tab and a newline occur in neither a canonical SMILES nor a sequence: the encoding is unambiguous
    for smiles, protein, y in sorted(triples):
        digest.update(f"{smiles}\t{protein}\t{int(y)}\n".encode())
    return digest.hexdigest()


def rows_to_parquet(rows: pd.DataFrame) -> bytes:
    """The rows as Parquet bytes with a fixed schema (smiles, protein: string; y: int8)."""
    table = pa.Table.from_arrays(
        [
            pa.array(rows["smiles"].tolist(), type=pa.string()),
            pa.array(rows["protein"].tolist(), type=pa.string()),
            pa.array(rows["y"].to_numpy(dtype=np.int8)),
        ],
        schema=_ROW_SCHEMA,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")  # proteins repeat: dictionary + zstd keep files small
    return sink.getvalue()


def rows_from_parquet(data: bytes, *, expected_id: str | None = None) -> pd.DataFrame:
    """Rows written by ``rows_to_parquet``; with ``expected_id``, also checks they hash to it."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as error:
        raise InvalidTable(f"stored dataset rows are not readable Parquet: {error}") from None
    if table.schema.names != list(ROW_COLUMNS):
        raise InvalidTable(
            f"stored dataset rows have columns {','.join(table.schema.names)}; expected {','.join(ROW_COLUMNS)}"
        )
    rows = pd.DataFrame(
        {
            "smiles": table.column("smiles").to_pylist(),
            "protein": table.column("protein").to_pylist(),
            "y": table.column("y").to_numpy().astype(np.int64),
        }
    )
    if expected_id is not None and (actual := content_id(rows)) != expected_id:
        raise InvalidTable(f"stored dataset rows hash to {actual}, not to their dataset id {expected_id}")
    return rows


# --- reading -------------------------------------------------------------------------------------


class _RawRow(NamedTuple):
    row: int
    smiles: object
    protein: object
    label: object
    shape_problem: str | None  # a CSV line with the wrong number of fields


@dataclass(frozen=True)
class _RawTable:
    rows: list[_RawRow]
    extra_columns: list[str]
    columns: list[str]  # the header's names of the columns read, in the order asked

    @property
    def n_rows(self) -> int:
        return len(self.rows)


def _load(source: str | Path | bytes, *, filename: str | None, max_bytes: int) -> tuple[str, bytes]:
    """(label for messages, the bytes), refusing oversized and empty input before parsing."""
    if isinstance(source, bytes):
        label = filename or "uploaded table"
        size = len(source)
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise InvalidTable(f"{label}: no such file")
        size = path.stat().st_size
    if size > max_bytes:
        raise InvalidTable(
            f"{label}: {size:,} bytes is more than the {max_bytes:,} accepted (max_bytes); "
            "split the table or raise the limit"
        )
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise InvalidTable(f"{label}: the file is empty (0 bytes); a pair table needs a header SMILES,Protein,Y")
    return label, data


def _guess_format(data: bytes, label: str) -> TableFormat:
    if data.startswith(PARQUET_MAGIC) or label.lower().endswith(_PARQUET_SUFFIXES):
        return "parquet"
    return "csv"


def _read_csv(data: bytes, label: str, limits: UploadLimits, columns: Sequence[str] = SOURCE_COLUMNS) -> _RawTable:
    try:
        text = data.decode("utf-8-sig")  # a BOM from spreadsheet exports is not part of the header
    except UnicodeDecodeError as error:
        raise InvalidTable(f"{label}: not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start})") from None
    # blank lines (including whitespace-only ones) are not rows
    lines = (fields for fields in csv.reader(io.StringIO(text)) if any(f.strip() for f in fields))
    try:
        first = next(lines, None)
        if first is None:
            raise InvalidTable(
                f"{label}: no header: the file holds only blank lines; a pair table needs SMILES,Protein,Y"
            )
        check_columns(len(first), label, limits)
        header = [name.strip() for name in first]
        indices, extra = _resolve_columns(header, label, columns)
        data_lines = list(counted(lines, label, limits))  # refused as soon as it passes the limit
    except csv.Error as error:
        raise InvalidTable(f"{label}: cannot read it as CSV: {error}") from None
    rows: list[_RawRow] = []
    for number, fields in enumerate(data_lines, start=1):
        if len(fields) != len(header):
            problem = f"has {len(fields)} fields, the header has {len(header)}"
            rows.append(_RawRow(number, None, None, None, problem))
            continue
        rows.append(_RawRow(number, fields[indices[0]], fields[indices[1]], fields[indices[2]], None))
    if not rows:
        raise InvalidTable(f"{label}: no rows: the file has a header but no pairs")
    return _RawTable(rows=rows, extra_columns=extra, columns=[header[i] for i in indices])


def _read_parquet(data: bytes, label: str, limits: UploadLimits, columns: Sequence[str] = SOURCE_COLUMNS) -> _RawTable:
    parquet = open_parquet(data, label)
    n_rows = check_parquet_shape(parquet, label, limits)  # from the footer: nothing decoded yet
    names = list(parquet.schema_arrow.names)
    header = [str(name).strip() for name in names]
    indices, extra = _resolve_columns(header, label, columns)
    if n_rows == 0:
        raise InvalidTable(f"{label}: no rows: the table has the columns but no pairs")
    if len(set(names)) != len(names):  # a repeated name cannot be read alone: refuse it rather than read all
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise InvalidTable(f"{label}: repeated column name(s) {', '.join(map(str, repeated))}: name each column once")
    wanted = [names[i] for i in indices]
    table = read_parquet_text_columns(data, label, wanted, limits)  # only these three, size-checked first
    values = [table.column(c).to_pylist() for c in wanted]
    rows = [_RawRow(n, s, p, y, None) for n, (s, p, y) in enumerate(zip(*values, strict=True), start=1)]
    return _RawTable(rows=rows, extra_columns=extra, columns=[header[i] for i in indices])


def _resolve_columns(
    header: list[str], label: str, columns: Sequence[str] = SOURCE_COLUMNS
) -> tuple[list[int], list[str]]:
    """Positions of the ``columns`` (SMILES, Protein, Y: each by its exact name, else the one
    case-insensitive match; ``"Protein|Target"``: the first of these found) and the names of the
    other columns."""
    indices: list[int] = []
    missing: list[str] = []
    for wanted in columns:
        found = None
        for choice in wanted.split("|"):
            found = _column(header, choice, label)
            if found is not None:
                break
        if found is None:
            missing.append(wanted.replace("|", " or "))
        else:
            indices.append(found)
    if missing:
        raise InvalidTable(
            f"{label}: missing column(s) {', '.join(missing)}; a pair table needs the columns "
            f"{','.join(c.replace('|', ' or ') for c in columns)} (found: {','.join(header) or 'none'})"
        )
    extra = [name for i, name in enumerate(header) if i not in indices]
    return indices, extra


def _column(header: list[str], wanted: str, label: str) -> int | None:
    """The position of ``wanted``: its exact name, else its one case-insensitive match."""
    if wanted in header:
        return header.index(wanted)
    matches = [i for i, name in enumerate(header) if name.casefold() == wanted.casefold()]
    if len(matches) > 1:
        names = ", ".join(header[i] for i in matches)
        raise InvalidTable(f"{label}: ambiguous columns {names}: which one is {wanted}?")
    return matches[0] if matches else None


def _display_name(name: str | None, origin: str | None) -> str:
    if name is not None and name.strip():
        if len(name.strip()) > 200:
            raise InvalidInput("a dataset name is at most 200 characters")
        return name.strip()
    return Path(origin).stem if origin else "dataset"


class TableRows(NamedTuple):
    """A pair table's rows as given (nothing checked yet): (row number, the values of ``columns``)."""

    label: str  # the file, for messages
    columns: list[str]  # the header's names of the columns read, in the order asked
    rows: list[tuple[int, object, object, object]]


def read_table_rows(
    source: bytes, *, filename: str | None, columns: Sequence[str], max_bytes: int, limits: UploadLimits
) -> TableRows:
    """Read a CSV or Parquet table's three ``columns`` (``"Protein|Target"``: either) as registration
    reads a dataset: the same limits, the same messages; a row with the wrong number of fields is
    refused here (InvalidTable naming it)."""
    label, data = _load(source, filename=filename, max_bytes=max_bytes)
    fmt = _guess_format(data, label)
    table = _read_parquet(data, label, limits, columns) if fmt == "parquet" else _read_csv(data, label, limits, columns)
    rows: list[tuple[int, object, object, object]] = []
    for raw in table.rows:
        if raw.shape_problem is not None:
            raise InvalidTable(f"{label}: row {raw.row}: {raw.shape_problem}", row=raw.row)
        rows.append((raw.row, raw.smiles, raw.protein, raw.label))
    return TableRows(label=label, columns=table.columns, rows=rows)


def check_compound(value: object) -> str:
    """The canonical SMILES of a table's SMILES value; InvalidInput with the reason registration gives."""
    compound = _canonical(value)
    if isinstance(compound, str):
        raise InvalidInput(compound)
    return compound[0]


def check_protein(value: object) -> str:
    """A table's protein value, normalised; InvalidInput with the reason registration gives."""
    protein, problem = _protein(value)
    if problem is not None:
        raise InvalidInput(problem)
    assert protein is not None
    return protein


def check_label(value: object) -> int:
    """A table's label, 0 or 1; InvalidInput with the reason registration gives."""
    label = _label(value)
    if isinstance(label, str):
        raise InvalidInput(label)
    return label


# --- validating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CheckedRows:
    valid: list[tuple[int, str, str, int]]  # (row, canonical SMILES, protein, y)
    rejected: list[RejectedRow]
    heavy_atoms: dict[str, int]  # canonical SMILES -> heavy atoms


def _check_rows(table: _RawTable) -> _CheckedRows:
    # Libraries repeat compounds and targets: parse and validate each distinct value once.
    # Only text is cached: Parquet can hold unhashable values (lists), refused row by row.
    smiles_seen: dict[str, tuple[str, int] | str] = {}
    proteins_seen: dict[str, tuple[str, None] | tuple[None, str]] = {}
    valid: list[tuple[int, str, str, int]] = []
    rejected: list[RejectedRow] = []
    heavy_atoms: dict[str, int] = {}
    for raw in table.rows:
        if raw.shape_problem is not None:
            rejected.append(RejectedRow(row=raw.row, columns=[], reason=raw.shape_problem))
            continue
        problems: list[tuple[str, str]] = []
        compound = _memo(smiles_seen, raw.smiles, _canonical)
        if isinstance(compound, str):
            problems.append(("SMILES", compound))
        protein, protein_problem = _memo(proteins_seen, raw.protein, _protein)
        if protein_problem is not None:
            problems.append(("Protein", protein_problem))
        label = _label(raw.label)
        if isinstance(label, str):
            problems.append(("Y", label))
        if problems:
            rejected.append(
                RejectedRow(row=raw.row, columns=[c for c, _ in problems], reason="; ".join(m for _, m in problems))
            )
            continue
        assert isinstance(compound, tuple) and isinstance(protein, str) and isinstance(label, int)
        heavy_atoms[compound[0]] = compound[1]
        valid.append((raw.row, compound[0], protein, label))
    return _CheckedRows(valid=valid, rejected=rejected, heavy_atoms=heavy_atoms)


def _memo(cache: dict[str, _T], value: object, check: Callable[[object], _T]) -> _T:
    """``check(value)``, computed once per distinct text."""
    if not isinstance(value, str):
        return check(value)
    if value not in cache:
        cache[value] = check(value)
    return cache[value]


def _canonical(value: object) -> tuple[str, int] | str:
    """(canonical SMILES, heavy atoms), or the reason it is refused."""
    if value is not None and not isinstance(value, str) and not _is_missing(value):
        return f"SMILES must be text, not {type(value).__name__} {value!r}"
    try:
        mol = parse_smiles(value if isinstance(value, str) else "")
    except InvalidInput as error:
        return error.message
    return str(Chem.MolToSmiles(mol)), int(mol.GetNumHeavyAtoms())


def _protein(value: object) -> tuple[str, None] | tuple[None, str]:
    """(normalised sequence, None), or (None, the reason it is refused)."""
    if value is not None and not isinstance(value, str) and not _is_missing(value):
        return None, f"protein must be text, not {type(value).__name__} {value!r}"
    text = value.strip() if isinstance(value, str) else ""
    if _PROTEIN_LETTERS.fullmatch(text):
        return text.upper(), None  # the common case, without normalize_protein's per-letter loop
    try:
        return normalize_protein(text), None  # its message names the bad character and position
    except InvalidInput as error:
        return None, error.message


def _label(value: object) -> int | str:
    """0 or 1, or the reason it is refused. Accepts 0/1 as text, integers, floats and booleans."""
    if value is None or _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return "missing label Y: it must be 0 or 1"
    if isinstance(value, bool):
        return int(value)
    number = float("nan")  # anything unreadable is reported below with the value as given
    if isinstance(value, int | float | str):
        with contextlib.suppress(ValueError):
            number = float(value.strip() if isinstance(value, str) else value)
    if number in (0.0, 1.0):
        return int(number)
    shown = value.strip() if isinstance(value, str) else value
    return f"label Y={shown!r} is not 0 or 1"


def _is_missing(value: object) -> bool:
    return isinstance(value, float) and value != value  # NaN from Parquet nulls read as floats


def _deduplicate(
    valid: list[tuple[int, str, str, int]],
) -> tuple[list[tuple[str, str, int]], list[DuplicateGroup], list[ConflictGroup]]:
    """Stored (smiles, protein, y) triples, duplicate groups and conflict groups (by first row)."""
    by_pair: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row, smiles, protein, y in valid:
        by_pair.setdefault((smiles, protein), []).append((row, y))
    stored: list[tuple[str, str, int]] = []
    duplicates: list[DuplicateGroup] = []
    conflicts: list[ConflictGroup] = []
    for (smiles, protein), hits in by_pair.items():
        labels = {y for _, y in hits}
        if len(labels) > 1:
            conflicts.append(
                ConflictGroup(
                    smiles=smiles,
                    protein=protein,
                    positive_rows=[r for r, y in hits if y == 1],
                    negative_rows=[r for r, y in hits if y == 0],
                )
            )
            continue
        y = hits[0][1]
        stored.append((smiles, protein, y))
        if len(hits) > 1:
            duplicates.append(
                DuplicateGroup(smiles=smiles, protein=protein, y=y, count=len(hits), rows=[r for r, _ in hits])
            )
    return stored, duplicates, conflicts
