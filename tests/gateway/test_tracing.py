"""Traces through the gateway: its request and route spans (the app in-process, spans in memory), and
one request's spans across the cluster's processes forming one trace (the package's gateway, whose
processes write their spans to files: ``otel_traces_exporter="file"`` in its settings)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from starlette.testclient import TestClient

from repurpose.gateway.app import create_app
from repurpose.runtime import tracing
from repurpose.runtime.span_files import read_spans
from repurpose.settings import Settings
from repurpose.store import upgrade
from tests.gateway.conftest import Gateway
from tests.helpers import RecordedSpans, poll, random_protein

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"


@pytest.fixture
def traced_app(tmp_path: Path) -> Iterator[tuple[TestClient, RecordedSpans]]:
    """The gateway app without a cluster (auth off; what the tests send is answered before any grain
    call), its spans in memory."""
    settings = Settings(home=tmp_path, gateway_auth=False)
    upgrade(settings.database_url)
    recorded = RecordedSpans()
    with recorded.pinned():
        app = create_app(settings, standalone=True)
    with TestClient(app) as client:
        yield client, recorded


def test_a_request_is_a_server_span_with_the_http_attributes_and_its_route_call_under_it(
    traced_app: tuple[TestClient, RecordedSpans],
) -> None:
    client, recorded = traced_app
    answer = client.post("/v1/predict", json={"pairs": []})
    assert answer.status_code == 422
    spans = recorded.named()
    assert set(spans) == {"POST /v1/predict", "service scoring.predict"}
    request, route = spans["POST /v1/predict"], spans["service scoring.predict"]
    assert request.kind == SpanKind.SERVER and request.parent is None  # the edge: a trace starts here
    assert dict(request.attributes) == {
        "http.request.method": "POST",
        "url.path": "/v1/predict",
        "url.scheme": "http",
        "repurpose.request_id": answer.headers["x-request-id"],
        "http.route": "/v1/predict",
        "http.response.status_code": 422,
    }
    assert request.status.status_code == StatusCode.UNSET  # a 4xx is the caller's error, not the server's
    assert route.parent is not None and route.parent.span_id == request.context.span_id


def test_a_request_continues_the_trace_its_traceparent_names(traced_app: tuple[TestClient, RecordedSpans]) -> None:
    client, recorded = traced_app
    with recorded.tracer.start_as_current_span("client") as caller:
        headers = tracing.inject()
    assert headers is not None
    client.get("/v1/nothing-here", headers=headers)
    request = recorded.named()["GET"]  # no route matched: the method alone names it
    assert request.context.trace_id == caller.get_span_context().trace_id
    assert request.parent is not None and request.parent.span_id == caller.get_span_context().span_id
    assert request.attributes["http.response.status_code"] == 404 and "http.route" not in request.attributes


def test_probes_and_scrapes_start_no_trace(traced_app: tuple[TestClient, RecordedSpans]) -> None:
    client, recorded = traced_app
    assert client.get("/healthz").status_code == 200
    assert recorded.spans() == []


# --- across the cluster --------------------------------------------------------------------------


def _trace(gateway: Gateway, trace_id: int, names: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The spans of one trace written by the cluster's processes, by name, once ``names`` are all there."""
    folder = Path(gateway.settings.traces_dir)

    def spans() -> list[dict[str, Any]]:
        return [span for span in read_spans(folder) if int(span["context"]["trace_id"], 16) == trace_id]

    found = poll(spans, lambda got: names <= {span["name"] for span in got}, 60, f"spans {sorted(names)}")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in found:
        by_name.setdefault(span["name"], []).append(span)
    return by_name


def _assert_one_tree(root_span_id: int, spans: dict[str, list[dict[str, Any]]]) -> None:
    """Every span's parent is the client's span or another span of the trace."""
    ids = {f"0x{root_span_id:016x}"} | {span["context"]["span_id"] for group in spans.values() for span in group}
    orphans = [span["name"] for group in spans.values() for span in group if span["parent_id"] not in ids]
    assert orphans == []


def _pid(span: dict[str, Any]) -> int:
    return int(span["resource"]["attributes"]["process.pid"])


def _parent_of(child: dict[str, Any], parent: dict[str, Any]) -> bool:
    return bool(child["parent_id"] == parent["context"]["span_id"])


