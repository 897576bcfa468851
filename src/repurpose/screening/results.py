"""A screening job's results, read straight from its files in the artifact store (``screening.files``).

The best ``top`` (at most ``MAX_TOP``) per target, what ``ScreeningJob.results`` answers beyond
the hits its state keeps: ``read_results`` (from the merged results file of a finished job) and
``read_partial_results`` (from the chunks recorded so far).

Every score, a whole library's, is read here too. The grain's ``scores_source`` says what to
read (a ``ScoresSource``): the merged ``results.parquet`` of a succeeded job, or the chunks a
running or stopped job has recorded (ranked among themselves, ``complete`` False). The screens
service (``services.screens``) then reads it with the functions below, one record batch at a time, so no screen is
ever held whole in memory:

- ``score_batches``: record batches with the results file's columns (target_id, compound_id,
  smiles, score, rank and the evidence columns: ``drug_like`` on every row, the training data's
  evidence on the hits the job kept), by target in the request's order, then rank (best first);
- ``csv_stream`` and ``parquet_stream``: the bytes of a download (the CSV has the columns and
  number format of ``ScreenResults.to_csv``, the Parquet the results file's schema);
- ``score_page``: rows ``offset`` to ``offset + limit`` of that order, and how many there are,
  for JSON paging.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from repurpose.contracts.screening import RESULT_COLUMNS, ScreenResultRow, ScreenResults, ScreenStatus, csv_cells
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.screening.files import RESULTS_SCHEMA, ranked_scores, results_path, with_evidence_columns

BATCH_ROWS = 8_192
CSV_COLUMNS = RESULT_COLUMNS
MAX_PAGE = 10_000
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


class ScoresSource(BaseModel):
    """Where every score of a job is (what ``ScreeningJob.scores_source`` answers)."""

    job_id: str
    status: ScreenStatus
    complete: bool = Field(description="False while the job runs (or if it stopped): ranks among the chunks done.")
    targets: list[str] = Field(description="The targets asked for, in the request's order.")
    results_path: str | None = Field(default=None, description="The merged results of a succeeded job.")
    done: dict[str, list[int]] = Field(default_factory=dict, description="Otherwise: chunks recorded per target.")


def read_results(
    artifacts: ArtifactStore, job_id: str, targets: Sequence[str], top: int, drug_like_only: bool = False
) -> list[ScreenResultRow]:
    """The best ``top`` per target from ``results.parquet``, by target (in the given order), then
    rank; ``drug_like_only``: of the drug-like compounds, ranked among themselves (as the job's hits)."""
    filters: list[Any] = [("target_id", "in", list(targets))]
    filters.append(("drug_like", "=", True) if drug_like_only else ("rank", "<=", top))
    with artifacts.open_read(results_path(job_id)) as f:
        table = pq.read_table(f, filters=filters)
    by_target: dict[str, list[ScreenResultRow]] = {t: [] for t in targets}
    for row in table.to_pylist():
        by_target[row["target_id"]].append(ScreenResultRow(**row))
    return [row for t in targets for row in _reranked(sorted(by_target[t], key=lambda r: r.rank)[:top])]


def read_partial_results(
    artifacts: ArtifactStore,
    job_id: str,
    done: dict[str, list[int]],
    targets: Sequence[str],
    top: int,
    drug_like_only: bool = False,
) -> list[ScreenResultRow]:
    """The best ``top`` per target among the chunks recorded so far (a running or stopped job)."""
    out: list[ScreenResultRow] = []
    for target in targets:
        table = ranked_scores(artifacts, job_id, target, sorted(done.get(target, [])))
        if drug_like_only:
            table = table.filter(pc.fill_null(table.column("drug_like"), False))
        out.extend(_reranked([ScreenResultRow(**row) for row in table.slice(0, top).to_pylist()]))
    return out


def _reranked(rows: list[ScreenResultRow]) -> list[ScreenResultRow]:
    """Rows in rank order, ranked 1, 2, … among themselves (the drug-like ones among every score)."""
    return [row if row.rank == rank else row.model_copy(update={"rank": rank}) for rank, row in enumerate(rows, 1)]


def score_batches(
    artifacts: ArtifactStore, source: ScoresSource, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Every score of ``source`` as record batches (results file schema), by target, then rank."""
    if source.results_path is not None:
        wanted = pa.array(source.targets, type=pa.string())
        with artifacts.open_read(source.results_path) as f:
            results = pq.ParquetFile(f)
            # a screen finished before an upgrade lacks the newer columns: read those it has
            present = set(results.schema_arrow.names)
            columns = [name for name in RESULTS_SCHEMA.names if name in present]
            for batch in results.iter_batches(batch_size=batch_rows, columns=columns):
                kept = batch.filter(pc.is_in(batch.column("target_id"), value_set=wanted))
                if kept.num_rows:
                    yield kept if len(columns) == len(RESULTS_SCHEMA) else _completed(kept)
        return
    for target in source.targets:
        table = ranked_scores(artifacts, source.job_id, target, sorted(source.done.get(target, [])))
        yield from table.to_batches(max_chunksize=batch_rows)


def _completed(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch of an older results file with the missing evidence columns as nulls (results schema)."""
    table = with_evidence_columns(pa.Table.from_batches([batch])).select(RESULTS_SCHEMA.names)
    return table.cast(RESULTS_SCHEMA).combine_chunks().to_batches()[0]


def csv_stream(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """A header line, then the rows of each batch (``csv_cells``: numbers as ``repr``, no digit lost)."""
    yield (",".join(CSV_COLUMNS) + "\n").encode()
    for batch in batches:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = [batch.column(name).to_pylist() for name in CSV_COLUMNS]
        for values in zip(*columns, strict=True):
            writer.writerow(csv_cells(values))
        yield buffer.getvalue().encode()


def parquet_stream(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """A Parquet file (the results file's schema, a row group per batch), in pieces as written."""
    spool = _Spool()
    with pq.ParquetWriter(spool, RESULTS_SCHEMA, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            if piece := spool.drain():
                yield piece
    yield spool.drain()  # the footer


def score_page(
    artifacts: ArtifactStore, source: ScoresSource, offset: int, limit: int
) -> tuple[list[ScreenResultRow], int]:
    """Rows ``offset`` to ``offset + limit`` (by target, then rank) and how many rows there are in all."""
    rows: list[ScreenResultRow] = []
    total = 0
    for batch in score_batches(artifacts, source):
        start, end = total, total + batch.num_rows
        total = end
        lo, hi = max(offset, start), min(offset + limit, end)
        if lo < hi:
            rows.extend(ScreenResultRow(**row) for row in batch.slice(lo - start, hi - lo).to_pylist())
    return rows, total


def results_page(
    artifacts: ArtifactStore, source: ScoresSource, offset: int, limit: int, target: str | None = None
) -> ScreenResults:
    """A page of every score as ``ScreenResults`` (``total`` and ``next_offset`` set)."""
    rows, total = score_page(artifacts, source, offset, limit)
    end = offset + len(rows)
    return ScreenResults(
        job_id=source.job_id,
        status=source.status,
        top=total,
        target=target,
        complete=source.complete,
        source="parquet" if source.results_path is not None else "chunks",
        rows=rows,
        offset=offset,
        total=total,
        next_offset=end if end < total else None,
    )


def rows_table(rows: Iterable[ScreenResultRow]) -> pa.Table:
    """Result rows as a table with the results file's schema."""
    listed = list(rows)
    return pa.Table.from_pylist([row.model_dump() for row in listed], schema=RESULTS_SCHEMA)


class _Spool(io.RawIOBase):
    """A write-only file that hands out what was written since the last ``drain``; ``tell`` keeps
    counting from the start (the Parquet footer records absolute offsets)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        piece = bytes(data)
        self._parts.append(piece)
        self._position += len(piece)
        return len(piece)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        piece = b"".join(self._parts)
        self._parts.clear()
        return piece
