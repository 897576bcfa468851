"""Traces: the exporter the settings choose (the standard OTEL_* variables), the W3C context carried
across calls, the spans made only inside a trace, the file and OTLP exporters."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NoOpTracer, SpanKind
from pydantic import ValidationError

from repurpose.runtime import tracing
from repurpose.runtime.span_files import read_spans
from repurpose.settings import Settings
from tests.helpers import RecordedSpans, free_port


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults are tested: a collector configured on this machine must not choose for them."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def recorded() -> RecordedSpans:
    return RecordedSpans()


# --- the exporter, from the settings -------------------------------------------------------------


def test_traces_are_off_by_default_and_go_to_otlp_when_an_endpoint_is_set(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).otel_traces_exporter == "none"
    assert Settings(home=tmp_path, otel_exporter_otlp_endpoint="http://collector:4318").otel_traces_exporter == "otlp"
    traces_url = "http://collector:4318/v1/traces"
    assert Settings(home=tmp_path, otel_exporter_otlp_traces_endpoint=traces_url).otel_traces_exporter == "otlp"
    named = Settings(home=tmp_path, otel_exporter_otlp_endpoint="http://c:4318", otel_traces_exporter="none")
    assert named.otel_traces_exporter == "none"
    assert Settings(home=tmp_path, otel_traces_exporter=" File,console,file").otel_traces_exporter == "file,console"
    assert Settings(home=tmp_path).traces_dir == str(tmp_path / "traces")


def test_the_standard_environment_variables_choose_the_exporter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "repurpose-lab")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    settings = Settings(home=tmp_path)
    assert (settings.otel_traces_exporter, settings.otel_service_name) == ("console", "repurpose-lab")
    assert settings.otel_exporter_otlp_endpoint == "http://collector:4318"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"otel_traces_exporter": "zipkin"}, "unknown exporter 'zipkin'"),
        ({"otel_traces_exporter": "none,file"}, "none cannot be combined"),
        ({"otel_exporter_otlp_endpoint": "collector:4318"}, "is not an http(s) URL"),
    ],
)
def test_bad_trace_settings_are_refused(tmp_path: Path, fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(home=tmp_path, **fields)


def test_none_gives_the_no_op_tracer_and_a_configuration_its_one_tracer(tmp_path: Path) -> None:
    off = tracing.tracer(Settings(home=tmp_path))
    assert isinstance(off, NoOpTracer) and not tracing.enabled(off)
    files = Settings(home=tmp_path, otel_traces_exporter="file")
    assert tracing.tracer(files) is tracing.tracer(files.with_overrides(grain_hosts=7))  # same tracing settings
    assert tracing.tracer(files) is not tracing.tracer(files.with_overrides(traces_dir=str(tmp_path / "other")))
    assert tracing.enabled(tracing.tracer(files))


def test_a_pinned_tracer_answers_whatever_the_settings(tmp_path: Path, recorded: RecordedSpans) -> None:
    with recorded.pinned():
        assert tracing.tracer(Settings(home=tmp_path)) is recorded.tracer
    assert isinstance(tracing.tracer(Settings(home=tmp_path)), NoOpTracer)


# --- the context across calls --------------------------------------------------------------------


def test_inject_gives_the_current_spans_traceparent_and_extract_takes_it_back(recorded: RecordedSpans) -> None:
    assert tracing.inject() is None  # outside a trace: nothing to carry
    with recorded.tracer.start_as_current_span("caller") as span:
        carrier = tracing.inject()
    ids = span.get_span_context()
    assert carrier == {"traceparent": f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"}
    assert ids.trace_flags.sampled
    context = tracing.extract(carrier)
    assert context is not None
    carried = trace.get_current_span(context).get_span_context()
    assert (carried.trace_id, carried.span_id, carried.is_remote) == (ids.trace_id, ids.span_id, True)


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        {},
        {"traceparent": "not a traceparent"},
        {"traceparent": f"00-{'0' * 32}-{'1' * 16}-01"},  # the all-zero trace id is invalid
        {"tracestate": "a=b"},
    ],
)
def test_a_carrier_without_a_valid_context_gives_none(carrier: dict[str, str] | None) -> None:
    assert tracing.extract(carrier) is None


def test_span_under_a_carried_context_is_its_child_and_none_without_one(recorded: RecordedSpans) -> None:
    with recorded.tracer.start_as_current_span("caller"):
        carrier = tracing.inject()
    with tracing.span_under(recorded.tracer, "callee", carrier) as callee:
        assert tracing.inject() is not None  # current: its own calls carry it on
    with tracing.span_under(recorded.tracer, "untraced", None) as untraced:
        assert not untraced.get_span_context().is_valid and tracing.inject() is None
    spans = recorded.named()
    assert set(spans) == {"caller", "callee"}
    assert spans["callee"].parent is not None and spans["callee"].parent.span_id == spans["caller"].context.span_id
    assert spans["callee"].context.trace_id == spans["caller"].context.trace_id
    assert spans["callee"].kind == SpanKind.SERVER and callee.get_span_context().is_valid


def test_child_span_only_inside_a_trace(recorded: RecordedSpans) -> None:
    with tracing.child_span(recorded.tracer, "background"):
        pass
    with recorded.tracer.start_as_current_span("request"), tracing.child_span(recorded.tracer, "call"):
        pass
    spans = recorded.named()
    assert set(spans) == {"request", "call"}
    assert spans["call"].parent is not None and spans["call"].parent.span_id == spans["request"].context.span_id


def test_a_batch_span_is_under_its_first_traced_member_and_linked_to_each(recorded: RecordedSpans) -> None:
    members = []
    for name in ("first", "second"):
        with recorded.tracer.start_as_current_span(name) as span:
            members.append(span.get_span_context())
    untraced = INVALID_SPAN_CONTEXT
    with tracing.span_for_batch(recorded.tracer, "batch", [untraced, *members]):
        pass
    with tracing.span_for_batch(recorded.tracer, "no batch", [untraced]):
        pass
    batch = recorded.named()["batch"]
    assert "no batch" not in recorded.named()
    assert batch.parent is not None and batch.parent.span_id == members[0].span_id
    assert [link.context.span_id for link in batch.links] == [m.span_id for m in members]


def test_a_recorded_span_is_back_dated_by_its_seconds(recorded: RecordedSpans) -> None:
    with recorded.tracer.start_as_current_span("run"):
        tracing.record_span(recorded.tracer, "epoch", 2.5, attributes={"repurpose.epoch": 1}, end_ns=10_000_000_000)
    tracing.record_span(recorded.tracer, "outside", 1.0)
    epoch = recorded.named()["epoch"]
    assert (epoch.start_time, epoch.end_time) == (7_500_000_000, 10_000_000_000)
    assert epoch.parent is not None and epoch.parent.span_id == recorded.named()["run"].context.span_id
    assert "outside" not in recorded.named()


# --- the exporters -------------------------------------------------------------------------------


def test_the_file_exporter_writes_a_json_line_per_span_as_it_ends(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, otel_traces_exporter="file", otel_service_name="repurpose-test")
    traces = tracing.tracer(settings)
    with traces.start_as_current_span("outer", attributes={"http.route": "/v1/predict"}):
        with traces.start_as_current_span("inner"):
            pass
        assert [span["name"] for span in read_spans(tmp_path / "traces")] == ["inner"]  # on disk already
    spans = {span["name"]: span for span in read_spans(tmp_path / "traces")}
    assert set(spans) == {"inner", "outer"}
    assert spans["inner"]["parent_id"] == spans["outer"]["context"]["span_id"]
    assert spans["outer"]["attributes"] == {"http.route": "/v1/predict"}
    assert spans["outer"]["resource"]["attributes"]["service.name"] == "repurpose-test"
    assert isinstance(spans["outer"]["resource"]["attributes"]["process.pid"], int)
    (written,) = (tmp_path / "traces").glob("spans-*.jsonl")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600  # spans name runs, models and targets: owner-only
    assert stat.S_IMODE((tmp_path / "traces").stat().st_mode) == 0o700


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """An OTLP/HTTP collector on 127.0.0.1 that keeps what it is sent."""
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_sends_the_spans_to_the_endpoints_v1_traces(
    tmp_path: Path, collector: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    url, received = collector
    settings = Settings(home=tmp_path, otel_exporter_otlp_endpoint=url + "/", otel_service_name="otlp-test")
    with tracing.tracer(settings).start_as_current_span("sent", kind=SpanKind.SERVER):
        pass
    tracing.flush(settings)  # batched: sent on flush
    assert [(path, kind) for path, kind, _ in received] == [("/v1/traces", "application/x-protobuf")]
    request = ExportTraceServiceRequest.FromString(received[0][2])
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "otlp-test"
    assert [span.name for scope in resource_spans.scope_spans for span in scope.spans] == ["sent"]


def test_a_flush_to_an_unreachable_collector_gives_up_at_its_timeout(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: the exporter retries for 10 s
    settings = Settings(home=tmp_path, otel_exporter_otlp_endpoint=nowhere, otel_service_name="flush-test")
    with tracing.tracer(settings).start_as_current_span("held"):
        pass
    started = time.monotonic()
    assert tracing.flush(settings, 0.5) is False
    assert time.monotonic() - started < 2.0  # a training worker's result waits no longer (FLUSH_SECONDS)
