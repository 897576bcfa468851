"""The gateway's pieces that need no cluster: token buckets, roles, key parsing, error field names."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from repurpose.actors.api_key import KIND, ApiKeyState, hash_secret, secret_matches
from repurpose.contracts.keys import parse_key
from repurpose.contracts.scoring import ScorerStats
from repurpose.errors import (
    ClusterNotRunning,
    DatasetNotFound,
    GrainUnavailable,
    InvalidSmiles,
    ModelDirectoryError,
    StaleWrite,
    TargetConflict,
)
from repurpose.gateway.app import create_app
from repurpose.gateway.auth import PERMISSIONS, AuthMiddleware, KeyVerifier, Permission, Principal, presented_key
from repurpose.gateway.auth_failures import FailedAuthLimiter
from repurpose.gateway.errors import _field_name, status_of
from repurpose.gateway.limits import BodyLimitMiddleware, RateLimiter
from repurpose.gateway.metrics import SCORER_STATS_MAX_AGE_SECONDS, ScorerStatsCollector
from repurpose.gateway.paths import route_path
from repurpose.gateway.request_ids import RequestIdFilter, RequestIdMiddleware
from repurpose.gateway.routes import UPLOAD_PATHS
from repurpose.settings import Settings
from repurpose.store import make_engine, save_state, upgrade


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.wait_for("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_for("a") == pytest.approx(0.5)  # one token comes back in 1/rate s
    assert limiter.wait_for("b") == 0.0  # buckets are per subject
    clock.now = 0.5
    assert limiter.wait_for("a") == 0.0
    clock.now = 100.0  # a bucket never holds more than its burst
    assert [limiter.wait_for("a") for _ in range(4)][-1] > 0


def test_roles_grow_from_reader_to_admin() -> None:
    assert PERMISSIONS["reader"] == {Permission.READ, Permission.SCORE}
    assert PERMISSIONS["reader"] < PERMISSIONS["scientist"] < PERMISSIONS["admin"]
    assert not Principal(subject="key:x", role="scientist").may(Permission.MANAGE)
    assert Principal(subject="key:x", role="admin").may(Permission.MANAGE)


def test_keys_are_found_in_either_header_and_parsed_strictly() -> None:
    key = "rp_0123456789ab_" + "x" * 43
    assert presented_key(Headers({"authorization": f"Bearer {key}"})) == key
    assert presented_key(Headers({"x-api-key": key})) == key
    assert presented_key(Headers({"authorization": "Basic abc"})) is None
    assert parse_key(key) == ("0123456789ab", "x" * 43)
    assert parse_key(key + "y") is None and parse_key("rp_0123456789AB_" + "x" * 43) is None
    assert secret_matches("x" * 43, hash_secret("x" * 43)) and not secret_matches("y" * 43, hash_secret("x" * 43))


def test_error_fields_read_like_the_body() -> None:
    assert _field_name(("body", "pairs", 2, "smiles")) == "pairs[2].smiles"
    assert _field_name(("query", "top")) == "top"
    assert _field_name(("body",)) == "body"


def test_paths_below_a_route_prefix() -> None:
    assert route_path({"path": "/limited/v1/predict", "root_path": "/limited"}) == "/v1/predict"
    assert route_path({"path": "/v1/predict", "root_path": ""}) == "/v1/predict"
    assert route_path({"path": "/limitedx/v1", "root_path": "/limited"}) == "/limitedx/v1"


def test_each_domain_error_gets_its_status() -> None:
    assert status_of(InvalidSmiles("bad", smiles="C1CC")) == 422
    assert status_of(DatasetNotFound("none", dataset_id="x")) == 404
    assert status_of(TargetConflict("other sequence", target_id="EGFR")) == 409
    assert status_of(StaleWrite("moved on", kind="target", key="EGFR", expected_version=1, actual_version=2)) == 409
    assert status_of(GrainUnavailable("host gone", kind="target")) == 503
    assert status_of(ClusterNotRunning("down")) == 503
    assert status_of(ModelDirectoryError("broken")) == 500  # not the caller's input: a fault of ours


def test_log_lines_written_during_a_request_carry_its_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("repurpose.gateway.test_pieces")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    async def endpoint(_: Request) -> PlainTextResponse:
        log.info("handling")
        return PlainTextResponse("ok")

    app = RequestIdMiddleware(Starlette(routes=[Route("/", endpoint)]), set_header=True)
    try:
        with TestClient(app) as client:
            given = client.get("/", headers={"X-Request-ID": "abc-123"})
            unsafe = client.get("/", headers={"X-Request-ID": "no spaces allowed"})
        log.info("outside")
    finally:
        log.removeHandler(handler)

    assert given.headers["x-request-id"] == "abc-123"
    made = unsafe.headers["x-request-id"]
    assert made != "no spaces allowed" and len(made) == 32  # a fresh id replaces an unsafe one
    assert stream.getvalue().splitlines() == ["abc-123 handling", f"{made} handling", "- outside"]


class _ReaderKeys(KeyVerifier):
    """Every presented key is a reader's (the store's lookup is tested over real HTTP)."""

    def __init__(self) -> None:
        pass

    async def principal(self, presented: str, *, lookup: bool = True) -> Principal:
        return Principal(subject="key:reader", role="reader", key_id="reader")


@pytest.mark.parametrize(
    ("method", "path", "refused"),
    [("POST", "/v1/datasets", True), ("POST", "/v1/libraries", True), ("GET", "/v1/datasets", False)],
)
def test_an_upload_the_role_may_not_make_is_refused_before_its_body_is_read(
    method: str, path: str, refused: bool
) -> None:
    reached: list[str] = []
    body_reads: list[int] = []
    sent: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> Message:
        body_reads.append(1)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": method, "path": path, "headers": [(b"authorization", b"Bearer rp_k")]}
    asyncio.run(AuthMiddleware(inner, verifier=_ReaderKeys(), enabled=True)(scope, receive, send))

    if refused:
        assert sent[0]["status"] == 403 and not reached and not body_reads
    else:
        assert reached == [path]


def test_scorer_figures_are_one_family_per_name_with_a_series_per_replica() -> None:
    clock = Clock()
    collector = ScorerStatsCollector(clock=clock)
    registry = CollectorRegistry()
    registry.register(collector)
    for replica, batches in (("a", {1: 3, 5: 1}), ("b", {2: 2})):
        stats = ScorerStats(
            1, 2, 3, 4, 5, 6, 7, ["m"], 8, 9, sum(batches.values()), max(batches), batches, replica, 10, 11, 12
        )
        collector.record(stats)

    text = generate_latest(registry).decode()
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) == 16  # a strict parser's rule: one TYPE line per name
    families = families_of(registry)
    batch_sizes = families["repurpose_scorer_predict_batch_size"]
    counts = {s.labels["replica"]: s.value for s in batch_sizes.samples if s.name.endswith("_count")}
    sums = {s.labels["replica"]: s.value for s in batch_sizes.samples if s.name.endswith("_sum")}
    assert counts == {"a": 4, "b": 2} and sums == {"a": 8, "b": 4}
    assert {s.labels["replica"] for s in families["repurpose_scorer_pairs_scored"].samples} == {"a", "b"}
    kept = {s.labels["replica"]: s.value for s in families["repurpose_scorer_compound_state_bytes"].samples}
    assert kept == {"a": 10, "b": 10}

    clock.now += SCORER_STATS_MAX_AGE_SECONDS + 1  # neither read again: both left out
    collector.record(ScorerStats(0, 0, 0, 0, 0, 0, 0, [], 0, 0, replica="c"))
    replicas = {s.labels["replica"] for s in families_of(registry)["repurpose_scorer_rss_bytes"].samples}
    assert replicas == {"c"}


def families_of(registry: CollectorRegistry) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


# --- failed authentication (issue 11, item 5) ------------------------------------------------------


def _ask(app: AuthMiddleware, key: str, address: str) -> tuple[int, dict[str, str]]:
    """One /v1 request with ``key`` from ``address`` through ``app``: its status and headers."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/models",
        "headers": [(b"authorization", f"Bearer {key}".encode())],
        "client": (address, 50_000),
    }
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start.get("headers", [])}


