"""Refusals over real HTTP: 401, 403, 404, 409 and 422 on the routes where they belong, every one a
JSON error body with a stable code, a message that says what to fix and the request id; a refused
request leaves the store as it was."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from repurpose.gateway import create_key, revoke_key
from tests.gateway.conftest import Gateway

pytestmark = pytest.mark.slow

SEQUENCE = (
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALR"
    "PDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVG"
    "IGGKLSDGHRHDVRAPDYDDWUAQKNS"
)
OTHER = SEQUENCE[:-10] + "AAAAAAAAAA"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body of ``response``, checked: status, code, a message and the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["message"] and body["request_id"] == response.headers["x-request-id"]
    return body


def test_401_without_a_valid_key(gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:
        missing = error_of(anonymous.get("/v1/datasets"), 401, "unauthorized")
        assert "Authorization: Bearer" in missing["message"]
        response = anonymous.get("/v1/datasets", headers={"Authorization": "Bearer nonsense"})
        assert "malformed" in error_of(response, 401, "unauthorized")["message"]
        assert response.headers["www-authenticate"] == "Bearer"
        unknown = "rp_0123456789ab_" + "A" * 43
        assert (
            "unknown API key 0123456789ab"
            in error_of(anonymous.get("/v1/targets", headers={"X-API-Key": unknown}), 401, "unauthorized")["message"]
        )
        key_id = gateway.keys["reader"].split("_")[1]
        wrong = gateway.keys["reader"][:-4] + ("AAAA" if not gateway.keys["reader"].endswith("AAAA") else "BBBB")
        assert (
            f"wrong secret for API key {key_id}"
            in error_of(
                anonymous.get("/v1/targets", headers={"Authorization": f"Bearer {wrong}"}), 401, "unauthorized"
            )["message"]
        )
        # a key that worked stops working once revoked (a replica trusts a key for gateway_key_cache_seconds)
        issued = create_key(gateway.grains, "reader", name="to revoke")
        headers = {"Authorization": f"Bearer {issued.key}"}
        assert anonymous.get("/v1/targets", headers=headers).status_code == 200
        revoke_key(gateway.grains, issued.summary.key_id)
        time.sleep(gateway.settings.gateway_key_cache_seconds + 0.3)
        assert "was revoked" in error_of(anonymous.get("/v1/targets", headers=headers), 401, "unauthorized")["message"]


def test_403_when_the_role_may_not(gateway: Gateway) -> None:
    with gateway.client("reader") as reader, gateway.client("scientist") as scientist:
        refused = reader.post("/v1/datasets", files={"file": ("x.csv", b"SMILES,Protein,Y\nCCO,MKV,1\n")})
        assert "reader role may not write" in error_of(refused, 403, "forbidden")["message"]
        error_of(reader.put("/v1/targets/T403", json={"sequence": SEQUENCE}), 403, "forbidden")
        error_of(
            scientist.post("/v1/models/drugban-human/versions/1/promote", json={"stage": "archived"}), 403, "forbidden"
        )
        error_of(scientist.post("/v1/models/drugban-human/rollback"), 403, "forbidden")
        # what each role may do
        assert (
            reader.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "sequence": SEQUENCE}]}).status_code == 200
        )
        assert reader.get("/v1/models").status_code == 200
        assert scientist.put("/v1/targets/T403", json={"sequence": SEQUENCE}).status_code == 201


def test_404_names_the_unknown_id(http: httpx.Client) -> None:
    assert "'NOSUCH1'" in error_of(http.get("/v1/targets/NOSUCH1"), 404, "target_not_found")["message"]
    assert (
        "'no-such-dataset'" in error_of(http.get("/v1/datasets/no-such-dataset"), 404, "dataset_not_found")["message"]
    )
    missing_version = error_of(http.get("/v1/models/drugban-human/versions/9"), 404, "model_not_found")
    assert "no version 9" in missing_version["message"]
    error_of(http.get("/v1/models/no-such-model/versions/1"), 404, "model_not_found")
    error_of(http.get("/v1/training-runs/abcdef123456"), 404, "run_not_found")
    error_of(http.get("/v1/screens/scr-0123456789ab"), 404, "screen_not_found")
    unknown_target = error_of(
        http.post(
            "/v1/predict",
            json={"pairs": [{"smiles": ASPIRIN, "sequence": SEQUENCE}, {"smiles": "CCO", "target": "NOSUCH2"}]},
        ),
        404,
        "target_not_found",
    )
    assert unknown_target["field"] == "pairs[1].target" and "'NOSUCH2'" in unknown_target["message"]
    error_of(http.get("/v1/no-such-route"), 404, "not_found")
    assert error_of(http.delete("/v1/datasets"), 405, "method_not_allowed")["message"]


def test_409_target_with_another_sequence_leaves_it_as_it_was(http: httpx.Client) -> None:
    assert http.put("/v1/targets/T409", json={"sequence": SEQUENCE, "name": "first"}).status_code == 201
    conflict = error_of(
        http.put("/v1/targets/T409", json={"sequence": OTHER, "name": "second"}), 409, "target_conflict"
    )
    assert "another sequence" in conflict["message"] and "position" in conflict["message"]
    stored = http.get("/v1/targets/T409").json()
    assert stored["sequence"] == SEQUENCE and stored["name"] == "first"


def test_409_for_refused_stage_changes(http: httpx.Client) -> None:
    refused = error_of(
        http.post("/v1/models/drugban-human/versions/1/promote", json={"stage": "staging"}), 409, "promotion_refused"
    )
    assert "in production" in refused["message"]
    assert error_of(http.post("/v1/models/drugban-human/rollback"), 409, "promotion_refused")["message"]
    assert http.get("/v1/models/drugban-human/versions/1").json()["stage"] == "production"


def test_422_names_the_field_and_why(http: httpx.Client) -> None:
    smiles = error_of(
        http.post(
            "/v1/predict",
            json={"pairs": [{"smiles": ASPIRIN, "sequence": SEQUENCE}, {"smiles": "C1CC", "sequence": SEQUENCE}]},
        ),
        422,
        "invalid_smiles",
    )
    assert smiles["field"] == "pairs[1].smiles" and "unclosed ring" in smiles["message"]
    protein = error_of(
        http.post("/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "sequence": "MK1V"}]}), 422, "invalid_protein"
    )
    assert protein["field"] == "pairs[0].sequence" and "'1' at position 3" in protein["message"]
    both = error_of(http.post("/v1/explain", json={"smiles": ASPIRIN}), 422, "invalid_input")
    assert "target" in both["message"] and "sequence" in both["message"]
    too_many = error_of(
        http.post("/v1/predict", json={"pairs": [{"smiles": "C", "sequence": "M"}] * 1001}), 422, "invalid_input"
    )
    assert too_many["field"] == "pairs"
    missing = error_of(http.put("/v1/targets/T422", json={"name": "no sequence"}), 422, "invalid_input")
    assert missing["field"] == "sequence" and [e["field"] for e in missing["errors"]] == ["sequence"]
    typo = error_of(http.put("/v1/targets/T422", json={"sequence": SEQUENCE, "nmae": "typo"}), 422, "invalid_input")
    assert typo["field"] == "nmae"
    bad_id = error_of(http.get("/v1/targets/-bad-"), 422, "invalid_input")
    assert bad_id["field"] == "target_id"
    run = error_of(http.post("/v1/training-runs", json={"dataset_id": "not-a-hash"}), 422, "invalid_input")
    assert run["field"] == "dataset_id"
    error_of(
        http.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_input",
    )


def test_422_for_a_refused_upload_stores_nothing(http: httpx.Client) -> None:
    before = http.get("/v1/datasets").json()["items"]
    refused = http.post("/v1/datasets", files={"file": ("bad.csv", b"SMILES,Y\nCCO,1\n")})
    body = error_of(refused, 422, "invalid_table")
    assert body["field"] == "file" and "missing column(s) Protein" in body["message"]
    error_of(http.post("/v1/datasets", files={"file": ("empty.csv", b"")}), 422, "invalid_table")
    no_file = error_of(http.post("/v1/datasets", data={"name": "nothing"}), 422, "invalid_input")
    assert no_file["field"] == "file"
    assert http.get("/v1/datasets").json()["items"] == before


def test_every_answer_has_a_request_id_and_a_given_one_is_kept(gateway: Gateway) -> None:
    with gateway.client("admin") as http:
        for response in (
            http.get("/healthz"),
            http.get("/v1/models"),
            http.get("/v1/targets/NOSUCH3"),
            http.get("/openapi.json"),
            http.get("/nowhere"),
        ):
            assert len(response.headers["x-request-id"]) >= 16
        mine = http.get("/v1/targets/NOSUCH3", headers={"X-Request-ID": "my-trace-0001"})
        assert mine.headers["x-request-id"] == "my-trace-0001" and mine.json()["request_id"] == "my-trace-0001"
    with gateway.client(None) as anonymous:
        refused = anonymous.get("/v1/models")
        assert refused.json()["request_id"] == refused.headers["x-request-id"]


def test_docs_and_schema_are_served(gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:
        assert anonymous.get("/docs").status_code == 200
        schema = anonymous.get("/openapi.json").json()
    assert "/v1/predict" in schema["paths"] and "ApiKey" in schema["components"]["securitySchemes"]
