"""A screening job's files in the artifact store: one Parquet file per scored chunk, then the
merged results.

- ``screens/<job>/<target>/chunk-<n>.parquet`` (``CHUNK_SCHEMA``): a chunk's rows in the library's
  order (row, compound_id, smiles, score, error, the evidence columns), written atomically by the
  attempt that scored it *before* it reports the chunk to its grain;
- ``screens/<job>/results.parquet`` (``RESULTS_SCHEMA``): every chunk merged when the last is
  done (target_id, compound_id, smiles, score, rank and the evidence columns: ``drug_like`` for
  every row, the training data's evidence for the hits that got it, null beyond; one row group
  per target, ranked by score, ties by compound id; failed compounds left out).

Reading them (the best ``top``, every score a batch at a time) is ``screening.results``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from repurpose.contracts.scoring import BinderEvidence, ChunkScores
from repurpose.contracts.screening import EVIDENCE_COLUMNS
from repurpose.runtime.artifacts import ArtifactStore

SCREENS_PREFIX = "screens"

_EVIDENCE_TYPES = {
    "drug_like": pa.bool_(),
    "drug_like_issue": pa.string(),
    "nearest_binder_id": pa.string(),
    "nearest_binder_smiles": pa.string(),
    "nearest_binder_tanimoto": pa.float64(),
    "max_training_tanimoto": pa.float64(),
    "in_domain": pa.bool_(),
}
EVIDENCE_FIELDS = [pa.field(name, _EVIDENCE_TYPES[name]) for name in EVIDENCE_COLUMNS]
CHUNK_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("compound_id", pa.string(), nullable=False),
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("error", pa.string()),
        *EVIDENCE_FIELDS,
    ]
)
RESULTS_SCHEMA = pa.schema(
    [
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("compound_id", pa.string(), nullable=False),
        pa.field("smiles", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        *EVIDENCE_FIELDS,
    ]
)


def chunk_path(job_id: str, target_id: str, chunk: int) -> str:
    return f"{SCREENS_PREFIX}/{job_id}/{target_id}/chunk-{chunk}.parquet"


def results_path(job_id: str) -> str:
    return f"{SCREENS_PREFIX}/{job_id}/results.parquet"


def write_chunk(
    artifacts: ArtifactStore,
    path: str,
    first_row: int,
    compound_ids: Sequence[str],
    smiles: Sequence[str],
    scores: ChunkScores,
    issues: Sequence[str | None] | None = None,
    evidence: dict[int, BinderEvidence] | None = None,
) -> None:
    """A chunk's rows; ``issues`` (why each compound is not drug-like) and ``evidence`` (by
    position) fill the evidence columns, null where not given or the compound failed."""
    errors: list[str | None] = [None] * len(compound_ids)
    for failure in scores.failures:
        errors[failure.index] = failure.reason
    columns: dict[str, list[Any]] = {name: [None] * len(compound_ids) for name in EVIDENCE_COLUMNS}
    for i, score in enumerate(scores.scores):
        if score is not None and issues is not None:
            columns["drug_like"][i], columns["drug_like_issue"][i] = issues[i] is None, issues[i]
    for i, found in (evidence or {}).items():
        for name, value in found.model_dump().items():
            columns[name][i] = value
    table = pa.Table.from_arrays(
        [
            pa.array(range(first_row, first_row + len(compound_ids)), type=pa.int64()),
            pa.array(list(compound_ids), type=pa.string()),
            pa.array(list(smiles), type=pa.string()),
            pa.array(scores.scores, type=pa.float64()),
            pa.array(errors, type=pa.string()),
            *(pa.array(columns[f.name], type=f.type) for f in EVIDENCE_FIELDS),
        ],
        schema=CHUNK_SCHEMA,
    )
    with artifacts.open_write(path) as f:
        pq.write_table(table, f, compression="zstd")


_RANKED_COLUMNS = ["compound_id", "smiles", "score", *EVIDENCE_COLUMNS]


def ranked_scores(artifacts: ArtifactStore, job_id: str, target_id: str, chunks: Sequence[int]) -> pa.Table:
    """A target's scored compounds from the given chunks, best first (ties by compound id), ranked."""
    parts = []
    for n in chunks:
        with artifacts.open_read(chunk_path(job_id, target_id, n)) as f:
            parts.append(with_evidence_columns(pq.read_table(f)).select(_RANKED_COLUMNS))
    table = pa.concat_tables(parts) if parts else CHUNK_SCHEMA.empty_table().select(_RANKED_COLUMNS)
    table = table.filter(pc.is_valid(table.column("score")))
    table = table.sort_by([("score", "descending"), ("compound_id", "ascending")])
    return pa.Table.from_arrays(
        [
            pa.array([target_id] * table.num_rows, type=pa.string()),
            table.column("compound_id"),
            table.column("smiles"),
            table.column("score"),
            pa.array(range(1, table.num_rows + 1), type=pa.int64()),
            *(table.column(name) for name in EVIDENCE_COLUMNS),
        ],
        schema=RESULTS_SCHEMA,
    )


def with_evidence_columns(table: pa.Table) -> pa.Table:
    """A chunk or results file written before the evidence columns existed (a job resumed, or a
    screen finished, before an upgrade): the missing ones as nulls."""
    for field in EVIDENCE_FIELDS:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, type=field.type))
    return table


def merge_results(artifacts: ArtifactStore, job_id: str, targets: Sequence[str], chunks: int) -> int:
    """Merge every chunk into ``results.parquet`` (a row group per target); returns the rows written."""
    rows = 0
    with artifacts.open_write(results_path(job_id)) as f, pq.ParquetWriter(f, RESULTS_SCHEMA, compression="zstd") as w:
        for target in targets:
            table = ranked_scores(artifacts, job_id, target, range(chunks))
            w.write_table(table)
            rows += table.num_rows
    return rows
