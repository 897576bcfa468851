"""How many rows and columns an uploaded table may hold, checked before its values are decoded.

A byte limit alone does not bound the work: a 200 KB dictionary-encoded, zstd-compressed
Parquet file can hold millions of identical rows, gigabytes once decoded. So a Parquet file's
row and column counts are read from its footer (metadata only) and refused above the limits
before any column is read, and a CSV, TSV or .smi file's rows are counted while it is read and
refused as soon as the count passes the limit. The refusal is ``TableTooLarge`` (HTTP 413).

The limits come from ``settings.max_upload_rows`` and ``settings.max_upload_columns`` (the same
for datasets and compound libraries, through the gateway and the CLI alike).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from repurpose.errors import InvalidTable, TableTooLarge

if TYPE_CHECKING:
    from repurpose.settings import Settings

PARQUET_MAGIC = b"PAR1"  # a Parquet file's first (and last) four bytes
DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_COLUMNS = 1_000
# The most bytes the SMILES and Protein values of a table may decode to: 1,000,000 pairs of a
# 100-character SMILES and a 900-residue protein. A few kilobytes of dictionary-encoded
# Parquet can repeat one long value millions of times, so rows alone do not bound the memory.
DEFAULT_MAX_DECODED_BYTES = 1_000_000_000

_T = TypeVar("_T")


class UploadLimits(BaseModel):
    """Most data rows (the header not counted) and columns an uploaded table may hold."""

    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1)
    max_columns: int = Field(default=DEFAULT_MAX_COLUMNS, ge=1)
    max_decoded_bytes: int = Field(default=DEFAULT_MAX_DECODED_BYTES, ge=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(max_rows=settings.max_upload_rows, max_columns=settings.max_upload_columns)


def open_parquet(data: bytes, label: str) -> pq.ParquetFile:
    """The file with its footer parsed (no column read yet); InvalidTable if it is not Parquet."""
    try:
        return pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as error:
        raise InvalidTable(f"{label}: cannot read it as Parquet: {error}") from None


def check_parquet_shape(parquet: pq.ParquetFile, label: str, limits: UploadLimits, unit: str = "rows") -> int:
    """The row count from the footer; TableTooLarge above the limits (nothing decoded yet)."""
    metadata = parquet.metadata
    # the row groups' own counts are what a reader decodes: a footer whose total says less is not believed
    rows = max(metadata.num_rows, sum(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)))
    check_columns(metadata.num_columns, label, limits)
    if rows > limits.max_rows:
        raise TableTooLarge(
            f"{label}: {rows:,} {unit} (from the Parquet metadata) is more than the {limits.max_rows:,} accepted "
            f"(max_upload_rows); split the table"
        )
    return rows


def read_parquet_text_columns(data: bytes, label: str, columns: list[str], limits: UploadLimits) -> pa.Table:
    """The named columns of a Parquet table, their text values held dictionary-encoded.

    Refused (TableTooLarge) before anything is expanded when the column chunks' own sizes, or the
    bytes the text values would decode to (each dictionary value's length times its uses, summed
    on the integer indices), pass ``limits.max_decoded_bytes``; nested columns (lists, structs)
    are refused as such: a one-row file can hold a list of millions of strings."""
    parquet = open_parquet(data, label)
    schema = parquet.schema_arrow
    for name in columns:
        kind = schema.field(name).type
        if pa.types.is_nested(kind):
            raise InvalidTable(f"{label}: column {name} holds {kind}, not one value per row")
    metadata = parquet.metadata
    positions = [schema.get_field_index(name) for name in columns]
    stored = sum(
        metadata.row_group(g).column(c).total_uncompressed_size
        for g in range(metadata.num_row_groups)
        for c in positions
    )
    _check_decoded(stored, label, limits)
    text = [name for name in columns if _is_text(schema.field(name).type)]
    try:
        reader = pq.ParquetFile(io.BytesIO(data), read_dictionary=text)
        table = reader.read(columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise InvalidTable(f"{label}: cannot read it as Parquet: {error}") from None
    decoded = 0
    for name in text:
        for chunk in table.column(name).chunks:
            if isinstance(chunk, pa.DictionaryArray):
                lengths = pc.binary_length(chunk.dictionary).cast(pa.int64())
                decoded += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
            else:
                decoded += chunk.nbytes
    _check_decoded(decoded, label, limits)
    return table


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _check_decoded(size: int, label: str, limits: UploadLimits) -> None:
    if size > limits.max_decoded_bytes:
        raise TableTooLarge(
            f"{label}: its values decode to {size:,} bytes, more than the {limits.max_decoded_bytes:,} accepted; "
            "split the table"
        )


def check_columns(columns: int, label: str, limits: UploadLimits) -> None:
    if columns > limits.max_columns:
        raise TableTooLarge(
            f"{label}: {columns:,} columns is more than the {limits.max_columns:,} accepted (max_upload_columns); "
            "keep only the columns needed"
        )


def counted(rows: Iterable[_T], label: str, limits: UploadLimits, unit: str = "rows") -> Iterator[_T]:
    """``rows`` one by one, refused (TableTooLarge) as soon as there are more than the limit:
    what was read so far is all that was ever held."""
    for count, row in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise TableTooLarge(
                f"{label}: more than the {limits.max_rows:,} {unit} accepted (max_upload_rows, counted while "
                "reading); split the table"
            )
        yield row