def _made_up_key(n: int) -> str:
    return f"rp_{n:012x}_" + "A" * 43


def test_failed_authentications_past_the_limit_get_429_without_a_store_lookup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    engine = make_engine(url)
    secret = "s" * 43
    state = ApiKeyState(role="reader", secret_sha256=hash_secret(secret), created_at=dt.datetime.now(dt.UTC))
    save_state(engine, KIND, "00000000beef", state.model_dump(mode="json"), expected_version=0)
    valid = f"rp_00000000beef_{secret}"
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def lookups() -> int:
        return sum(s.lstrip().upper().startswith("SELECT") for s in statements)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    clock = Clock()
    failures = FailedAuthLimiter(max_failures=3, window_seconds=60, clock=clock)
    app = AuthMiddleware(inner, verifier=KeyVerifier(engine, 30, clock=clock), enabled=True, failures=failures)

    assert _ask(app, valid, "10.0.0.1")[0] == 200  # checked and cached
    assert [_ask(app, _made_up_key(n), "10.0.0.1")[0] for n in range(3)] == [401, 401, 401]
    assert _ask(app, _made_up_key(0), "10.0.0.2")[0] == 401  # an unknown id is remembered: no second lookup
    looked_up = lookups()
    assert looked_up == 4  # the valid key and three made-up ones

    status, headers = _ask(app, _made_up_key(99), "10.0.0.1")
    assert status == 429 and headers["retry-after"] == "60"
    assert [_ask(app, _made_up_key(n), "10.0.0.1")[0] for n in range(100, 110)] == [429] * 10
    assert lookups() == looked_up  # refused at the door: the store is not asked
    assert _ask(app, valid, "10.0.0.1")[0] == 200  # a key the replica checked recently still passes
    assert _ask(app, _made_up_key(200), "10.0.0.3")[0] == 401  # other addresses are counted apart

    clock.now = 61.0  # the failures have left the window
    assert _ask(app, _made_up_key(300), "10.0.0.1")[0] == 401


