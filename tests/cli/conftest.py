"""CLI fixtures: a cluster home (``cluster.json``) pointing at the test session's Ray cluster.

The commands run in-process (typer's CliRunner): ``connect`` finds Ray connected already and
uses the settings in ``cluster.json``, as it would for a cluster started by ``repurpose up``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from repurpose.cluster.lifecycle import ClusterInfo, cluster_file
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from tests.helpers import stop_training_workers

__all__ = ["cluster_home", "runner"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cluster_home(ray_cluster: None, settings: Settings) -> Iterator[Path]:
    """A home whose cluster.json points at the test cluster; its grain hosts go after the test."""
    settings.home.mkdir(parents=True, exist_ok=True)
    info = ClusterInfo(
        ray_address=ray.get_runtime_context().gcs_address,
        started_head=False,
        dashboard_url=None,
        gateway_url="http://127.0.0.1:8000",
        started_at=dt.datetime.now(dt.UTC),
        settings=settings,
    )
    cluster_file(settings.home).write_text(info.model_dump_json())
    yield settings.home
    GrainClient(settings).stop()
    stop_training_workers()
