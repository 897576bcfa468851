"""The in-process client: each call is one service call, and a span where its trace starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

from repurpose.errors import InvalidInput
from repurpose.grains import GrainClient
from repurpose.services.in_process import InProcessClient
from repurpose.settings import Settings
from tests.helpers import RecordedSpans


def test_a_service_call_is_a_span_named_for_its_service(tmp_path: Path) -> None:
    recorded = RecordedSpans()
    with recorded.pinned():
        client = InProcessClient.on(GrainClient(Settings(home=tmp_path)))
    with client, pytest.raises(InvalidInput, match="give 1 to"):  # refused before any grain call
        client.predict([])
    (span,) = recorded.spans()
    assert span.name == "service scoring.predict" and span.parent is None
    assert span.status.status_code == StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
