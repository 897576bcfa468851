"""Refusals over real HTTP: 401, 403, 404, 409 and 422 on the routes where they belong, every one a
JSON error body with a stable code, a message that says what to fix and the request id; a refused
request leaves the store as it was."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import Gateway, deploy_variant
from tests.helpers import SAMPLE_TRAIN, SAMPLE_VAL, free_cpus_taken, make_key, revoke

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
        issued = make_key(gateway.grains, "reader", name="to revoke")
        headers = {"Authorization": f"Bearer {issued.key}"}
        assert anonymous.get("/v1/targets", headers=headers).status_code == 200
        revoke(gateway.grains, issued.summary.key_id)
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
    own = SEQUENCE[:-10] + "WWWWWWWWWW"  # a sequence of its own: SEQUENCE under another id would be an alias
    assert http.put("/v1/targets/T409", json={"sequence": own, "name": "first"}).status_code == 201
    conflict = error_of(
        http.put("/v1/targets/T409", json={"sequence": OTHER, "name": "second"}), 409, "target_conflict"
    )
    assert "another sequence" in conflict["message"] and "position" in conflict["message"]
    stored = http.get("/v1/targets/T409").json()
    assert stored["sequence"] == own and stored["name"] == "first"


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
    broken = error_of(
        http.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_input",
    )
    assert broken["field"] == "body" and "line 1, column 2 (found 'n')" in broken["message"]
    crlf = json.dumps({"pairs": [{"smiles": ASPIRIN, "sequence": "MKV"}]}).replace("MKV", "MKV\r")
    pasted = error_of(
        http.post("/v1/predict", content=crlf, headers={"content-type": "application/json"}), 422, "invalid_input"
    )
    assert "U+000D (CARRIAGE RETURN)" in pasted["message"] and "raw control character" in pasted["message"]
    as_text = error_of(
        http.post("/v1/explain", json={"smiles": ASPIRIN, "sequence": SEQUENCE, "top": "5"}), 422, "invalid_input"
    )
    assert as_text["field"] == "top" and "not the string '5'" in as_text["message"]
    hidden = error_of(
        http.post("/v1/predict", json={"pairs": [{"smiles": "\u202e" + ASPIRIN, "sequence": SEQUENCE}]}),
        422,
        "invalid_smiles",
    )
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1" in hidden["message"]
    library = "a" * 64
    no_key = error_of(
        http.post("/v1/screens", json={"library_id": library, "targets": ["T422"]}, headers={"Idempotency-Key": ""}),
        422,
        "invalid_input",
    )
    assert no_key["field"] == "idempotency-key"


def test_422_for_a_refused_upload_stores_nothing(http: httpx.Client) -> None:
    before = http.get("/v1/datasets").json()["items"]
    refused = http.post("/v1/datasets", files={"file": ("bad.csv", b"SMILES,Y\nCCO,1\n")})
    body = error_of(refused, 422, "invalid_table")
    assert body["field"] == "file" and "missing column(s) Protein" in body["message"]
    error_of(http.post("/v1/datasets", files={"file": ("empty.csv", b"")}), 422, "invalid_table")
    no_file = error_of(http.post("/v1/datasets", data={"name": "nothing"}), 422, "invalid_input")
    assert no_file["field"] == "file"
    assert http.get("/v1/datasets").json()["items"] == before


def test_training_requests_are_checked_at_the_door(gateway: Gateway) -> None:
    """A run request the worker would refuse is refused before a run exists: 422 naming the field,
    404 for an unknown dataset (these used to answer 201, then fail in the worker)."""
    with gateway.client("admin") as admin:
        rows = "\n".join(SAMPLE_TRAIN.read_text().splitlines()[:121]) + "\n"  # not the content other tests register
        uploaded = admin.post("/v1/datasets", files={"file": ("door.csv", rows.encode())})
        assert uploaded.status_code in (200, 201), uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    with gateway.client("scientist") as http:
        before = http.get("/v1/training-runs").json()["items"]
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"split_id": "../../../etc/passwd"}, "split_id", "is not a split id"),
            ({"seed": 2**70}, "seed", "less than or equal to 4294967295"),
            ({"seed": "5"}, "seed", "valid integer"),
            ({"epochs": 0}, "epochs", "greater than or equal to 1"),
            ({"model_type": "rf", "epochs": 5}, "epochs", "rf models do not use epochs"),
            ({"epoch": 5}, "epoch", "Extra inputs are not permitted"),
        ]
        for fields, field, message in cases:
            body = error_of(
                http.post("/v1/training-runs", json={"dataset_id": dataset_id, **fields}), 422, "invalid_input"
            )
            assert body["field"] == field and message in body["message"], (fields, body)
        empty_val = http.post("/v1/training-runs", json={"dataset_id": dataset_id, "split_id": "random-42-1-0-0"})
        assert "has no val rows" in error_of(empty_val, 422, "invalid_input")["message"]
        too_big = http.post("/v1/training-runs", json={"dataset_id": dataset_id, "num_cpus": 512})
        assert "asks for 512 CPU(s)" in error_of(too_big, 422, "invalid_input")["message"]
        error_of(http.post("/v1/training-runs", json={"dataset_id": "0" * 64}), 404, "dataset_not_found")
        assert http.get("/v1/training-runs").json()["items"] == before


def test_503_with_retry_after_when_no_cpu_is_free(gateway: Gateway) -> None:
    """An upload whose build task finds every CPU taken answers 503 with Retry-After in about
    task_start_timeout_seconds, instead of hanging (it used to wait with no answer after 150 s)."""
    variant = deploy_variant(gateway.settings, "/busy", task_start_timeout_seconds=2, task_retry_after_seconds=9)
    url = next(variant)
    try:
        with httpx.Client(base_url=url, headers=gateway.headers("scientist"), timeout=120) as http, free_cpus_taken():
            started = time.monotonic()
            refused = http.post("/v1/datasets", files={"file": ("busy.csv", SAMPLE_VAL.read_bytes())})
            body = error_of(refused, 503, "cluster_busy")
            assert refused.headers["retry-after"] == "9" and "found no free CPU in 2s" in body["message"]
            assert time.monotonic() - started < 60
    finally:
        next(variant, None)


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
        for page, asset, kind in (
            ("/docs", "/docs/static/swagger-ui-bundle.js", "text/javascript"),
            ("/docs", "/docs/static/swagger-ui.css", "text/css"),
            ("/redoc", "/docs/static/redoc.standalone.js", "text/javascript"),
        ):  # served by the gateway itself: the pages work without a CDN
            html = anonymous.get(page).text
            assert asset in html and "cdn." not in html
            served = anonymous.get(asset)
            assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
    assert "/v1/predict" in schema["paths"] and "ApiKey" in schema["components"]["securitySchemes"]
