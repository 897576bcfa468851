"""The gateway's pieces that need no cluster: token buckets, roles, key parsing, error field names."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

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
from repurpose.gateway.auth import PERMISSIONS, AuthMiddleware, KeyVerifier, Permission, Principal, presented_key
from repurpose.gateway.errors import _field_name, status_of
from repurpose.gateway.keys import hash_secret, parse_key, secret_matches
from repurpose.gateway.limits import RateLimiter
from repurpose.gateway.metrics import SCORER_STATS_MAX_AGE_SECONDS, ScorerStatsCollector
from repurpose.gateway.paths import route_path
from repurpose.gateway.request_ids import RequestIdFilter, RequestIdMiddleware


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

    async def principal(self, presented: str) -> Principal:
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
        stats = ScorerStats(1, 2, 3, 4, 5, 6, 7, ["m"], 8, 9, sum(batches.values()), max(batches), batches, replica)
        collector.record(stats)

    text = generate_latest(registry).decode()
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) == 13  # a strict parser's rule: one TYPE line per name
    families = families_of(registry)
    batch_sizes = families["repurpose_scorer_predict_batch_size"]
    counts = {s.labels["replica"]: s.value for s in batch_sizes.samples if s.name.endswith("_count")}
    sums = {s.labels["replica"]: s.value for s in batch_sizes.samples if s.name.endswith("_sum")}
    assert counts == {"a": 4, "b": 2} and sums == {"a": 8, "b": 4}
    assert {s.labels["replica"] for s in families["repurpose_scorer_pairs_scored"].samples} == {"a", "b"}

    clock.now += SCORER_STATS_MAX_AGE_SECONDS + 1  # neither read again: both left out
    collector.record(ScorerStats(0, 0, 0, 0, 0, 0, 0, [], 0, 0, replica="c"))
    replicas = {s.labels["replica"] for s in families_of(registry)["repurpose_scorer_rss_bytes"].samples}
    assert replicas == {"c"}


def families_of(registry: CollectorRegistry) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
