"""Every score of a screen from the artifact store: streamed CSV and Parquet, JSON pages, and the
partial ranks of a job that has not finished. The files are written by the screening worker's own
functions (``write_chunk``, ``merge_results``), on a local artifact store; no Ray."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from repurpose.artifacts import ArtifactStore
from repurpose.contracts.scoring import ChunkScores, CompoundError
from repurpose.contracts.screening import MAX_TOP
from repurpose.screen_results import (
    ScoresSource,
    csv_stream,
    parquet_stream,
    results_page,
    rows_table,
    score_batches,
)
from repurpose.screening_worker import chunk_path, merge_results, read_results, results_path, write_chunk

JOB = "scr-0123456789ab"
TARGETS = ["EGFR", "ABL1"]
COMPOUNDS = MAX_TOP + 7  # more than the most a top-K answer gives
CHUNK = 4_000


def score(target: int, row: int) -> float:
    return ((row * 7919 + target * 104_729) % 100_003) / 100_003


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    """A job's chunks for two targets (row 3 failed featurisation), merged as a finished job's are."""
    store = ArtifactStore(str(tmp_path / "artifacts"))
    for t, target in enumerate(TARGETS):
        for n, lo in enumerate(range(0, COMPOUNDS, CHUNK)):
            rows = range(lo, min(lo + CHUNK, COMPOUNDS))
            scores = ChunkScores(
                scores=[None if r == 3 else score(t, r) for r in rows],
                failures=[CompoundError(index=3 - lo, smiles="C1CC", reason="unclosed ring")]
                if lo <= 3 < rows.stop
                else [],
                seconds=0.1,
            )
            write_chunk(store, chunk_path(JOB, target, n), lo, [f"C{r:05d}" for r in rows], ["CCO"] * len(rows), scores)
    merge_results(store, JOB, TARGETS, len(range(0, COMPOUNDS, CHUNK)))
    return store


def finished(targets: list[str] = TARGETS) -> ScoresSource:
    return ScoresSource(job_id=JOB, status="succeeded", complete=True, targets=targets, results_path=results_path(JOB))


def test_every_score_streams_as_csv_and_parquet_in_rank_order(artifacts: ArtifactStore) -> None:
    scored = COMPOUNDS - 1
    text = b"".join(csv_stream(score_batches(artifacts, finished(), batch_rows=1_000))).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.startswith("target_id,rank,compound_id,smiles,score\n")
    assert len(rows) == 2 * scored > MAX_TOP
    assert [(r["target_id"], int(r["rank"])) for r in rows] == [(t, k) for t in TARGETS for k in range(1, scored + 1)]
    egfr = [float(r["score"]) for r in rows[:scored]]
    assert egfr == sorted(egfr, reverse=True) and "C00003" not in {r["compound_id"] for r in rows}
    # the best K agree with what a top-K answer reads from the same file, digit for digit
    best = read_results(artifacts, JOB, TARGETS, 5)
    assert [(r.target_id, r.compound_id, repr(r.score)) for r in best[:5]] == [
        (r["target_id"], r["compound_id"], r["score"]) for r in rows[:5]
    ]

    data = b"".join(parquet_stream(score_batches(artifacts, finished(["ABL1"]), batch_rows=1_000)))
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == scored and set(table.column("target_id").to_pylist()) == {"ABL1"}
    assert table.column("rank").to_pylist() == list(range(1, scored + 1))
    assert table.column("score").to_pylist() == [float(r["score"]) for r in rows[scored:]]


def test_json_pages_cover_every_score_once(artifacts: ArtifactStore) -> None:
    seen: list[tuple[str, int]] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = results_page(artifacts, finished(), offset, 7_000)
        assert page.total == 2 * (COMPOUNDS - 1) and page.offset == offset and page.complete
        seen.extend((r.target_id, r.rank) for r in page.rows)
        offset, pages = page.next_offset, pages + 1
    assert pages == 3 and seen == [(t, k) for t in TARGETS for k in range(1, COMPOUNDS)]
    beyond = results_page(artifacts, finished(), 10**9, 10)
    assert beyond.rows == [] and beyond.next_offset is None


def test_a_running_job_streams_the_chunks_done_ranked_among_themselves(artifacts: ArtifactStore) -> None:
    running = ScoresSource(job_id=JOB, status="running", complete=False, targets=["EGFR"], done={"EGFR": [1, 2]})
    table = pq.read_table(io.BytesIO(b"".join(parquet_stream(score_batches(artifacts, running)))))
    assert table.num_rows == COMPOUNDS - CHUNK  # chunks 1 and 2: rows 4,000 to the end
    assert table.column("rank").to_pylist() == list(range(1, table.num_rows + 1))
    assert min(int(c[1:]) for c in table.column("compound_id").to_pylist()) == CHUNK


def test_top_k_rows_as_parquet_keep_the_results_schema(artifacts: ArtifactStore) -> None:
    best = read_results(artifacts, JOB, TARGETS, 3)
    back = pq.read_table(io.BytesIO(b"".join(parquet_stream(rows_table(best).to_batches()))))
    assert back.schema.names == ["target_id", "compound_id", "smiles", "score", "rank"]
    assert back.column("rank").to_pylist() == [1, 2, 3, 1, 2, 3]
