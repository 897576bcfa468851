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
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from repurpose.errors import InvalidTable, TableTooLarge

if TYPE_CHECKING:
    from repurpose.settings import Settings

DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_COLUMNS = 1_000

_T = TypeVar("_T")


class UploadLimits(BaseModel):
    """Most data rows (the header not counted) and columns an uploaded table may hold."""

    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1)
    max_columns: int = Field(default=DEFAULT_MAX_COLUMNS, ge=1)

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
