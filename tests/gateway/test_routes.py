"""Every route's happy path, over real HTTP through Serve's proxy to the gateway and the grains.

The package's gateway has one store: each test registers what it reads (fixtures, or data no other
test registers), so any test runs alone or in any order."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from repurpose.actors.model_registry import register_model_dir
from repurpose.contracts.screening import LibraryDetail, ScreenResults
from repurpose.data.dataset_access import load_dataset_pairs
from repurpose.data.pairs import pairs_from_columns
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.directory import load_model_dir
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.services.in_process import InProcessClient
from tests.gateway.conftest import Gateway
from tests.helpers import (
    BUNDLED_DIR,
    REPO_ROOT,
    SAMPLE_TRAIN,
    SAMPLE_VAL,
    lineage,
    poll,
    sample_decoys_csv,
    sample_heldout_csv,
)

pytestmark = pytest.mark.slow

LIBRARY = REPO_ROOT / "data" / "library" / "compounds.csv"
TARGETS = pd.read_csv(REPO_ROOT / "data" / "library" / "targets.csv")
EGFR = str(TARGETS.loc[TARGETS.gene == "P00533", "sequence"].iloc[0])  # the column holds UniProt accessions
ABL1 = str(TARGETS.loc[TARGETS.gene == "P00519", "sequence"].iloc[0])
TLR4 = str(TARGETS.loc[TARGETS.gene == "O00206", "sequence"].iloc[0])  # registered by the targets test only
SULT2B1 = str(TARGETS.loc[TARGETS.gene == "O00204", "sequence"].iloc[0])
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
RUN_ROWS = 150  # the training runs' dataset: the sample's first rows, content no other test registers
WAIT_SECONDS = 300  # well within the run's last-resort timeout (pyproject.toml): a slow run fails only its test


def wait_for(http: httpx.Client, path: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        body: dict[str, Any] = http.get(path).json()
        return body

    return poll(fetch, done, WAIT_SECONDS, f"{path} done", 0.5)


def upload(http: httpx.Client, path: str, filename: str, content: bytes, **form: str) -> httpx.Response:
    return http.post(path, files={"file": (filename, content)}, data=form)


@pytest.fixture
def runs_dataset(http: httpx.Client) -> dict[str, Any]:
    """The training runs' dataset ("gw-runs", split random-42), registered if it is not yet."""
    rows = "\n".join(SAMPLE_TRAIN.read_text().splitlines()[: RUN_ROWS + 1]) + "\n"
    registered = upload(http, "/v1/datasets", "runs.csv", rows.encode(), name="gw-runs")
    assert registered.status_code in (200, 201), registered.text
    dataset: dict[str, Any] = registered.json()
    split = http.post(f"/v1/datasets/{dataset['dataset_id']}/splits", json={"kind": "random", "seed": 42})
    assert split.status_code == 200, split.text
    return dataset


def test_datasets_register_list_show_and_split(http: httpx.Client) -> None:
    # the sample less its last row: content no other test of the package's gateway registers, in any order
    train = b"".join(SAMPLE_TRAIN.read_bytes().splitlines(keepends=True)[:-1])
    created = upload(http, "/v1/datasets", "train.csv", train, name="gw-train")
    assert created.status_code == 201, created.text
    registration = created.json()
    dataset_id = registration["dataset_id"]
    assert registration["created"] and registration["counts"]["read"] == 171
    stored = registration["counts"]["stored"]

    again = upload(http, "/v1/datasets", "train.csv", train, name="gw-train-again")
    assert again.status_code == 200 and again.json()["aliases"] == ["gw-train-again"]

    parquet = io.BytesIO()
    pd.read_csv(SAMPLE_VAL).iloc[:-1].to_parquet(parquet)  # content of its own, as above
    val = upload(http, "/v1/datasets", "val.parquet", parquet.getvalue(), name="gw-val")
    assert val.status_code == 201, val.text
    assert val.json()["format"] == "parquet"

    listed = http.get("/v1/datasets").json()["items"]
    assert {dataset_id, val.json()["dataset_id"]} <= {d["dataset_id"] for d in listed}

    detail = http.get("/v1/datasets/gw-train")  # by name
    assert detail.status_code == 200
    assert detail.json()["dataset_id"] == dataset_id
    assert detail.json()["report"]["counts"]["read"] == 171

    split = http.post(f"/v1/datasets/{dataset_id[:8]}/splits", json={"kind": "random", "seed": 42})
    assert split.status_code == 200, split.text
    assert split.json()["split_id"] == "random-42"
    assert split.json()["train"]["size"] + split.json()["val"]["size"] + split.json()["test"]["size"] == stored
    # a refused split names the input at fault: the fractions asked for, or the dataset reference
    odd = http.post(f"/v1/datasets/{dataset_id}/splits", json={"kind": "random", "fractions": [0.5, 0.2, 0.2]})
    assert odd.status_code == 422 and odd.json()["field"] == "fractions", odd.text
    blank = http.post("/v1/datasets/%20/splits", json={"kind": "random"})
    assert blank.status_code == 422 and blank.json()["field"] == "dataset", blank.text
    assert http.get(f"/v1/datasets/{dataset_id}").json()["splits"] == ["random-42"]


