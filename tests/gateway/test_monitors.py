"""``/v1/monitors`` over real HTTP, through the gateway client: a report, its page, a reset, the gauges."""

from __future__ import annotations

from pathlib import Path

import pytest

from repurpose.actors.monitor import Monitor
from repurpose.client import GatewayClient
from repurpose.errors import GatewayError
from tests.actors.test_monitor import registered, sketch_of
from tests.gateway.conftest import Gateway
from tests.helpers import SAMPLE_TEST

pytestmark = pytest.mark.slow

NAME = "knn-gw-watched"
JOB = "scr-0000000000bb"


def test_monitor_report_page_reset_and_gauges(gateway: Gateway, knn_model_dir: Path) -> None:
    dataset_id = registered(gateway.grains, knn_model_dir, NAME)
    edges = gateway.grains.call(Monitor, NAME, "edges")
    gateway.grains.call(Monitor, NAME, "record", sketch_of(SAMPLE_TEST, edges, seed=5), JOB, "gw-flush-1")

    with GatewayClient(gateway.url, gateway.keys["reader"]) as reader:
        report = reader.monitor(NAME)
        assert report.pairs == 49 and report.features_tested == 8
        assert report.reference is not None and report.reference.dataset_id == dataset_id
        assert reader.monitor(NAME, f"job:{JOB}").pairs == 49
        page = reader.monitor_page(NAME, "hour")
        assert page.startswith("<!doctype html>") and page.count("<svg") == 10
        with pytest.raises(GatewayError) as refused:
            reader.reset_monitor(NAME)
        assert refused.value.status == 403

    with gateway.client("reader") as http:
        html = http.get(f"/v1/monitors/{NAME}/report")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        bad = http.get(f"/v1/monitors/{NAME}", params={"window": "week"})
        assert bad.status_code == 422 and bad.json()["field"] == "window"
    with gateway.client(None) as anonymous:
        metrics = anonymous.get("/metrics").text
    assert f'repurpose_monitor_window_pairs{{model="{NAME}",window="pairs"}} 49.0' in metrics
    assert f'repurpose_monitor_feature_drift_score{{feature="logp",model="{NAME}",window="pairs"}}' in metrics
    assert f'repurpose_monitor_drift_share{{model="{NAME}",window="pairs"}}' in metrics

    with GatewayClient(gateway.url, gateway.keys["scientist"]) as scientist:
        fresh = scientist.reset_monitor(NAME, reference=dataset_id[:12])
        assert fresh.pairs == 0 and fresh.reference is not None and fresh.reference.source == "given"
        with pytest.raises(GatewayError) as unknown:
            scientist.monitor(NAME, f"job:{JOB}")
        assert unknown.value.status == 404 and unknown.value.code == "screen_not_found"
