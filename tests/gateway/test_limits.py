"""Limits over real HTTP: 413 for bodies and uploads over the limits, 429 with Retry-After past a key's
rate; and a gateway with auth off. Each runs as its own gateway application (tiny limits) on the
package's store and scorer, under its own route prefix."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.gateway.conftest import Gateway, deploy_variant, has_request_id
from tests.helpers import make_key

pytestmark = pytest.mark.slow

MAX_BODY = 4096
MAX_UPLOAD = 16_384
MAX_ROWS = 50
RATE = 1 / 600  # requests per second per key: a token every 10 minutes, so past the burst a refusal is
BURST = 3  # certain however slowly the requests go (the refill itself: test_pieces, on a clock of its own)


@pytest.fixture(scope="module")
def limited(gateway: Gateway) -> Iterator[str]:
    yield from deploy_variant(
        gateway.settings,
        "/limited",
        gateway_max_body_bytes=MAX_BODY,
        gateway_max_upload_bytes=MAX_UPLOAD,
        max_upload_rows=MAX_ROWS,
        gateway_rate_per_second=RATE,
        gateway_rate_burst=BURST,
    )


@pytest.fixture(scope="module")
def open_gateway(gateway: Gateway) -> Iterator[str]:
    yield from deploy_variant(gateway.settings, "/open", gateway_auth=False)


MAX_FAILURES = 3


@pytest.fixture(scope="module")
def guarded(gateway: Gateway) -> Iterator[str]:
    """A gateway that takes MAX_FAILURES failed authentications per address and minute."""
    yield from deploy_variant(
        gateway.settings,
        "/guarded",
        gateway_auth_max_failures=MAX_FAILURES,
        gateway_auth_failure_window_seconds=60.0,
        gateway_key_cache_seconds=120.0,
    )


def client_with_fresh_key(gateway: Gateway, url: str, role: str = "scientist") -> httpx.Client:
    """Each test its own key: buckets are per key."""
    key = make_key(gateway.grains, role, name="limits test").key
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        event_hooks={"response": [has_request_id]},
    )


def test_413_for_an_upload_over_the_upload_limit(gateway: Gateway, limited: str) -> None:
    with client_with_fresh_key(gateway, limited) as http:
        table = b"SMILES,Protein,Y\n" + b"CCO,MKVLAAGIVALLLAAG,1\n" * 1000  # 22 KB
        refused = http.post("/v1/datasets", files={"file": ("big.csv", table)})
        assert refused.status_code == 413, refused.text
        body = refused.json()
        assert body["code"] == "body_too_large" and "16,384" in body["message"] and "upload" in body["message"]
        # sent without a Content-Length (chunked): counted as it arrives
        streamed = http.post(
            "/v1/libraries",
            content=iter([b"x" * 8192] * 3),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
        small = http.post("/v1/datasets", files={"file": ("small.csv", b"SMILES,Protein,Y\nCCO,MKVL,1\nCCN,MKVL,0\n")})
        assert small.status_code in (200, 201), small.text  # the upload limit, not the JSON one, applies


def test_413_for_an_upload_over_the_row_limit_before_decoding(gateway: Gateway, limited: str) -> None:
    # 5,000 identical rows, dictionary-encoded and compressed: far under the byte limit
    rows = 5_000
    sink = io.BytesIO()
    pq.write_table(pa.table({"SMILES": ["CCO"] * rows, "Protein": ["MKVL"] * rows, "Y": [1] * rows}), sink)
    assert len(sink.getvalue()) < MAX_UPLOAD
    with client_with_fresh_key(gateway, limited) as http:
        refused = http.post("/v1/datasets", files={"file": ("bomb.parquet", sink.getvalue())})
        assert refused.status_code == 413, refused.text
        body = refused.json()
        assert body["code"] == "table_too_large" and body["field"] == "file"
        assert body["message"].startswith("bomb.parquet: 5,000 rows (from the Parquet metadata) is more than the 50")

        pairs = b"SMILES,Protein,Y\n" + b"CCO,MKVL,1\n" * (MAX_ROWS + 1)
        counted = http.post("/v1/datasets", files={"file": ("pairs.csv", pairs)})
        assert counted.status_code == 413 and counted.json()["code"] == "table_too_large", counted.text
        assert "more than the 50 rows accepted (max_upload_rows" in counted.json()["message"]

    # a second key: the first has spent 2 of its 3-request burst, and the refill takes 10 minutes a request
    with client_with_fresh_key(gateway, limited) as http:
        library = b"compound_id,smiles\n" + b"".join(b"C%d,CCO\n" % n for n in range(MAX_ROWS + 1))
        too_many = http.post("/v1/libraries", files={"file": ("lib.csv", library)})
        assert too_many.status_code == 413 and "more than the 50 compounds" in too_many.json()["message"]
        fits = http.post("/v1/libraries", files={"file": ("lib.csv", library.rsplit(b"C50,", 1)[0])})
        assert fits.status_code in (200, 201) and fits.json()["compounds"] == MAX_ROWS, fits.text


def test_413_for_a_json_body_over_the_body_limit(gateway: Gateway, limited: str) -> None:
    with client_with_fresh_key(gateway, limited) as http:
        pairs = [{"smiles": "CCO", "sequence": "MKVLAAGIVALLLAAG" * 4}] * 80  # about 7 KB
        refused = http.post("/v1/predict", json={"pairs": pairs})
        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == "body_too_large" and "fewer pairs" in refused.json()["message"]
        assert http.post("/v1/predict", json={"pairs": pairs[:2]}).status_code == 200


def test_429_with_retry_after_past_the_rate(gateway: Gateway, limited: str) -> None:
    with client_with_fresh_key(gateway, limited, role="reader") as http:
        answers = [http.get("/v1/models") for _ in range(BURST + 2)]
        assert [a.status_code for a in answers[:BURST]] == [200] * BURST
        limited_answer = answers[BURST]
        assert limited_answer.status_code == 429, limited_answer.text
        assert limited_answer.json()["code"] == "rate_limited"
        retry_after = int(limited_answer.headers["retry-after"])
        assert 1 / RATE - 120 <= retry_after <= 1 / RATE + 1  # the time to the next token: the burst went at once
        assert answers[BURST + 1].status_code == 429  # still empty
        scoring = http.post("/v1/predict", json={"pairs": [{"smiles": "CCO", "sequence": "MKVLAAGIVALLLAAG"}]})
        assert scoring.status_code == 429 and "retry-after" in scoring.headers  # one bucket per key, every route
        with client_with_fresh_key(gateway, limited, role="reader") as other:
            assert other.get("/v1/models").status_code == 200  # another key has its own bucket


def test_429_with_retry_after_past_the_failed_authentications_of_an_address(gateway: Gateway, guarded: str) -> None:
    with client_with_fresh_key(gateway, guarded, role="reader") as http:
        assert http.get("/v1/models").status_code == 200  # checked now: cached by the replica
        with httpx.Client(base_url=guarded, timeout=120, event_hooks={"response": [has_request_id]}) as guesser:
            made_up = [f"rp_{n:012x}_" + "A" * 43 for n in range(MAX_FAILURES + 5)]
            answers = [guesser.get("/v1/models", headers={"X-API-Key": key}) for key in made_up]
        assert [a.status_code for a in answers[:MAX_FAILURES]] == [401] * MAX_FAILURES
        assert {a.status_code for a in answers[MAX_FAILURES:]} == {429}
        refused = answers[MAX_FAILURES].json()
        assert refused["code"] == "rate_limited" and "too many failed authentications" in refused["message"]
        assert 1 <= int(answers[MAX_FAILURES].headers["retry-after"]) <= 60
        assert http.get("/v1/models").status_code == 200  # a key the replica checked recently still passes
        with client_with_fresh_key(gateway, guarded, role="reader") as newcomer:
            assert newcomer.get("/v1/models").status_code == 429  # from the same address, not yet checked


def test_auth_off_lets_requests_in_as_admin(open_gateway: str) -> None:
    with httpx.Client(base_url=open_gateway, timeout=120, event_hooks={"response": [has_request_id]}) as anonymous:
        assert anonymous.get("/v1/models").status_code == 200
        refused = anonymous.post("/v1/models/drugban-human/rollback")
        assert refused.status_code == 409  # past auth: an admin's request, refused by the registry
        assert anonymous.get("/openapi.json").json()["servers"] == [{"url": "/open"}]
        docs = anonymous.get("/docs").text  # its pages name their assets below the route prefix
        assert "/open/docs/static/swagger-ui-bundle.js" in docs and "'/open/openapi.json'" in docs
        assert anonymous.get("/docs/static/swagger-ui-bundle.js").status_code == 200
