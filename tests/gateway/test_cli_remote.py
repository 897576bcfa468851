"""The CLI against a remote gateway (``--url``/``--key``, or ``REPURPOSE_URL``/``REPURPOSE_KEY``):
the same commands, over real HTTP to the package's gateway, with no cluster home at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from repurpose.actors.model_registry import register_model_dir
from repurpose.cli import app
from repurpose.contracts.screening import RESULT_COLUMNS
from repurpose.model.directory import load_model_dir
from repurpose.training.pipeline import predict_pair
from tests.gateway.conftest import Gateway
from tests.helpers import BUNDLED_DIR, SAMPLE_TRAIN, error_line, lineage, random_protein, sample_heldout_csv

pytestmark = pytest.mark.slow

TARGET = "RMT1"
SEQUENCE = random_protein(150, seed=31)
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture
def remote(gateway: Gateway) -> Callable[..., Result]:
    """Run a command against the gateway with ``role``'s key (as options, like a user would type)."""
    runner = CliRunner()

    def run(*args: str, role: str = "admin") -> Result:
        return runner.invoke(app, [*args, "--url", gateway.url, "--key", gateway.keys[role]])

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_datasets_targets_and_models_through_the_gateway(remote: Callable[..., Result], tmp_path: Path) -> None:
    # Rows of its own: the package's gateway (one store) registers the whole sample elsewhere.
    pairs = tmp_path / "remote-pairs.csv"
    pairs.write_text("\n".join(SAMPLE_TRAIN.read_text().splitlines()[:101]) + "\n")
    registered = json.loads(ok(remote("datasets", "register", str(pairs), "--name", "remote-train", "--json")))
    dataset_id = registered["dataset_id"]
    assert registered["counts"]["read"] == 100
    shown = ok(remote("datasets", "show", "remote-train"))
    assert dataset_id in shown and "descriptor profile" in shown
    assert "split random-3" in ok(remote("datasets", "split", dataset_id[:8], "--kind", "random", "--seed", "3"))
    assert dataset_id in {d["dataset_id"] for d in json.loads(ok(remote("datasets", "list", "--json")))}

    added = ok(remote("targets", "add", TARGET, "--sequence", SEQUENCE, "--name", "remote target"))
    assert f"registered target {TARGET} (remote target), 150 residues" in added
    assert SEQUENCE[:60] in ok(remote("targets", "show", TARGET))
    assert TARGET in {t["target_id"] for t in json.loads(ok(remote("targets", "list", "--json")))}

    models = json.loads(ok(remote("models", "list", "--json")))
    assert {k: models[0][k] for k in ("name", "production")} == {"name": "drugban-human", "production": 1}
    shown_model = ok(remote("models", "show", "drugban-human"))
    assert "model       drugban-human v1 (production)" in shown_model and "1 version, v1 in production" in shown_model


def test_scoring_and_a_screen_through_the_gateway(remote: Callable[..., Result], tmp_path: Path) -> None:
    ok(remote("targets", "add", TARGET, "--sequence", SEQUENCE))
    predict = ("predict", "--model", "drugban-human", "--smiles", ASPIRIN, "--protein", SEQUENCE, "--json")
    predicted = json.loads(ok(remote(*predict, role="reader")))
    bundled = load_model_dir(BUNDLED_DIR)  # the model in production there, scored here
    assert predicted["probability"] == pytest.approx(predict_pair(bundled, ASPIRIN, SEQUENCE), abs=1e-6)
    assert predicted["interacts"] == (predicted["probability"] >= predicted["threshold"])
    explained = json.loads(ok(remote("explain", "--smiles", ASPIRIN, "--target", TARGET, "--top", "3", "--json")))
    assert explained["model"] == "drugban-human@1" and len(explained["atoms"]) == 3
    assert explained["probability"] == pytest.approx(predicted["probability"], abs=1e-4)
    (profile,) = json.loads(ok(remote("profile", "--smiles", ASPIRIN, "--json", role="reader")))
    assert TARGET in {hit["target_id"] for hit in profile["hits"]}

    library = tmp_path / "remote-lib.csv"
    library.write_text("compound_id,smiles\nasp,CC(=O)Oc1ccccc1C(=O)O\nbad,C1CC\nibu,CC(C)Cc1ccc(C(C)C(=O)O)cc1\n")
    screened = json.loads(ok(remote("screen", "--library", str(library), "--target", TARGET, "--top", "5", "--json")))
    assert screened["status"] == "succeeded" and screened["failures_total"] == 1
    job = screened["job_id"]
    assert f"screen    {job}" in ok(remote("screens", "show", job))
    rows = ok(remote("screens", "results", job, "--format", "csv")).splitlines()
    assert rows[0] == ",".join(RESULT_COLUMNS) and len(rows) == 3
    every = tmp_path / "every.parquet"
    wrote = ok(remote("screens", "results", job, "--all", "--format", "parquet", "--out", str(every)))
    assert f"wrote every score (2 row(s), parquet) to {every}" in wrote
    assert pq.read_table(every).column("rank").to_pylist() == [1, 2]
    assert ok(remote("screens", "results", job, "--all", "--format", "csv")).splitlines() == rows
    assert job in {j["job_id"] for j in json.loads(ok(remote("screens", "list", "--json")))}
    assert "remote-lib" in ok(remote("libraries", "show", screened["library_id"][:8]))
    cancelled = remote("screens", "cancel", job)
    assert cancelled.exit_code == 2 and "succeeded" in error_line(cancelled.stderr)