@pytest.mark.slow
def test_one_prediction_is_one_trace_across_the_gateway_a_grain_host_and_the_scorer(
    gateway: Gateway, http: httpx.Client
) -> None:
    target = f"TRACE{uuid.uuid4().hex[:6].upper()}"  # new: the gateway asks its grain for the sequence
    registered = http.put(f"/v1/targets/{target}", json={"sequence": random_protein(140, seed=1414)})
    assert registered.status_code == 201, registered.text
    recorded = RecordedSpans()
    with recorded.tracer.start_as_current_span("client") as client_span:
        answer = http.post(
            "/v1/predict", json={"pairs": [{"smiles": ASPIRIN, "target": target}]}, headers=tracing.inject()
        )
    assert answer.status_code == 200, answer.text
    ids = client_span.get_span_context()
    spans = _trace(
        gateway,
        ids.trace_id,
        {
            "POST /v1/predict",
            "service scoring.predict",
            "grain target.sequence",
            "grain turn target.sequence",
            "scorer predict",
            "scorer batch",
        },
    )
    _assert_one_tree(ids.span_id, spans)

    (request,) = spans["POST /v1/predict"]
    assert _parent_of(request, {"context": {"span_id": f"0x{ids.span_id:016x}"}})
    assert request["attributes"]["http.route"] == "/v1/predict"
    assert request["attributes"]["http.response.status_code"] == 200
    (grain_call,), (turn,) = spans["grain target.sequence"], spans["grain turn target.sequence"]
    assert _parent_of(turn, grain_call) and turn["attributes"]["repurpose.grain.key"] == target
    scorer_call, scorer_turn = sorted(spans["scorer predict"], key=lambda s: s["kind"])  # CLIENT, SERVER
    assert (scorer_call["kind"], scorer_turn["kind"]) == ("SpanKind.CLIENT", "SpanKind.SERVER")
    assert _parent_of(scorer_turn, scorer_call)
    assert any(_parent_of(batch, scorer_turn) for batch in spans["scorer batch"])
    # the gateway replica, the grain host and the scorer replica: three processes, none of them this one
    processes = {_pid(request), _pid(turn), _pid(scorer_turn)}
    assert len(processes) == 3 and os.getpid() not in processes
    assert _pid(grain_call) == _pid(scorer_call) == _pid(request)


@pytest.mark.slow
def test_a_screen_is_one_trace_from_its_request_through_the_runner_and_the_scorer(
    gateway: Gateway, http: httpx.Client
) -> None:
    target = f"TRSCR{uuid.uuid4().hex[:6].upper()}"
    assert http.put(f"/v1/targets/{target}", json={"sequence": random_protein(160, seed=1515)}).status_code == 201
    table = f"compound_id,smiles\ntrace-asp,{ASPIRIN}\ntrace-par,{PARACETAMOL}\n".encode()
    library = http.post("/v1/libraries", files={"file": ("trace-lib.csv", table)})
    assert library.status_code == 201, library.text
    recorded = RecordedSpans()
    with recorded.tracer.start_as_current_span("client") as client_span:
        body = {"library_id": library.json()["library_id"], "targets": [target]}
        screen = http.post("/v1/screens", json=body, headers=tracing.inject())
    assert screen.status_code == 201, screen.text
    done = poll(
        lambda: http.get(f"/v1/screens/{screen.json()['job_id']}").json(),
        lambda detail: detail["status"] != "running",
        120,
        "the screen",
    )
    assert done["status"] == "succeeded", done
    ids = client_span.get_span_context()
    spans = _trace(
        gateway,
        ids.trace_id,
        {
            "POST /v1/screens",
            "grain turn screening-job.start",
            "screening attempt",
            "screening chunk",
            "scorer score_chunk",
            "grain turn screening-job.chunk_done",
            "grain turn screening-job.complete",
        },
    )
    _assert_one_tree(ids.span_id, spans)
    (start,), (attempt,) = spans["grain turn screening-job.start"], spans["screening attempt"]
    assert _parent_of(attempt, start)  # the task carried the turn's context to the runner
    (chunk,) = spans["screening chunk"]
    assert _parent_of(chunk, attempt) and chunk["attributes"]["repurpose.target"] == target
    runner = _pid(attempt)
    assert runner not in {_pid(start), _pid(spans["POST /v1/screens"][0])}
    served = [s for s in spans["scorer score_chunk"] if s["kind"] == "SpanKind.SERVER"]
    assert served and all(_pid(s) not in {runner, _pid(start)} for s in served)
