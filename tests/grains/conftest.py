"""Grain fixtures. Tests marked ``slow`` run on one real local Ray cluster per session.

Ray's GCS and Redis: a ``ray start --head`` defaults its GCS to port 6379, where Redis runs
on our machines, but a local ``ray.init()`` starts its head with ``gcs_server_port=0`` (a
free port chosen by the OS) unless ``RAY_GCS_SERVER_PORT`` says otherwise. We start it with
``address="local"`` (never join a cluster already running here, e.g. from ``repurpose up``)
and assert the port it got.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from repurpose.grains import GrainClient
from repurpose.settings import REDIS_PORT, Settings
from repurpose.store import upgrade

NAMESPACE = f"repurpose-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    try:
        gcs_port = int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
        assert gcs_port != REDIS_PORT, "Ray's GCS took Redis's port"
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a fresh, migrated SQLite file; each call gets its own grain pool."""

    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "home": tmp_path,
            "ray_namespace": NAMESPACE,
            "grain_pool": f"pool-{uuid.uuid4().hex[:8]}",
            "grain_hosts": 1,
            "grain_restart_timeout_seconds": 60,
        }
        settings = Settings(**{**fields, **overrides})
        upgrade(settings.database_url)
        return settings

    return make


@pytest.fixture
def make_client(ray_cluster: None, make_settings: Callable[..., Settings]) -> Iterator[Callable[..., GrainClient]]:
    """Grain clients on their own pool of hosts, killed after the test."""
    clients: list[GrainClient] = []

    def make(**overrides: Any) -> GrainClient:
        client = GrainClient(make_settings(**overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()