def test_the_failure_window_slides() -> None:
    clock = Clock()
    limiter = FailedAuthLimiter(max_failures=2, window_seconds=10, clock=clock)
    limiter.failed("a")
    clock.now = 4.0
    limiter.failed("a")
    assert limiter.wait_for("a") == pytest.approx(6.0) and limiter.wait_for("b") == 0.0
    clock.now = 10.0  # the first failure left the window: one more try
    assert limiter.wait_for("a") == 0.0


# --- the gateway app without a cluster: docs, bodies, JSON errors (issue 11, items 8, 10 and 11) --


@pytest.fixture(scope="module")
def offline_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real gateway app, auth off, on its own store: what these tests send is refused before any
    grain or scorer is called, so no cluster is needed."""
    settings = Settings(home=tmp_path_factory.mktemp("offline-gateway"), gateway_auth=False)
    upgrade(settings.database_url)
    with TestClient(create_app(settings, standalone=True), root_path="/pre") as client:
        yield client


_URLS = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)|url: *'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_the_gateway(offline_gateway: TestClient, page: str) -> None:
    answer = offline_gateway.get(f"/pre{page}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    urls = [a or b for a, b in _URLS.findall(answer.text)]
    assert "/pre/openapi.json" in urls and len(urls) >= 3
    assert all(u.startswith("/pre/") for u in urls), urls  # nothing from a CDN: the pages work offline
    assert "cdn" not in answer.text and "googleapis" not in answer.text
    types = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    for url in urls:
        asset = offline_gateway.get(url)
        assert asset.status_code == 200, url
        if not url.endswith(".json"):
            assert asset.headers["content-type"].startswith(types[url.rsplit(".", 1)[1]])
            assert len(asset.content) > 1000


def test_a_broken_json_body_is_explained_with_line_column_and_character(offline_gateway: TestClient) -> None:
    body = b'{"pairs": [\n  {"smiles": "CCO", "sequence": "MKV\r"}]}'  # a CRLF file's line in a JSON string
    answer = offline_gateway.post("/pre/v1/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    error = answer.json()
    assert error["code"] == "invalid_input" and error["field"] == "body"
    assert error["message"] == (
        "the request body is not valid JSON: line 2, column 37 (found U+000D (CARRIAGE RETURN)): "
        "a raw control character inside a string: escape it (\\n, \\r, \\t) or remove it"
    )
    answer = offline_gateway.post("/pre/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert "line 1, column 2 (found 'n'): a field name in double quotes" in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/pre/v1/explain", {"smiles": "CCO", "sequence": "MKV", "top": "5"}, "top"),
        ("/pre/v1/profile", {"smiles": "CCO", "top": 5.0}, "top"),
        ("/pre/v1/screens", {"library_id": "a" * 64, "targets": ["EGFR"], "top": "5"}, "top"),
        ("/pre/v1/training-runs", {"dataset_id": "a" * 64, "seed": "42"}, "seed"),
        ("/pre/v1/models/drugban-human/versions/1/promote", {"stage": "staging", "force": "true"}, "force"),
    ],
)
def test_request_bodies_take_numbers_and_booleans_only_as_json_numbers_and_booleans(
    offline_gateway: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    answer = offline_gateway.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and "valid" in answer.json()["message"]


def test_an_empty_idempotency_key_is_refused(offline_gateway: TestClient) -> None:
    body = {"library_id": "a" * 64, "targets": ["EGFR"]}
    for empty in ("", "  "):
        answer = offline_gateway.post("/pre/v1/screens", json=body, headers={"Idempotency-Key": empty})
        assert answer.status_code == 422, answer.text
        error = answer.json()
        assert error["field"] == "idempotency-key" and "empty Idempotency-Key" in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"pairs": [{"smiles": "\u202eCCO", "sequence": "MKV"}]}, "pairs[0].smiles", "invalid_smiles"),
        ({"pairs": [{"smiles": "CCO\x00", "sequence": "MKV"}]}, "pairs[0].smiles", "invalid_smiles"),
        ({"pairs": [{"smiles": "CCO", "target": "\u202eEGFR"}]}, "pairs[0].target", "invalid_input"),
        ({"model": "drugban\u200b", "pairs": [{"smiles": "CCO", "sequence": "MKV"}]}, "model", "invalid_input"),
    ],
)
def test_control_and_format_characters_are_refused_in_smiles_and_ids(
    offline_gateway: TestClient, body: dict[str, Any], field: str, code: str
) -> None:
    answer = offline_gateway.post("/pre/v1/predict", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["field"] == field and error["code"] == code
    assert "control or format characters" in error["message"] and "U+" in error["message"]


@pytest.mark.parametrize("path", ["/pre/v1/profile", "/pre/v1/explain"])
def test_a_compound_is_a_smiles_or_a_library_compound_id(offline_gateway: TestClient, path: str) -> None:
    protein = {"sequence": "MKV"} if path.endswith("explain") else {}
    for body in ({"smiles": "CCO", "compound": "DB00317"}, {}):
        answer = offline_gateway.post(path, json={**body, **protein})
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid_input" and "`smiles` or `compound`" in answer.json()["message"]
    unknown = offline_gateway.post(path, json={"compound": "DB99999", **protein})
    assert unknown.status_code == 404, unknown.text
    error = unknown.json()
    assert error["code"] == "compound_not_found"
    assert "no compound 'DB99999' in any library: none is registered" in error["message"]


def test_the_docs_say_which_model_answers_when_none_is_named(offline_gateway: TestClient) -> None:
    schema = offline_gateway.get("/pre/openapi.json").json()
    description = schema["info"]["description"]
    assert "REPURPOSE_DEFAULT_MODEL" in description and "here `drugban-human`" in description
    for body in ("PredictBody", "ExplainBody", "ProfileBody"):
        model = schema["components"]["schemas"][body]["properties"]["model"]
        assert "default" not in model or model["default"] is None
        assert "cluster's default model" in model["description"]


MAX_JSON, MAX_FILE = 1_000, 10_000


@pytest.mark.parametrize(
    ("path", "declared", "message"),
    [
        ("/v1/models/knn-union/versions/2/retrieval", MAX_JSON + 1, None),  # a held-out set: the upload limit
        ("/pre/v1/models/knn-union/versions/latest/retrieval/", MAX_FILE, None),
        ("/v1/models/knn-union/versions/2/retrieval", MAX_FILE + 1, "10,000 bytes accepted for an upload"),
        ("/v1/datasets", MAX_FILE + 1, "for an upload (gateway_max_upload_bytes); split the file"),
        ("/v1/models/knn-union/versions/2/evaluate", MAX_JSON + 1, "1,000 bytes accepted (gateway_max_body_bytes)"),
        ("/v1/models/a/b/versions/2/retrieval", MAX_JSON + 1, "send fewer pairs"),  # one segment per name
    ],
)
def test_held_out_uploads_count_as_uploads_against_the_body_limits(path: str, declared: int, message: str) -> None:
    reached: list[str] = []
    sent: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "/pre" if path.startswith("/pre/") else "",
        "headers": [(b"content-length", str(declared).encode())],
    }
    limits = BodyLimitMiddleware(inner, max_body=MAX_JSON, max_upload=MAX_FILE, upload_paths=UPLOAD_PATHS)
    asyncio.run(limits(scope, receive, send))

    if message is None:
        assert reached == [path] and not sent
        return
    body = json.loads(b"".join(m.get("body", b"") for m in sent))
    assert sent[0]["status"] == 413 and body["code"] == "body_too_large" and not reached
    assert message in body["message"]
    if "retrieval" in path and "upload" in message:
        assert "split the held-out set" in body["message"] and "pairs" not in body["message"]


def test_every_upload_path_is_a_route_of_the_gateway(offline_gateway: TestClient) -> None:
    paths = offline_gateway.get("/pre/openapi.json").json()["paths"]
    assert all("post" in paths.get(template, {}) for template in UPLOAD_PATHS), sorted(paths)
