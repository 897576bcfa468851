"""Requests that name no model use the cluster's default model (``Settings.default_model``), and
`profile`/`explain` take a library compound id as well as a SMILES: over real HTTP and through the
CLI's ``--url``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from repurpose.actors.model_registry import ModelRegistry, register_model_dir
from repurpose.cli import app
from repurpose.contracts.models import ModelLineage
from repurpose.contracts.training import DrugBANTraining, KnnTraining
from repurpose.grains import GrainClient
from repurpose.services.in_process import InProcessClient
from tests.gateway.conftest import Gateway, deploy_variant, has_request_id
from tests.helpers import REPO_ROOT, error_line, random_protein

pytestmark = pytest.mark.slow

OTHER = "dti-default"
KNN_DEFAULT = "knn-default"  # a default model of another type than DrugBAN (a union model by merit)
TARGET = "DFLT1"
SEQUENCE = random_protein(120, seed=77)
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
GEFITINIB = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
COMPOUND = "TEST-GEFITINIB-1"  # an id no other test's library holds


@pytest.fixture(scope="module")
def other_default(gateway: Gateway) -> Iterator[str]:
    """A gateway on the package's cluster whose default model is OTHER, in production there."""
    lineage = ModelLineage(source="test:default", code_version="0.1.0", training=DrugBANTraining(epochs=3))
    detail = register_model_dir(gateway.grains, OTHER, REPO_ROOT / "models" / "drugban-human", lineage)
    for stage in ("staging", "production"):
        gateway.grains.call(ModelRegistry, OTHER, "promote", detail.version, stage)
    yield from deploy_variant(gateway.settings, "/other-default", default_model=OTHER)


@pytest.fixture(scope="module")
def knn_default(gateway: Gateway, knn_model_dir: Path) -> Iterator[str]:
    """A gateway on the package's cluster whose default model is a knn model, in production there."""
    lineage = ModelLineage(source="test:knn-default", code_version="0.1.0", training=KnnTraining())
    detail = register_model_dir(gateway.grains, KNN_DEFAULT, knn_model_dir, lineage)
    for stage in ("staging", "production"):  # forced: the small model's validation AUROC is no test here
        gateway.grains.call(ModelRegistry, KNN_DEFAULT, "promote", detail.version, stage, None, True)
    yield from deploy_variant(gateway.settings, "/knn-default", default_model=KNN_DEFAULT)


def client(gateway: Gateway, url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers=gateway.headers("admin"), timeout=300, event_hooks={"response": [has_request_id]}
    )


def test_requests_without_a_model_use_the_default_model_setting(gateway: Gateway, other_default: str) -> None:
    with client(gateway, gateway.url) as usual, client(gateway, other_default) as http:
        assert http.put(f"/v1/targets/{TARGET}", json={"sequence": SEQUENCE}).status_code in (200, 201)
        assert usual.post("/v1/profile", json={"smiles": ASPIRIN, "top": 1}).json()["model"] == "drugban-human@1"

        predicted = http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "target": TARGET}]})
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["model"] == f"{OTHER}@1"
        explained = http.post("/v1/explain", json={"smiles": ASPIRIN, "target": TARGET, "top": 2})
        assert explained.status_code == 200 and explained.json()["model"] == f"{OTHER}@1", explained.text
        profiled = http.post("/v1/profile", json={"smiles": ASPIRIN, "top": 1})
        assert profiled.status_code == 200 and profiled.json()["model"] == f"{OTHER}@1", profiled.text
        named = http.post("/v1/profile", json={"smiles": ASPIRIN, "top": 1, "model": "drugban-human"})
        assert named.json()["model"] == "drugban-human@1"  # a named model still wins

        library = http.post(
            "/v1/libraries", files={"file": ("default-lib.csv", f"compound_id,smiles\nasp-d,{ASPIRIN}\n".encode())}
        )
        assert library.status_code == 201, library.text
        screen = http.post("/v1/screens", json={"library_id": library.json()["library_id"], "targets": [TARGET]})
        assert screen.status_code == 201 and screen.json()["model"] == f"{OTHER}@1", screen.text

    profile = CliRunner().invoke(
        app, ["profile", "--smiles", ASPIRIN, "--json", "--url", other_default, "--key", gateway.keys["reader"]]
    )
    assert profile.exit_code == 0, profile.stderr
    assert json.loads(profile.stdout)[0]["model"] == f"{OTHER}@1"


