"""Every score of a screen from the artifact store: streamed CSV and Parquet, JSON pages, and the
partial ranks of a job that has not finished. The files are written by the screening worker's own
functions (``write_chunk``, ``merge_results``), on a local artifact store; no Ray."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repurpose.contracts.scoring import BinderEvidence, ChunkScores, CompoundError
from repurpose.contracts.screening import MAX_TOP
from repurpose.data.drug_likeness import drug_like_issue
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.screening.files import RESULTS_SCHEMA, chunk_path, merge_results, results_path, write_chunk
from repurpose.screening.results import (
    ScoresSource,
    csv_stream,
    parquet_stream,
    read_results,
    results_page,
    rows_table,
    score_batches,
)

JOB = "scr-0123456789ab"
HALOPERIDOL = "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1"
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
    assert text.startswith("target_id,rank,compound_id,smiles,score,drug_like,drug_like_issue,nearest_binder_id,")
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
    assert back.schema == RESULTS_SCHEMA
    assert back.column("rank").to_pylist() == [1, 2, 3, 1, 2, 3]


def test_results_carry_the_drug_like_flag_on_every_row_and_evidence_on_the_kept_hits(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    job, smiles = "scr-00000000000e", ["CCO", "[Na+].[Cl-]", HALOPERIDOL, "C1CC", HALOPERIDOL + ".Cl"]
    ids = ["ETHANOL", "SALT", "HALOPERIDOL", "BROKEN", "HALOPERIDOL-HCL"]
    scores = ChunkScores(
        scores=[0.69, 0.5, 0.4, None, 0.1],
        failures=[CompoundError(index=3, smiles="C1CC", reason="unclosed ring")],
        seconds=0.1,
    )
    issues = [drug_like_issue(s) for s in smiles]
    evidence = {2: BinderEvidence(nearest_binder_smiles=HALOPERIDOL, nearest_binder_tanimoto=1.0, in_domain=True)}
    write_chunk(store, chunk_path(job, "DRD2", 0), 0, ids, smiles, scores, issues, evidence)
    merge_results(store, job, ["DRD2"], 1)

    with store.open_read(results_path(job)) as f:
        table = pq.read_table(f)
    every = read_results(store, job, ["DRD2"], 10)
    drug_like = read_results(store, job, ["DRD2"], 10, drug_like_only=True)
    text = b"".join(csv_stream(score_batches(store, finished_job(job, ["DRD2"])))).decode()

    assert table.schema == RESULTS_SCHEMA
    assert table.column("drug_like").to_pylist() == [False, False, True, True]
    assert table.column("nearest_binder_tanimoto").to_pylist() == [None, None, 1.0, None]
    assert [(r.rank, r.compound_id, r.drug_like_issue) for r in every[:2]] == [
        (1, "ETHANOL", "3 heavy atoms"),
        (2, "SALT", "no carbon (inorganic)"),
    ]
    assert [(r.rank, r.compound_id, r.in_domain) for r in drug_like] == [
        (1, "HALOPERIDOL", True),
        (2, "HALOPERIDOL-HCL", None),
    ]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[2]["nearest_binder_tanimoto"] == "1.0" and rows[2]["drug_like"] == "True"
    assert rows[0]["drug_like_issue"] == "3 heavy atoms" and rows[0]["nearest_binder_smiles"] == ""


def test_chunks_written_before_the_evidence_columns_still_merge(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    job = "scr-00000000000f"
    old = pa.table({"row": [0], "compound_id": ["A"], "smiles": ["CCO"], "score": [0.5], "error": [None]})
    with store.open_write(chunk_path(job, "DRD2", 0)) as f:
        pq.write_table(old, f)

    merge_results(store, job, ["DRD2"], 1)

    (row,) = read_results(store, job, ["DRD2"], 5)
    assert (row.compound_id, row.score, row.drug_like, row.nearest_binder_smiles) == ("A", 0.5, None, None)


def finished_job(job: str, targets: list[str]) -> ScoresSource:
    return ScoresSource(job_id=job, status="succeeded", complete=True, targets=targets, results_path=results_path(job))


def test_a_screen_finished_before_the_evidence_columns_downloads_whole(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    job = "scr-00000000001a"
    old_names = ("target_id", "compound_id", "smiles", "score", "rank")  # no evidence columns yet
    old_schema = pa.schema(RESULTS_SCHEMA.field(name) for name in old_names)
    columns = {"target_id": ["DRD2"] * 2, "compound_id": ["A", "B"], "smiles": ["CCO", "CCN"], "score": [0.9, 0.5]}
    old = pa.table({**columns, "rank": [1, 2]}, schema=old_schema)
    with store.open_write(results_path(job)) as f:
        pq.write_table(old, f)
    source = finished_job(job, ["DRD2"])

    text = b"".join(csv_stream(score_batches(store, source))).decode()
    table = pq.read_table(io.BytesIO(b"".join(parquet_stream(score_batches(store, source)))))
    page = results_page(store, source, 0, 10)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["compound_id"], r["rank"], r["drug_like"], r["nearest_binder_smiles"]) for r in rows] == [
        ("A", "1", "", ""),
        ("B", "2", "", ""),
    ]
    assert table.schema == RESULTS_SCHEMA and table.column("compound_id").to_pylist() == ["A", "B"]
    assert table.column("drug_like").to_pylist() == [None, None]
    assert [(r.compound_id, r.score, r.drug_like) for r in page.rows] == [("A", 0.9, None), ("B", 0.5, None)]