def test_keys_runs_and_status_through_the_gateway(remote: Callable[..., Result], gateway: Gateway) -> None:
    made = json.loads(ok(remote("keys", "create", "--role", "reader", "--name", "remote cli", "--json")))
    assert made["key"].startswith("rp_") and made["role"] == "reader"
    listed = json.loads(ok(remote("keys", "list", "--json")))
    assert made["key_id"] in {k["key_id"] for k in listed}
    assert f"revoked reader key {made['key_id']}" in ok(remote("keys", "revoke", made["key_id"]))

    assert isinstance(json.loads(ok(remote("runs", "list", "--json"))), list)
    ready = json.loads(ok(remote("status", "--json")))
    assert ready["ready"] and {c["name"] for c in ready["checks"]} == {"store", "ray", "model"}


def test_the_environment_names_the_gateway_and_key(gateway: Gateway) -> None:
    env = {"REPURPOSE_URL": gateway.url, "REPURPOSE_KEY": gateway.keys["reader"]}
    result = CliRunner().invoke(app, ["models", "list", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "drugban-human" in {m["name"] for m in json.loads(result.stdout)}


def test_refusals_are_one_line_and_exit_2(remote: Callable[..., Result], gateway: Gateway) -> None:
    runner = CliRunner()
    no_key = runner.invoke(app, ["models", "list", "--url", gateway.url], env={"REPURPOSE_KEY": ""})
    assert no_key.exit_code == 2 and "the gateway refused the API key" in error_line(no_key.stderr)
    wrong = runner.invoke(app, ["models", "list", "--url", gateway.url, "--key", "rp_000000000000_" + "x" * 43])
    assert wrong.exit_code == 2 and "refused the API key" in error_line(wrong.stderr)

    forbidden = remote("targets", "add", "RMT2", "--sequence", SEQUENCE, role="reader")
    assert forbidden.exit_code == 2 and "may not do this" in error_line(forbidden.stderr)
    assert "no target 'NOPE1'" in error_line(remote("targets", "show", "NOPE1").stderr)
    assert "no dataset" in error_line(remote("datasets", "show", "no-such-dataset").stderr)
    bad_smiles = remote("explain", "--smiles", "C1CC", "--target", TARGET)
    assert bad_smiles.exit_code == 2 and "C1CC" in error_line(bad_smiles.stderr)

    nowhere = runner.invoke(app, ["models", "list", "--url", "http://127.0.0.1:9", "--key", "x"])
    assert nowhere.exit_code == 2 and "cannot reach the gateway at http://127.0.0.1:9" in error_line(nowhere.stderr)
    both = runner.invoke(app, ["models", "list", "--url", gateway.url, "--home", "/tmp/somewhere"])
    assert both.exit_code == 2 and "give one of them" in error_line(both.stderr)


def test_retrieval_evaluation_through_the_gateway(
    remote: Callable[..., Result], gateway: Gateway, knn_model_dir: Path, tmp_path: Path
) -> None:
    register_model_dir(gateway.grains, "remote-knn", knn_model_dir, lineage())
    heldout = tmp_path / "remote-heldout.csv"
    heldout.write_bytes(sample_heldout_csv())

    out = ok(remote("models", "evaluate", "remote-knn", "1", "--retrieval", str(heldout)))  # the default decoys

    assert "remote-knn v1 on remote-heldout.csv: 7 held-out actives of 2 targets ranked among" in out
    assert "decoys (DrugBank compounds of compounds.csv)" in out and "novel chemotypes, mean" in out
    assert "retrieval (means over targets)" in ok(remote("models", "show", "remote-knn"))
    card = ok(remote("models", "card", "remote-knn", "--version", "1"))
    assert "## Retrieval" in card and "### remote-heldout.csv among" in card

    bad = tmp_path / "bad.csv"
    bad.write_text("target_id,protein,compound_id\nT1,MKV,C1\n")
    refused = remote("models", "evaluate", "remote-knn", "1", "--retrieval", str(bad))
    assert refused.exit_code == 2
    assert "bad.csv: missing column(s) smiles" in error_line(refused.stderr)