def test_profile_and_explain_take_a_library_compound_id(gateway: Gateway) -> None:
    with client(gateway, gateway.url) as http:
        assert http.put(f"/v1/targets/{TARGET}", json={"sequence": SEQUENCE}).status_code in (200, 201)
        table = f"compound_id,smiles\n{COMPOUND},{GEFITINIB}\nasp-c,{ASPIRIN}\n"
        assert http.post("/v1/libraries", files={"file": ("ids.csv", table.encode())}).status_code == 201

        by_id = http.post("/v1/profile", json={"compound": COMPOUND, "top": 3})
        assert by_id.status_code == 200, by_id.text
        by_smiles = http.post("/v1/profile", json={"smiles": GEFITINIB, "top": 3}).json()
        assert (by_id.json()["compound_id"], by_id.json()["smiles"]) == (COMPOUND, GEFITINIB)
        assert by_id.json()["hits"] == by_smiles["hits"]

        explained = http.post("/v1/explain", json={"compound": COMPOUND, "target": TARGET, "top": 2})
        assert explained.status_code == 200, explained.text
        assert (explained.json()["compound_id"], explained.json()["smiles"]) == (COMPOUND, GEFITINIB)

        unknown = http.post("/v1/profile", json={"compound": "NO-SUCH-COMPOUND"})
        assert unknown.status_code == 404 and unknown.json()["code"] == "compound_not_found", unknown.text
        assert "no compound 'NO-SUCH-COMPOUND' in the" in unknown.json()["message"]

    runner, remote = CliRunner(), ["--url", gateway.url, "--key", gateway.keys["scientist"]]
    profile = runner.invoke(app, ["profile", "--compound", COMPOUND, "--top", "2", *remote])
    assert profile.exit_code == 0, profile.stderr
    assert f"{COMPOUND} ({GEFITINIB[:24]}" in profile.stdout  # the header shortens long SMILES
    explain = runner.invoke(app, ["explain", "--compound", COMPOUND, "--target", TARGET, "--json", *remote])
    assert explain.exit_code == 0, explain.stderr
    assert (json.loads(explain.stdout)["compound_id"], json.loads(explain.stdout)["smiles"]) == (COMPOUND, GEFITINIB)

    missing = runner.invoke(app, ["profile", "--compound", "NO-SUCH-COMPOUND", *remote])
    assert missing.exit_code == 2 and "no compound 'NO-SUCH-COMPOUND'" in error_line(missing.stderr)
    both = runner.invoke(app, ["explain", "--smiles", ASPIRIN, "--compound", COMPOUND, "--target", TARGET, *remote])
    assert both.exit_code == 2 and "--smiles or --compound" in error_line(both.stderr)


def test_explain_without_a_model_uses_a_drugban_when_the_default_model_is_none(
    gateway: Gateway, knn_default: str
) -> None:
    pair = {"smiles": ASPIRIN, "target": TARGET, "top": 2}
    with client(gateway, knn_default) as http:
        assert http.put(f"/v1/targets/{TARGET}", json={"sequence": SEQUENCE}).status_code in (200, 201)
        explained = http.post("/v1/explain", json=pair)
        assert explained.status_code == 200, explained.text
        assert explained.json()["model"] == "drugban-human@1"  # the setting explain_model, in production here
        named = http.post("/v1/explain", json={**pair, "model": KNN_DEFAULT})  # named: used as named
        assert named.status_code == 422, named.text
        assert named.json()["message"] == f"explanations need a DrugBAN model; {KNN_DEFAULT}@1 is knn"
        predicted = http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "target": TARGET}]})
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["model"] == f"{KNN_DEFAULT}@1"  # scoring still uses the default model

    remote = ["--url", knn_default, "--key", gateway.keys["reader"]]
    explain = CliRunner().invoke(app, ["explain", "--smiles", ASPIRIN, "--target", TARGET, "--json", *remote])
    assert explain.exit_code == 0, explain.stderr
    assert json.loads(explain.stdout)["model"] == "drugban-human@1"  # it says which model explained

    # the CLI on the cluster itself (no gateway, the in-process client): the same choice
    with InProcessClient.on(GrainClient(gateway.settings.with_overrides(default_model=KNN_DEFAULT))) as here:
        explanation = here.explain(ASPIRIN, TARGET, None, 2)
    assert explanation.model == "drugban-human@1"
    assert explanation.probability == explained.json()["probability"]