def test_training_runs_start_follow_cancel_and_models(
    http: httpx.Client, gateway: Gateway, runs_dataset: dict[str, Any]
) -> None:
    dataset_id = runs_dataset["dataset_id"]
    request = {"dataset_id": dataset_id, "split_id": "random-42", "epochs": 1, "model_name": "gw-model"}
    started = http.post("/v1/training-runs", json=request)
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    assert started.json()["status"] == "running"
    assert http.post("/v1/training-runs", json=request).status_code == 200  # the same signature: the same run

    long_run = http.post("/v1/training-runs", json={**request, "epochs": 500, "model_name": "gw-long"})
    assert long_run.status_code == 201
    cancelled = http.post(f"/v1/training-runs/{long_run.json()['run_id'][:10]}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    done = wait_for(http, f"/v1/training-runs/{run_id}", lambda r: r["status"] != "running")
    assert done["status"] == "succeeded", done
    assert [h["epoch"] for h in done["history"]] == [1]  # the curves
    assert done["progress"]["epoch"] == 1 and done["model"] == {"name": "gw-model", "version": 1}
    assert run_id in {r["run_id"] for r in http.get("/v1/training-runs").json()["items"]}
    finished = http.post(f"/v1/training-runs/{run_id}/cancel")
    assert finished.status_code == 409 and finished.json()["code"] == "run_state_conflict"

    baseline_request = {k: v for k, v in request.items() if k != "epochs"}  # a forest has no epochs: 422 if sent
    baseline = http.post("/v1/training-runs", json={**baseline_request, "model_type": "rf"})
    assert baseline.status_code == 201
    assert wait_for(http, f"/v1/training-runs/{baseline.json()['run_id']}", lambda r: r["status"] != "running")[
        "model"
    ] == {"name": "gw-model", "version": 2}

    models = {m["name"]: m for m in http.get("/v1/models").json()["items"]}
    assert models["drugban-human"]["production"] == 1 and models["gw-model"]["versions"] == 2
    version = http.get("/v1/models/gw-model/versions/1").json()
    assert version["stage"] == "candidate" and version["lineage"]["run_id"] == run_id
    assert http.get("/v1/models/gw-model/versions/latest").json()["version"] == 2

    # candidate -> staging -> production (past the AUROC gate: one epoch learns nothing), for both
    for number in (1, 2):
        staged = http.post(f"/v1/models/gw-model/versions/{number}/promote", json={"stage": "staging"})
        assert staged.status_code == 200 and staged.json()["stage"] == "staging"
        promoted = http.post(
            f"/v1/models/gw-model/versions/{number}/promote", json={"stage": "production", "force": True}
        )
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["stage"] == "production"
    rolled = http.post("/v1/models/gw-model/rollback", json={"reason": "v2 scores worse"})
    assert rolled.status_code == 200 and rolled.json()["version"] == 1 and rolled.json()["stage"] == "production"
    assert http.get("/v1/models/gw-model/versions/2").json()["stage"] == "archived"
    assert http.get("/v1/models/gw-model/versions/production").json()["version"] == 1

    evaluation = http.post("/v1/models/drugban-human/versions/production/evaluate", json={"dataset": "gw-runs"})
    assert evaluation.status_code == 200, evaluation.text
    assert evaluation.json()["part"] == "all" and evaluation.json()["metrics"]["n"] == runs_dataset["counts"]["stored"]
    pairs = load_dataset_pairs(ArtifactStore.from_settings(gateway.settings), dataset_id)  # as stored
    bundled = load_model_dir(BUNDLED_DIR)
    assert pairs.labels is not None
    expected = binary_metrics(pairs.labels, bundled.predict(pairs), bundled.threshold)
    assert evaluation.json()["metrics"]["auroc"] == pytest.approx(expected.auroc, abs=1e-9)
    on_split = http.post(
        "/v1/models/gw-model/versions/1/evaluate", json={"dataset": "gw-runs", "split": "random-42", "part": "val"}
    )
    assert on_split.status_code == 200, on_split.text
    assert on_split.json()["split_id"] == "random-42" and on_split.json()["part"] == "val"
    assert len(http.get("/v1/models/gw-model/versions/1").json()["evaluations"]) == 1


def test_targets_register_and_show(http: httpx.Client) -> None:
    created = http.put(
        "/v1/targets/TLR4", json={"sequence": TLR4, "name": "Toll-like receptor 4", "organism": "Homo sapiens"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["created"] and created.json()["length"] == len(TLR4)
    again = http.put("/v1/targets/TLR4", json={"sequence": TLR4.lower()})
    assert again.status_code == 200 and not again.json()["created"]
    assert http.put("/v1/targets/SULT2B1", json={"sequence": SULT2B1}).status_code == 201
    shown = http.get("/v1/targets/TLR4").json()
    assert shown["sequence"] == TLR4 and shown["name"] == "Toll-like receptor 4" and shown["history"] == []
    assert {"TLR4", "SULT2B1"} <= {t["target_id"] for t in http.get("/v1/targets").json()["items"]}

    # TLR4's sequence under another id: nothing new, the answer says whose alias the id is now
    alias = http.put("/v1/targets/CD284", json={"sequence": TLR4})
    assert alias.status_code == 200, alias.text
    assert (alias.json()["target_id"], alias.json()["alias"], alias.json()["created"]) == ("TLR4", "CD284", False)
    assert http.get("/v1/targets/CD284").json()["target_id"] == "TLR4"
    listed = {t["target_id"]: t for t in http.get("/v1/targets").json()["items"]}
    assert "CD284" not in listed and listed["TLR4"]["aliases"] == ["CD284"]


def test_predict_one_pair_and_a_thousand(http: httpx.Client) -> None:
    http.put("/v1/targets/EGFR", json={"sequence": EGFR})
    by_target = http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "target": "EGFR"}]})
    assert by_target.status_code == 200, by_target.text
    by_sequence = http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "sequence": EGFR}]}).json()
    answer = by_target.json()
    assert answer["model"] == "drugban-human@1"
    assert answer["scores"][0]["probability"] == pytest.approx(by_sequence["scores"][0]["probability"], abs=1e-6)
    assert answer["scores"][0]["interacts"] == (answer["scores"][0]["probability"] >= answer["threshold"])

    smiles = pd.read_csv(LIBRARY).smiles.head(500).tolist()
    pairs = [{"smiles": s, "target": t} for s in smiles for t in ("EGFR", "ABL1")]
    http.put("/v1/targets/ABL1", json={"sequence": ABL1})
    many = http.post("/v1/predict", json={"model": "drugban-human@production", "pairs": pairs})
    assert many.status_code == 200, many.text
    assert len(many.json()["scores"]) == 1000
    sample = pairs[:: len(pairs) // 20]  # 20 of them, both targets, scored here by the same model
    sequences = {"EGFR": EGFR, "ABL1": ABL1}
    expected = load_model_dir(BUNDLED_DIR).predict(
        pairs_from_columns([p["smiles"] for p in sample], [sequences[p["target"]] for p in sample])
    )
    got = [s["probability"] for s in many.json()["scores"][:: len(pairs) // 20]]
    # the scorer's fast path against the reference forward, both in float32: they differ by up to
    # about 2e-6 (the order of float32 sums; the same function, exact in float64)
    assert got == pytest.approx(expected.tolist(), abs=1e-5)


def test_explain_and_profile(http: httpx.Client) -> None:
    http.put("/v1/targets/EGFR", json={"sequence": EGFR})
    explained = http.post("/v1/explain", json={"smiles": ASPIRIN, "target": "EGFR", "top": 5})
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["model"] == "drugban-human@1" and body["target"] == "EGFR"
    assert len(body["atoms"]) == 5 and len(body["residues"]) == 5

    profiled = http.post("/v1/profile", json={"smiles": ASPIRIN, "top": 3})
    assert profiled.status_code == 200, profiled.text
    profile = profiled.json()
    assert profile["targets"] >= 1 and 1 <= len(profile["hits"]) <= 3
    probabilities = [h["probability"] for h in profile["hits"]]
    assert probabilities == sorted(probabilities, reverse=True)
    # every row's evidence: the target's nearest training binder, the domain, drug-likeness
    assert all(h["drug_like"] is True and h["drug_like_issue"] is None for h in profile["hits"])
    assert all(isinstance(h["in_domain"], bool) and 0 <= h["max_training_tanimoto"] <= 1 for h in profile["hits"])
    assert all("nearest_binder_smiles" in h and "nearest_binder_tanimoto" in h for h in profile["hits"])


def test_screens_submit_follow_results_and_cancel(http: httpx.Client, gateway: Gateway) -> None:
    for target, sequence in (("EGFR", EGFR), ("ABL1", ABL1)):
        http.put(f"/v1/targets/{target}", json={"sequence": sequence})
    compounds = pd.read_csv(LIBRARY).head(60)
    table = compounds[["compound_id", "smiles"]].to_csv(index=False) + "BAD-1,C1CC\n"
    library = upload(http, "/v1/libraries", "gw-library.csv", table.encode(), name="gw-library")
    assert library.status_code == 201, library.text
    library_id = library.json()["library_id"]
    assert library.json()["compounds"] == 61
    assert http.get("/v1/libraries/gw-library").json()["library_id"] == library_id
    assert library_id in {x["library_id"] for x in http.get("/v1/libraries").json()["items"]}

    submitted = http.post(
        "/v1/screens",
        json={"library_id": library_id, "targets": ["EGFR", "ABL1"], "top": 5, "chunk_size": 32},
        headers={"Idempotency-Key": "gw-screen-1"},
    )
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["job_id"]
    repeated = http.post(
        "/v1/screens",
        json={"library_id": library_id, "targets": ["EGFR", "ABL1"], "top": 5, "chunk_size": 32},
        headers={"Idempotency-Key": "gw-screen-1"},
    )
    assert repeated.status_code == 201 and repeated.json()["job_id"] == job_id  # the first answer, replayed
    other = http.post(
        "/v1/screens",
        json={"library_id": library_id, "targets": ["EGFR"], "top": 5, "chunk_size": 32},
        headers={"Idempotency-Key": "gw-screen-1"},
    )
    assert other.status_code == 409 and other.json()["code"] == "screen_state_conflict", other.text

    done = wait_for(http, f"/v1/screens/{job_id}", lambda s: s["status"] != "running")
    assert done["status"] == "succeeded", done
    assert done["progress"]["pairs_done"] == done["progress"]["pairs_total"] == 122
    assert done["failures_total"] == 1
    assert job_id in {s["job_id"] for s in http.get("/v1/screens").json()["items"]}

    results = http.get(f"/v1/screens/{job_id}/results", params={"top": 3}).json()
    assert results["complete"] and len(results["rows"]) == 6
    assert all(isinstance(r["drug_like"], bool) and isinstance(r["in_domain"], bool) for r in results["rows"])
    as_csv = http.get(f"/v1/screens/{job_id}/results", params={"top": 3, "format": "csv", "target": "ABL1"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and {r["target_id"] for r in rows} == {"ABL1"}

    # every score, past the job's top 5: streamed as CSV and Parquet, paged as JSON
    every = http.get(f"/v1/screens/{job_id}/results", params={"all": "true", "format": "csv"})
    assert every.status_code == 200 and every.headers["x-results-complete"] == "true", every.text
    every_rows = list(csv.DictReader(io.StringIO(every.text)))
    assert [(r["target_id"], int(r["rank"])) for r in every_rows] == [
        (t, k) for t in ("EGFR", "ABL1") for k in range(1, 61)
    ]
    as_parquet = http.get(
        f"/v1/screens/{job_id}/results", params={"all": "true", "format": "parquet", "target": "ABL1"}
    )
    assert as_parquet.status_code == 200 and as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    abl1 = pq.read_table(io.BytesIO(as_parquet.content))
    assert abl1.column("score").to_pylist() == [float(r["score"]) for r in every_rows[60:]]
    assert abl1.column("drug_like").null_count == 0 and abl1.column("in_domain").slice(0, 5).null_count == 0
    assert every_rows[0]["max_training_tanimoto"] != "" and every_rows[-1]["drug_like"] in ("True", "False")
    pages, offset = [], 0
    while offset is not None:
        page = http.get(f"/v1/screens/{job_id}/results", params={"all": "true", "limit": 50, "offset": offset}).json()
        assert page["total"] == 120, page
        pages.append(page["rows"])
        offset = page["next_offset"]
    assert [len(p) for p in pages] == [50, 50, 20] and [r["compound_id"] for p in pages for r in p] == [
        r["compound_id"] for r in every_rows
    ]
    both = http.get(f"/v1/screens/{job_id}/results", params={"all": "true", "top": 3})
    assert both.status_code == 422 and both.json()["field"] == "top", both.text

    # the in-process client (the service layer the routes call) answers what the gateway answers
    with InProcessClient.on(gateway.grains) as in_process:
        assert in_process.screen_results(job_id[:8], top=3) == ScreenResults.model_validate(results)
        sink = io.BytesIO()
        assert in_process.download_screen_results(job_id, sink, "csv") is True
        assert sink.getvalue() == every.content
        shown = LibraryDetail.model_validate(http.get(f"/v1/libraries/{library_id[:8]}").json())
        assert in_process.library("gw-library") == shown

    finished = http.delete(f"/v1/screens/{job_id}")
    assert finished.status_code == 409 and finished.json()["code"] == "screen_state_conflict"

    history = http.get("/v1/targets/EGFR").json()
    assert history["history"][0]["job_id"] == job_id and history["best_hits"]

    slow = http.post("/v1/screens", json={"library_id": library_id, "targets": ["EGFR", "ABL1"], "chunk_size": 1})
    assert slow.status_code == 201
    cancelled = http.delete(f"/v1/screens/{slow.json()['job_id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_operations_health_readiness_and_metrics(http: httpx.Client, gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:  # probes and scrapers need no key
        assert anonymous.get("/healthz").json() == {"status": "alive"}
        ready = anonymous.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["ready"] and {c["name"] for c in ready.json()["checks"]} == {"store", "ray", "model"}
        http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "sequence": EGFR}]})
        metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in (
        'repurpose_gateway_requests_total{method="POST",route="/v1/predict",status="200"}',
        "repurpose_gateway_request_seconds_bucket",
        "repurpose_gateway_requests_in_flight",
        "repurpose_gateway_predict_pairs_bucket",
        'repurpose_gateway_pairs_scored_total{kind="predict"}',
        "repurpose_scorer_pairs_scored_total",
        "repurpose_scorer_compound_cache_hits_total",
        "repurpose_scorer_predict_batches_total{replica=",
        "repurpose_scorer_predict_batch_size_bucket",
    ):
        assert name in text, name


def test_retrieval_evaluation_and_the_model_card(http: httpx.Client, gateway: Gateway, knn_model_dir: Path) -> None:
    register_model_dir(gateway.grains, "gw-knn", knn_model_dir, lineage())
    library = upload(http, "/v1/libraries", "gw-decoys.csv", sample_decoys_csv(prefix="GW"))
    assert library.status_code in (200, 201), library.text
    path = "/v1/models/gw-knn/versions/latest/retrieval"

    response = http.post(path, files={"file": ("gw-heldout.csv", sample_heldout_csv())}, data={"decoys": "gw-decoys"})

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["heldout"], result["actives"], result["decoy_count"]) == ("gw-heldout.csv", 7, 241)
    assert [t["target"] for t in result["summary"]["targets"]] == ["T1", "T2"] and result["novel"] is not None
    assert result["decoys"].startswith("library gw-decoys (")
    assert http.get("/v1/models/gw-knn/versions/1").json()["retrieval"] == [result]

    card = http.get("/v1/models/gw-knn/versions/1/card")
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith("# Model card: knn-sample")
    assert "## Retrieval" in card.text and "### gw-heldout.csv among 241 decoys" in card.text

    bad = http.post(path, files={"file": ("bad.csv", b"SMILES,Protein,Y\nCCO,MKV,1\n")})
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "file" and "bad.csv: missing column(s) target_id" in bad.json()["message"]
    hidden = http.post(path, files={"file": ("held\u202eout.csv", sample_heldout_csv())})
    assert hidden.status_code == 422 and hidden.json()["field"] == "file", hidden.text
    assert "held-out file name" in hidden.json()["message"] and "U+202E" in hidden.json()["message"]
    unknown = http.post(path, files={"file": ("h.csv", sample_heldout_csv())}, data={"decoys": "no-such-library"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "library_not_found", unknown.text
    assert http.post("/v1/models/gw-knn/versions/9/retrieval", files={"file": ("h.csv", b"x")}).status_code == 404
    with gateway.client("reader") as reader:
        refused = reader.post(path, files={"file": ("h.csv", sample_heldout_csv())})
        assert refused.status_code == 403, refused.text
        assert reader.get("/v1/models/gw-knn/versions/1/card").status_code == 200
    assert http.get("/v1/models/gw-knn/versions/1").json()["retrieval"] == [result]  # refusals recorded nothing
